"""execo 2.x's ssh command-line helpers, for scripts that build their own
ssh, scp or taktuk command lines with execo's connection params.

They sit on the argv builders of `execo.ssh`: the options come out in the
same order and with the same defaults as execo's own ssh processes, the
host being the caller's to append.

>>> get_ssh_command(port=2222, connection_params={'ssh_options': ()})
['ssh', '-p', '2222']
"""

from __future__ import annotations

import shlex
from typing import Any, List, Mapping, Optional, Tuple

from execo.connection import connection_target, make_connection_params, rewrite_address
from execo.host import Host
from execo.ssh import scp_command, ssh_command

__all__ = ["get_rewritten_host_address", "get_scp_command", "get_ssh_command",
           "get_ssh_scp_auth_options", "get_taktuk_connector_command"]

# a placeholder host, stripped from the argv before anyone runs it
_NO_ADDRESS = "execo-placeholder-host"


def _words(value: Any) -> List[str]:
    """Options given as one string (split as the shell would) or a sequence."""
    if value is None or value is False:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _target(user: Any, keyfile: Any, port: Any,
            connection_params: Optional[Mapping[str, Any]]):
    params = make_connection_params(connection_params)
    return params, connection_target(Host(_NO_ADDRESS, user=user, keyfile=keyfile, port=port),
                                     params)


def get_ssh_scp_auth_options(user: Any = None, keyfile: Any = None, port: Any = None,
                             connection_params: Optional[Mapping[str, Any]] = None
                             ) -> Tuple[str, ...]:
    """The user, keyfile and port options that ssh and scp both understand;
    the arguments win over ``connection_params``, which win over the defaults.

    >>> get_ssh_scp_auth_options(user="root", port=22)
    ('-o', 'User=root', '-o', 'Port=22')
    """
    _, target = _target(user, keyfile, port, connection_params)
    options: Tuple[str, ...] = ()
    if target.user is not None:
        options += ("-o", "User=%s" % (target.user,))
    if target.keyfile is not None:
        options += ("-i", str(target.keyfile))
    if target.port is not None:
        options += ("-o", "Port=%d" % int(target.port))
    return options


def get_ssh_command(user: Any = None, keyfile: Any = None, port: Any = None,
                    connection_params: Optional[Mapping[str, Any]] = None) -> List[str]:
    """The ssh argv up to the host, as `execo.SshProcess` would run it."""
    argv = ssh_command(Host(_NO_ADDRESS, user=user, keyfile=keyfile, port=port),
                       connection_params)
    argv = argv[:argv.index(_NO_ADDRESS)]
    # a script appends its own options before the host, as with 2.x's lines
    return argv[:-1] if argv[-1:] == ["--"] else argv


def get_scp_command(user: Any = None, keyfile: Any = None, port: Any = None,
                    connection_params: Optional[Mapping[str, Any]] = None) -> List[str]:
    """The scp argv up to the files, as `execo.Put` would run it (the user
    as an option, since the paths are the caller's)."""
    params, target = _target(user, keyfile, port, connection_params)
    argv = scp_command(params, Host(_NO_ADDRESS, user=user, keyfile=keyfile, port=port))
    if target.user is not None:
        argv += ["-o", "User=%s" % (target.user,)]
    return argv


def get_taktuk_connector_command(user: Any = None, keyfile: Any = None, port: Any = None,
                                 connection_params: Optional[Mapping[str, Any]] = None
                                 ) -> str:
    """The connector command line that taktuk runs through ``/bin/sh``."""
    params, _ = _target(user, keyfile, port, connection_params)
    argv = _words(params.get('taktuk_connector') or 'ssh')
    argv += _words(params.get('taktuk_connector_options'))
    argv += get_ssh_scp_auth_options(user, keyfile, port, params)
    return shlex.join(argv)


def get_rewritten_host_address(host_addr: str,
                               connection_params: Optional[Mapping[str, Any]]) -> str:
    """``host_addr`` through ``connection_params['host_rewrite_func']``, if any.

    >>> get_rewritten_host_address("n1", {'host_rewrite_func': str.upper})
    'N1'
    """
    return rewrite_address(host_addr, make_connection_params(connection_params))


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
