"""Connection params: how to reach hosts, merged over the defaults at call time.

A connection params dict holds only what differs from
`execo.config.default_connection_params`. It is resolved -- merged over
every default into a `ResolvedConnectionParams`, by the one merge of
`resolve_connection_params` (`make_connection_params` is its 2.x name) --
once per run: an action over hosts resolves when it starts and rewrites
each host's address once (`execo.host_action.HostAction._resolve_run`),
then hands each process the params and its address; a process started
on its own resolves when it starts. So a change to the defaults (from
``~/.execo.conf.py``, an ipython prompt or a test bed's ``install()``)
reaches every object created before it but started after it, and the
argv builders take the resolved params as they are.

Which keys exist: those every transport reads are declared in
`execo.config`; each transport declares its own beside its argv builder
(`execo.config.declare_connection_params`).

Both spellings of execo's history are accepted at the public edge (the
constructors and functions users call): ``connection_params=`` and
``connexion_params=`` are reconciled there by `pick_connection_params`,
and only ``connection_params`` travels further. `ConnectionParams` and
`ConnexionParams` are the same class.

Resolution order, first value wins: the `Host`'s own user/keyfile/port,
then the connection params given to the call, then the caller's defaults
(e.g. a g5k frontend's), then `execo.config.default_connection_params`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Mapping, NamedTuple, Optional

import execo.config as config
from execo.host import Host, HostLike, check_address, unbracketed
from execo.exception import ExecoTypeError, ExecoValueError

__all__ = ["ConnectionParams", "ConnexionParams", "ConnectionTarget",
           "ResolvedConnectionParams", "connection_target", "make_connection_params",
           "pick_connection_params", "resolve_connection_params", "rewrite_address"]


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
    """execo 2.x's name: `resolve_connection_params`, as a fresh dict.

    >>> make_connection_params({'user': 'root'})['user']
    'root'
    """
    return dict(resolve_connection_params(connection_params, default_params))


def pick_connection_params(connection_params: Optional[Mapping[str, Any]] = None,
                           connexion_params: Optional[Mapping[str, Any]] = None
                           ) -> Optional[Mapping[str, Any]]:
    """The one connection params mapping given to a public API that takes
    both spellings (None if neither was).

    Giving both, with different contents, is a mistake worth stopping on:
    silently preferring one would connect with settings the caller did not
    mean.
    """
    for name, given in (("connection_params", connection_params),
                        ("connexion_params", connexion_params)):
        if given is not None and not isinstance(given, Mapping):
            raise ExecoTypeError("%s is a mapping of connection params (a dict), not %r"
                                 % (name, given))
        if given:
            config.check_keys('connection params', given, stacklevel=3)
    if connection_params is not None and connexion_params is not None \
            and dict(connection_params) != dict(connexion_params):
        raise ExecoValueError("both connection_params=%r and connexion_params=%r given: they are "
                         "the same argument spelled twice, give only one"
                         % (connection_params, connexion_params))
    return connection_params if connection_params is not None else connexion_params


class ResolvedConnectionParams(Mapping[str, Any]):
    """Connection params merged over every default, once: what the argv
    builders (`execo.ssh`, `execo.taktuk.driver`) take.

    Read-only, and given back unchanged by `resolve_connection_params`, so
    that a builder handed resolved params never merges the defaults again:
    a process resolves its params once, when it starts, and passes them
    down. Partial params (what users write) stay plain dicts or
    `ConnectionParams`.
    """

    __slots__ = ("_params", "_derived")

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = dict(params)
        self._derived: Dict[str, Any] = {}

    def derived(self, name: str, compute: Callable[[ResolvedConnectionParams], Any]) -> Any:
        """``compute(self)``, worked out once for this object and kept under ``name``.

        An action's processes share one resolved params object for a run:
        what the argv builders deduce from it alone (the option words, the
        sharing directory's check, the gateway's hop, the ``-F`` file's
        entries) is the same for every host, so it is deduced once per run
        rather than once per host. ``compute`` must read nothing but the
        params (and what it reads then stays as it was for the run); two
        threads may both compute it, which is harmless for such a value.
        """
        try:
            return self._derived[name]
        except KeyError:
            return self._derived.setdefault(name, compute(self))

    def __getitem__(self, key: str) -> Any:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return "ResolvedConnectionParams(%r)" % (self._params,)


def derived_once(params: Mapping[str, Any], name: str,
                 compute: Callable[[Any], Any]) -> Any:
    """``compute(params)``, kept on ``params`` when they are resolved (see
    `ResolvedConnectionParams.derived`); plain params are not kept, so it is
    worked out at each call."""
    if isinstance(params, ResolvedConnectionParams):
        return params.derived(name, compute)
    return compute(params)


def resolve_connection_params(connection_params: Optional[Mapping[str, Any]] = None,
                              default_params: Optional[Mapping[str, Any]] = None
                              ) -> ResolvedConnectionParams:
    """``connection_params`` merged over ``default_params`` and the global
    defaults (read now), unless already resolved.

    >>> params = resolve_connection_params({'user': 'root'})
    >>> params['user'], resolve_connection_params(params) is params
    ('root', True)
    """
    if isinstance(connection_params, ResolvedConnectionParams) and default_params is None:
        return connection_params
    return ResolvedConnectionParams(_merge(connection_params, default_params))


def _merge(connection_params: Optional[Mapping[str, Any]],
           default_params: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The one merge of the defaults: the global ones (read now), then
    ``default_params``, then ``connection_params`` on top."""
    params = dict(config.default_connection_params)
    if default_params:
        params.update(default_params)
    if connection_params:
        params.update(connection_params)
    return params


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
        raise ExecoValueError("host_rewrite_func %r turned %r into %r, not a host address"
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


def connection_target(host: HostLike, params: Mapping[str, Any],
                      address: Optional[str] = None) -> ConnectionTarget:
    """Resolve ``host`` against full ``params`` (from `resolve_connection_params`);
    ``address``: the host's address already rewritten (by the action that
    resolved this run's params), not to be rewritten again.

    >>> connection_target(Host("n1", port=2222), resolve_connection_params({'user': 'me'}))
    ConnectionTarget(address='n1', user='me', keyfile=None, port=2222)
    """
    host = host if isinstance(host, Host) else Host(host)
    if address is None:
        address = rewrite_address(host.address, params)

    def pick(field: str) -> Any:
        for value in (getattr(host, field), params.get(field)):
            if _given(value):
                return value
        return None

    port = pick('port')
    # ssh wants an IPv6 literal bare; scp's paths bracket it again (remote_path)
    return ConnectionTarget(unbracketed(address), pick('user'), pick('keyfile'),
                            int(port) if port is not None else None)
