"""Connection params: how to reach hosts, merged over the defaults at call time.

A connection params dict holds only what differs from
`execo.config.default_connection_params`; the full set is rebuilt each
time a command line is built, so a change to the defaults (from
``~/.execo.conf.py``, an ipython prompt or a test bed's ``install()``)
reaches every object created before it but started after it.

Both spellings of execo's history are accepted: ``connection_params=`` and
``connexion_params=``, `ConnectionParams` and `ConnexionParams`.

Resolution order, first value wins: the `Host`'s own user/keyfile/port,
then the connection params given to the call, then the caller's defaults
(e.g. a g5k frontend's), then `execo.config.default_connection_params`.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, NamedTuple, Optional

from execo import config
from execo.host import Host, HostLike, check_address

__all__ = ["ConnectionParams", "ConnexionParams", "ConnectionTarget", "connection_target",
           "make_connection_params", "resolve_connection_params", "rewrite_address"]


class ConnectionParams(dict):
    """A dict of connection params, e.g. ``ConnectionParams(user="root")``.

    Only a named dict: any mapping is accepted wherever connection params
    are expected.
    """

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, dict.__repr__(self))


ConnexionParams = ConnectionParams


def make_connection_params(connection_params: Optional[Mapping[str, Any]] = None,
                           default_params: Optional[Mapping[str, Any]] = None
                           ) -> Dict[str, Any]:
    """A fresh dict: the global defaults, then ``default_params``, then
    ``connection_params`` on top.

    The global defaults are read now, not when the module was imported.

    >>> make_connection_params({'user': 'root'})['user']
    'root'
    """
    params = dict(config.default_connection_params)
    if default_params:
        params.update(default_params)
    if connection_params:
        params.update(connection_params)
    return params


def resolve_connection_params(connection_params: Optional[Mapping[str, Any]] = None,
                              connexion_params: Optional[Mapping[str, Any]] = None,
                              default_params: Optional[Mapping[str, Any]] = None
                              ) -> Dict[str, Any]:
    """`make_connection_params` for APIs taking both spellings.

    Giving both, with different contents, is a mistake worth stopping on:
    silently preferring one would connect with settings the caller did not
    mean.
    """
    if connection_params is not None and connexion_params is not None \
            and dict(connection_params) != dict(connexion_params):
        raise ValueError("both connection_params=%r and connexion_params=%r given: they are "
                         "the same argument spelled twice, give only one"
                         % (connection_params, connexion_params))
    chosen = connection_params if connection_params is not None else connexion_params
    return make_connection_params(chosen, default_params)


def rewrite_address(address: str, params: Mapping[str, Any]) -> str:
    """``address`` as passed through ``params['host_rewrite_func']``, if any.

    This is how a script written with cluster names runs from outside the
    cluster (``node-1.site.grid5000.fr`` -> ``node-1.site.g5k``) or on a
    loopback test bed (``host1`` -> ``node-1``).
    """
    func = params.get('host_rewrite_func')
    if not func:
        return address
    rewritten = func(address)
    if not isinstance(rewritten, str) or not rewritten:
        raise ValueError("host_rewrite_func %r turned %r into %r, not a host address"
                         % (func, address, rewritten))
    return check_address(rewritten)


class ConnectionTarget(NamedTuple):
    """Where and as whom to connect, all sources resolved."""
    address: str
    user: Optional[str]
    keyfile: Optional[str]
    port: Optional[int]


def _given(value: Any) -> bool:
    return value is not None and value is not False and value != ""


def connection_target(host: HostLike, params: Mapping[str, Any]) -> ConnectionTarget:
    """Resolve ``host`` against full ``params`` (from `make_connection_params`).

    >>> connection_target(Host("n1", port=2222), make_connection_params({'user': 'me'}))
    ConnectionTarget(address='n1', user='me', keyfile=None, port=2222)
    """
    host = host if isinstance(host, Host) else Host(host)

    def pick(field: str) -> Any:
        for value in (getattr(host, field), params.get(field)):
            if _given(value):
                return value
        return None

    port = pick('port')
    return ConnectionTarget(rewrite_address(host.address, params), pick('user'),
                            pick('keyfile'), int(port) if port is not None else None)
