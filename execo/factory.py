"""get_remote / get_fileput / get_fileget: the tool is chosen at each call.

``configuration['remote_tool']`` (and ``fileput_tool``, ``fileget_tool``)
is read when the factory is called, never at import, so that an ipython
user can switch a whole script from ssh to taktuk with one assignment.
The tool is a transport of `execo.transports` (a 2.x constant such as
``TAKTUK``, or a registered name). The action built here still evaluates
``{{expr}}`` in the frame of the factory's caller: factories are library
code, which `execo.host_action` never takes for the caller.

`ActionFactory` is execo 2.x's way to hold a choice of tools: one made
with a tool fixes it, one made without follows the configuration at each
call, as `default_action_factory` (whose methods are the functions
above) does.
"""

from __future__ import annotations

from typing import Any

from execo.action import Action
from execo.config import configuration
from execo.transports import transport_for
from execo.exception import ExecoValueError

__all__ = ["ActionFactory", "default_action_factory", "get_fileget", "get_fileput", "get_remote"]


def _action_class(key: str, role: str, tool: Any = None) -> Any:
    if tool is None:
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


class ActionFactory:
    """Hands out actions of the tools it was made with; a tool left to
    None is ``configuration``'s at each call.

    >>> factory = ActionFactory(remote_tool=TAKTUK)
    >>> type(factory.get_remote("true", ["node-1"])).__name__
    'TaktukRemote'
    """

    def __init__(self, remote_tool: Any = None, fileput_tool: Any = None,
                 fileget_tool: Any = None) -> None:
        self.remote_tool = remote_tool
        self.fileput_tool = fileput_tool
        self.fileget_tool = fileget_tool

    def get_remote(self, *args: Any, **kwargs: Any) -> Action:
        """A `Remote` or `TaktukRemote` (see the module function)."""
        return _action_class('remote_tool', 'remote', self.remote_tool)(*args, **kwargs)

    def get_fileput(self, *args: Any, **kwargs: Any) -> Action:
        """A `Put`, `TaktukPut` or `ChainPut` (see the module function)."""
        return _action_class('fileput_tool', 'put', self.fileput_tool)(*args, **kwargs)

    def get_fileget(self, *args: Any, **kwargs: Any) -> Action:
        """A `Get` or `TaktukGet` (see the module function)."""
        return _action_class('fileget_tool', 'get', self.fileget_tool)(*args, **kwargs)

    def __repr__(self) -> str:
        return "ActionFactory(remote_tool=%r, fileput_tool=%r, fileget_tool=%r)" % (
            self.remote_tool, self.fileput_tool, self.fileget_tool)


default_action_factory = ActionFactory()
