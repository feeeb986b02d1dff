"""get_remote / get_fileput / get_fileget: the tool is chosen at each call.

``configuration['remote_tool']`` (and ``fileput_tool``, ``fileget_tool``)
is read when the factory is called, never at import, so that an ipython
user can switch a whole script from ssh to taktuk with one assignment.
The tool is a transport of `execo.transports` (a 2.x constant such as
``TAKTUK``, or a registered name). The action built here still evaluates
``{{expr}}`` in the frame of the factory's caller: factories are library
code, which `execo.host_action` never takes for the caller.
"""

from __future__ import annotations

from typing import Any

from execo.action import Action
from execo.config import configuration
from execo.transports import transport_for
from execo.exception import ExecoValueError

__all__ = ["get_fileget", "get_fileput", "get_remote"]


def _action_class(key: str, role: str) -> Any:
    tool = configuration.get(key)
    try:
        return transport_for(tool, role)
    except ValueError as exc:
        raise ExecoValueError("configuration[%r]: %s" % (key, exc)) from None


def get_remote(*args: Any, **kwargs: Any) -> Action:
    """A `Remote` or a `TaktukRemote`, as ``configuration['remote_tool']`` says.

    >>> configuration['remote_tool'] = SSH
    >>> type(get_remote("true", ["node-1"])).__name__
    'Remote'
    """
    return _action_class('remote_tool', 'remote')(*args, **kwargs)


def get_fileput(*args: Any, **kwargs: Any) -> Action:
    """A `Put`, `TaktukPut` or `ChainPut`, as ``configuration['fileput_tool']`` says.

    >>> type(get_fileput(["node-1"], ["f"])).__name__
    'Put'
    """
    return _action_class('fileput_tool', 'put')(*args, **kwargs)


def get_fileget(*args: Any, **kwargs: Any) -> Action:
    """A `Get` or `TaktukGet`, as ``configuration['fileget_tool']`` says.

    >>> type(get_fileget(["node-1"], ["f"])).__name__
    'Get'
    """
    return _action_class('fileget_tool', 'get')(*args, **kwargs)
