"""Running a command on a Grid5000 frontend.

OAR, oargrid and kadeploy are driven through their command-line tools,
which live on the site frontends. A script may run on a frontend itself
(then ssh-ing to it would be a wasted connection, or impossible without
keys to ourselves), on a node, or outside Grid5000 through an ssh proxy:
this module is the one place deciding how a frontend command is run.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Mapping, Optional

from execo.connection import make_connection_params
from execo.process import Process
from execo.ssh import SshProcess
from execo.time_utils import get_seconds
from execo.log import logger
from execo_g5k.config import default_frontend_connection_params, g5k_configuration
from execo_g5k.hostnames import get_host_site_from_name
from execo_g5k.exception import G5kValueError

__all__ = ["frontend_process", "get_default_frontend", "get_frontend_host",
           "get_host_frontend_site", "resolve_timeout"]

_FRONTEND_HOSTNAME = re.compile(r'^[^.\s]+\.([^.\s]+)\.grid5000\.fr$')


def get_default_frontend() -> Optional[str]:
    """The frontend used when none is given: ``g5k_configuration['default_frontend']``,
    else the site of this machine when it is a Grid5000 host
    (``fnancy.nancy.grid5000.fr`` -> ``nancy``), else None.

    Read at each call, so that a configuration change takes effect at once.
    """
    configured = g5k_configuration.get('default_frontend')
    if configured:
        return configured
    return _local_site()


def _local_site() -> Optional[str]:
    try:
        name = socket.getfqdn()
    except OSError:
        return None
    match = _FRONTEND_HOSTNAME.match(name)
    return match.group(1) if match else None


def get_frontend_host(frontend: Optional[str] = None) -> Optional[str]:
    """The host to ssh to for ``frontend``, or None to run locally.

    Local when ``g5k_configuration['no_ssh_for_local_frontend']`` is set and
    ``frontend`` (None: the default one) is the frontend we are on.

    >>> get_frontend_host("nancy")
    'nancy'
    """
    chosen = frontend if frontend is not None else get_default_frontend()
    if g5k_configuration.get('no_ssh_for_local_frontend') and chosen == get_default_frontend():
        return None
    if chosen is None:
        raise G5kValueError("no frontend given and no default one: set "
                         "g5k_configuration['default_frontend'] or name the frontend")
    return chosen


def resolve_timeout(timeout: Any) -> Optional[float]:
    """``False`` means the configured ``default_timeout``; None means none."""
    if timeout is False:
        timeout = g5k_configuration.get('default_timeout')
    return get_seconds(timeout)


def frontend_process(cmd: str, frontend: Optional[str] = None,
                     frontend_connection_params: Optional[Mapping[str, Any]] = None,
                     timeout: Any = False, **kwargs: Any) -> Process:
    """A not yet started process running the shell command ``cmd`` on ``frontend``.

    Remotely it is an `SshProcess` whose params are, first value wins,
    ``frontend_connection_params``, then
    `execo_g5k.config.default_frontend_connection_params`, then execo's
    defaults, except ``pty``: off unless ``pty=True`` is given, whatever the
    params say, since the tools' outputs are parsed and a pty would merge
    stderr into stdout and add ``\\r``.

    >>> frontend_process("oarstat -u", "nancy").run().ok  # doctest: +SKIP
    True
    """
    host = get_frontend_host(frontend)
    pty = bool(kwargs.pop('pty', False))
    kwargs['timeout'] = resolve_timeout(timeout)
    if host is None:
        return Process(cmd, shell=True, pty=pty, **kwargs)
    params = make_connection_params(frontend_connection_params,
                                    default_frontend_connection_params)
    params['pty'] = pty
    return SshProcess(cmd, host, connection_params=params, **kwargs)


def get_host_frontend_site(address: str) -> Optional[str]:
    """The site whose frontend serves node ``address`` (kadeploy3, kaconsole3).

    In order: ``g5k_configuration['host_site_func']`` if set (a test bed, or
    a site without Grid5000 names), the host's domain, the local site (a
    short name on a frontend is a node of that site, as kadeploy3 itself
    assumes; or the configured default frontend), and last the API, whose
    answer costs a request.
    """
    func = g5k_configuration.get('host_site_func')
    if func is not None:
        return func(address)
    site = get_host_site_from_name(address)
    if site is None:
        site = get_default_frontend()
    if site is None:
        try:
            from execo_g5k.api_utils import get_host_site
            site = get_host_site(address)
        except Exception as exc:
            logger.debug("no site for %s from the API: %s", address, exc)
    return site
