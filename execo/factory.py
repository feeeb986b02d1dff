"""get_remote / get_fileput / get_fileget: the tool is chosen at each call.

``configuration['remote_tool']`` (and ``fileput_tool``, ``fileget_tool``)
is read when the factory is called, never at import, so that an ipython
user can switch a whole script from ssh to taktuk with one assignment.
The taktuk and chainput modules are imported only when chosen.

`ActionFactory` is execo 2.x's way to hold a choice of tools: one made
with a tool fixes it, one made without follows the configuration at each
call, as `default_action_factory` (whose methods are the functions
above) does.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple

from execo.action import Action
from execo.config import CHAINPUT, SCP, SSH, TAKTUK, configuration

__all__ = ["ActionFactory", "default_action_factory", "get_fileget", "get_fileput", "get_remote"]

# tool constant -> (module, class name), per configuration key
_TOOLS: Dict[str, Dict[int, Tuple[str, str]]] = {
    'remote_tool': {SSH: ("execo.remote", "Remote"), TAKTUK: ("execo.taktuk", "TaktukRemote")},
    'fileput_tool': {SCP: ("execo.remote", "Put"), TAKTUK: ("execo.taktuk", "TaktukPut"),
                     CHAINPUT: ("execo.chainput", "ChainPut")},
    'fileget_tool': {SCP: ("execo.remote", "Get"), TAKTUK: ("execo.taktuk", "TaktukGet")},
}
_TOOL_NAMES = {SSH: "SSH", SCP: "SCP", TAKTUK: "TAKTUK", CHAINPUT: "CHAINPUT"}


def _action_class(key: str, tool: Any = None) -> Any:
    if tool is None:
        tool = configuration.get(key)
    choices = _TOOLS[key]
    if tool not in choices:
        raise ValueError("configuration[%r] is %r: it must be one of %s" % (
            key, tool, ", ".join("execo.%s" % _TOOL_NAMES[t] for t in choices)))
    module_name, class_name = choices[tool]
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise ImportError("configuration[%r] = execo.%s needs %s.%s, which is not available "
                          "(%s): choose another tool" % (key, _TOOL_NAMES[tool], module_name,
                                                         class_name, exc)) from exc


def get_remote(*args: Any, **kwargs: Any) -> Action:
    """A `Remote` or a `TaktukRemote`, as ``configuration['remote_tool']`` says.

    >>> configuration['remote_tool'] = SSH
    >>> type(get_remote("true", ["node-1"])).__name__
    'Remote'
    """
    return _action_class('remote_tool')(*args, **kwargs)


def get_fileput(*args: Any, **kwargs: Any) -> Action:
    """A `Put`, `TaktukPut` or `ChainPut`, as ``configuration['fileput_tool']`` says.

    >>> type(get_fileput(["node-1"], ["f"])).__name__
    'Put'
    """
    return _action_class('fileput_tool')(*args, **kwargs)


def get_fileget(*args: Any, **kwargs: Any) -> Action:
    """A `Get` or `TaktukGet`, as ``configuration['fileget_tool']`` says.

    >>> type(get_fileget(["node-1"], ["f"])).__name__
    'Get'
    """
    return _action_class('fileget_tool')(*args, **kwargs)


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
        return _action_class('remote_tool', self.remote_tool)(*args, **kwargs)

    def get_fileput(self, *args: Any, **kwargs: Any) -> Action:
        """A `Put`, `TaktukPut` or `ChainPut` (see the module function)."""
        return _action_class('fileput_tool', self.fileput_tool)(*args, **kwargs)

    def get_fileget(self, *args: Any, **kwargs: Any) -> Action:
        """A `Get` or `TaktukGet` (see the module function)."""
        return _action_class('fileget_tool', self.fileget_tool)(*args, **kwargs)

    def __repr__(self) -> str:
        return "ActionFactory(remote_tool=%r, fileput_tool=%r, fileget_tool=%r)" % (
            self.remote_tool, self.fileput_tool, self.fileget_tool)


default_action_factory = ActionFactory()
