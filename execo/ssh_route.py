"""Which sshd a connection goes through: the 'gateway' param, and the
endpoint the per-endpoint gate (`execo.endpoint_gate`) counts set-ups for.

Kept apart from `execo.ssh`'s argv builders, which use it: the gateway's
hop is itself an ssh command line (built there), turned here into the
ProxyCommand option that carries it.
"""

from __future__ import annotations

import functools
import shlex
from typing import Any, Hashable, List, Mapping, NamedTuple, Optional, Tuple

from execo.argv import option_words
from execo.connection import connection_target, derived_once
from execo.host import Host, HostLike
from execo.ssh_config import HostEntries, config_entries, config_file, endpoint_in

__all__ = ["gateway_host", "proxy_command_options", "setup_endpoint"]

_STDIO_FORWARD = "EXECO_STDIO_FORWARD"


def gateway_host(gateway: Any) -> Host:
    """The ``'gateway'`` connection param as a `Host`: a `Host`, or a
    string ``[user@]address[:port]`` (an ssh config alias is an address).

    >>> gateway_host("me@access.example.org:2222")
    Host('access.example.org', user='me', port=2222)
    """
    if isinstance(gateway, Host):
        return gateway
    text = str(gateway)
    user, _, rest = text.rpartition("@")
    address, port = rest, None
    if rest.count(":") == 1 and rest.rsplit(":", 1)[1].isdigit():
        address, port = rest.rsplit(":", 1)
    return Host(address, user=user or None, port=int(port) if port else None)


def proxy_command_options(hop: List[str]) -> List[str]:
    """``-o ProxyCommand=...`` running ``hop`` (an ssh argv ending with
    ``-- gateway``) as ``ssh -W`` to the host being reached. ``%`` is
    doubled where ssh would expand it in a ProxyCommand (a ControlPath's
    ``%C`` is the hop's own to expand).

    >>> proxy_command_options(['ssh', '-o', 'ControlPath=/d/%C', '--', 'gw'])
    ['-o', "ProxyCommand=ssh -o ControlPath=/d/%%C -W '[%h]:%p' -- gw"]
    """
    hop = list(hop)
    hop.insert(hop.index('--'), _STDIO_FORWARD)
    line = shlex.join(hop).replace('%', '%%').replace(_STDIO_FORWARD, "-W '[%h]:%p'")
    return ['-o', 'ProxyCommand=%s' % line]


def setup_endpoint(host: HostLike, params: Mapping[str, Any], tool: str = "ssh",
                   address: Optional[str] = None) -> Optional[Tuple[Hashable, int, bool]]:
    """(the sshd a connection to ``host`` is set up with, the most set-ups
    in flight it may take, whether the first goes alone) for
    `execo.endpoint_gate`; None: not gated. ``address``: the host's address
    already rewritten by its action (see `connection_target`).

    The sshd is the gateway's when there is one, else the host's, an alias
    of the ``-F`` config file followed to its HostName and Port. With
    ``'connection_sharing'``, the first set-up opens the master the others
    go through: it goes alone.

    >>> setup_endpoint("n1", {'max_setups_per_endpoint': 8, 'gateway': 'gw:2222'})
    (('gw', 2222), 8, False)
    """
    limit = params.get('max_setups_per_endpoint')
    if not limit:
        return None
    route = _route(params, tool)
    if route.gateway is not None:
        return route.gateway, limit, route.sharing
    target = connection_target(host, params, address)
    return endpoint_in(route.hosts, target.address, target.port), limit, route.sharing


class _Route(NamedTuple):
    hosts: HostEntries  # the -F file's plain Host blocks
    sharing: bool
    gateway: Optional[Tuple[str, int]]


def _route(params: Mapping[str, Any], tool: str) -> _Route:
    # the params an action resolved for a run are one object shared by its
    # processes: the route is worked out once for all of them (the -F file
    # read then, so a run sees one version of it), not once per host
    return derived_once(params, tool + ' route', _route_of[tool])


def _read_route(params: Mapping[str, Any], tool: str) -> _Route:
    hosts = config_entries(config_file(option_words(params.get(tool + '_options'))))
    gateway = params.get('gateway')
    gateway_endpoint = None
    if gateway:
        hop = gateway_host(gateway)
        gateway_endpoint = endpoint_in(hosts, hop.address, hop.port)
    return _Route(hosts, bool(params.get('connection_sharing')), gateway_endpoint)


_route_of = {tool: functools.partial(_read_route, tool=tool) for tool in ("ssh", "scp")}
