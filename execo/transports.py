"""The registry of transports: which action class runs commands, puts or
gets files for each tool.

A transport is ONE module that defines its actions (subclasses of
`execo.host_action.HostAction`) and ends with ONE registration line::

    register_transport("ssh", remote=Remote)
    register_transport("scp", put=Put, get=Get)

From then on the factories (`execo.factory.get_remote` / ``get_fileput``
/ ``get_fileget``) can hand it out when ``configuration['remote_tool']``
(``fileput_tool``, ``fileget_tool``) names it, and every test that runs
over `registered_actions` covers it. execo 2.x's integer constants
(``SSH``, ``SCP``, ``TAKTUK``, ``CHAINPUT``) are names of the transports
shipped with execo, translated here, at the edge. The conductor, the
processes and the actions never import a transport.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Type

from execo.config import CHAINPUT, SCP, SSH, TAKTUK
from execo.exception import ExecoValueError

__all__ = ["ROLES", "Transport", "register_transport", "registered_actions",
           "transport_for"]

ROLES = ("remote", "put", "get")

# execo 2.x's tool constants, as configuration files still give them
_CONSTANT_NAMES = {SSH: "ssh", SCP: "scp", TAKTUK: "taktuk", CHAINPUT: "chainput"}


class Transport(NamedTuple):
    """One registered transport: its action class for each role it serves."""
    name: str
    remote: Optional[Type[Any]]
    put: Optional[Type[Any]]
    get: Optional[Type[Any]]


_TRANSPORTS: Dict[str, Transport] = {}


def register_transport(name: str, remote: Optional[Type[Any]] = None,
                       put: Optional[Type[Any]] = None, get: Optional[Type[Any]] = None
                       ) -> Transport:
    """Make ``name`` a tool the factories can choose (registering a name
    again replaces it, so that a reloaded module stays consistent).

    >>> t = register_transport("doc-example", remote=object)
    >>> transport_for("doc-example", "remote") is object
    True
    """
    transport = Transport(name, remote, put, get)
    _TRANSPORTS[name] = transport
    return transport


def _name_of(tool: Any) -> Any:
    if isinstance(tool, str):
        return tool
    return _CONSTANT_NAMES.get(tool, tool)


def transport_for(tool: Any, role: str) -> Type[Any]:
    """The action class of ``tool`` (a name, or a 2.x constant) for ``role``."""
    transport = _TRANSPORTS.get(_name_of(tool))
    action = getattr(transport, role) if transport is not None else None
    if action is None:
        choices = sorted(t.name for t in _TRANSPORTS.values() if getattr(t, role) is not None)
        constants = ["execo.%s" % n.upper() for c, n in sorted(_CONSTANT_NAMES.items())
                     if n in choices]
        raise ExecoValueError("%r is no tool for %s: it must be one of %s" % (
            tool, role, ", ".join(constants + ["%r" % c for c in choices])))
    return action


def registered_actions() -> List[Tuple[str, str, Type[Any]]]:
    """``(transport name, role, action class)`` of every registered transport."""
    return [(t.name, role, getattr(t, role)) for t in _TRANSPORTS.values()
            for role in ROLES if getattr(t, role) is not None]
