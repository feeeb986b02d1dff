"""execo 2.x's import paths: ONE table of the names each 2.x module served,
and where each name lives now.

Scripts written for execo 2.x import from the submodules where 2.x
defined (or merely imported) a name: ``from execo.action import Put``,
``from execo.process import SshProcess``, ``from execo.time_utils import
timedelta_to_seconds``. Our modules are cut differently, and re-exporting
from them would create import cycles (``execo.action`` cannot import
``execo.remote``, which builds on it). So each 2.x module path gets a
PEP 562 module ``__getattr__`` (`legacy_getattr`) that looks the name up
here and imports its home only when a script asks for it: nothing is
copied, nothing is imported upwards at import time, and this module
imports nothing of execo itself.

Homes are execo's top-level names where there is one (``execo.Put``):
they survive the moves of the modules behind them. A 2.x name that
exists in its own 2.x module here (``execo.host.Host``) needs no entry.
The 2.x internals that have no meaning here are listed, each with its
reason, in ``tests/unit/test_legacy_imports.py``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Optional

__all__ = ["LEGACY_MODULES", "HOMES", "legacy_getattr", "legacy_dir"]

# where each 2.x name lives now: the module to take it from
HOMES: Dict[str, str] = {
    # actions and processes
    "Action": "execo", "ActionLifecycleHandler": "execo", "ChainPut": "execo", "Get": "execo",
    "Local": "execo",
    "Put": "execo", "Remote": "execo", "TaktukGet": "execo", "TaktukPut": "execo",
    "TaktukRemote": "execo", "filter_bad_hosts": "execo", "Process": "execo",
    "ProcessBase": "execo",
    "ProcessLifecycleHandler": "execo", "SshProcess": "execo", "get_process": "execo",
    "PortForwarder": "execo", "Serial": "execo", "SerialSsh": "execo", "RemoteSerial": "execo",
    "ExpectOutputHandler": "execo", "ProcessOutputHandler": "execo",
    "stream_name": "execo.output",
    "ProcessesFailed": "execo",
    # defined in execo.action by 2.x, in execo.action_group here (it builds on execo.action)
    "ParallelActions": "execo.action_group", "SequentialActions": "execo.action_group",
    "wait_all_actions": "execo.action_group", "wait_any_actions": "execo.action_group",
    "Report": "execo",
    # factories
    "get_remote": "execo", "get_fileput": "execo", "get_fileget": "execo",
    "ActionFactory": "execo.factory", "default_action_factory": "execo",
    # hosts, connections, ssh command lines
    "Host": "execo", "get_hosts_list": "execo",
    "get_unique_hosts_list": "execo.host", "make_connection_params": "execo",
    "get_ssh_command": "execo.ssh_utils", "get_scp_command": "execo.ssh_utils",
    "get_taktuk_connector_command": "execo.ssh_utils",
    "get_rewritten_host_address": "execo.ssh_utils",
    "remote_substitute": "execo.substitution",
    # configuration and logging
    "DETAIL": "execo.log", "TRACE": "execo.log", "FDEBUG": "execo.log", "IODEBUG": "execo.log",
    # time
    "Timer": "execo", "format_date": "execo", "format_duration": "execo",
    "get_seconds": "execo",
    "format_unixts": "execo.time_utils",
    # small helpers
    "get_port": "execo.utils", "comma_join": "execo.utils", "compact_output": "execo.output",
    "is_string": "execo.utils", "singleton_to_collection": "execo.utils",
    "name_from_cmdline": "execo.process_base",
}

# the names each 2.x module served that its namesake here does not define
# (some are imported there today for its own use: listed all the same, so
# that a 2.x path keeps working when that import goes)
LEGACY_MODULES: Dict[str, List[str]] = {
    "execo.action": [
        "ActionFactory", "ChainPut", "ExpectOutputHandler", "Get", "Host",
        "ProcessOutputHandler", "Put", "Remote", "RemoteSerial", "Report", "SerialSsh",
        "SshProcess", "TaktukGet", "TaktukPut", "TaktukRemote", "Timer",
        "default_action_factory", "filter_bad_hosts", "get_fileget", "get_fileput",
        "get_hosts_list", "get_port", "get_process", "get_remote", "get_rewritten_host_address",
        "get_scp_command", "get_ssh_command", "get_taktuk_connector_command",
        "get_unique_hosts_list", "is_string", "make_connection_params", "remote_substitute",
        "singleton_to_collection", "Process", "ProcessLifecycleHandler", "format_date",
        "get_seconds", "Action", "ActionLifecycleHandler", "name_from_cmdline", "Local",
        "ParallelActions", "SequentialActions", "wait_all_actions", "wait_any_actions",
    ],
    "execo.conductor": ["compact_output", "format_unixts"],
    "execo.config": ["DETAIL", "TRACE", "FDEBUG", "IODEBUG", "make_connection_params"],
    "execo.host": ["comma_join"],
    "execo.log": [],
    "execo.process": [
        "ExpectOutputHandler", "Host", "PortForwarder", "ProcessOutputHandler",
        "ProcessesFailed", "Report", "Serial", "SerialSsh", "SshProcess", "Timer",
        "compact_output", "format_unixts", "get_port", "get_process",
        "get_rewritten_host_address", "get_ssh_command", "is_string", "make_connection_params",
        "name_from_cmdline", "singleton_to_collection", "stream_name", "get_seconds",
        "ProcessLifecycleHandler", "ProcessBase",
    ],
    "execo.report": ["format_date", "format_duration"],
    "execo.ssh_utils": ["make_connection_params"],
    "execo.substitutions": ["remote_substitute"],
    "execo.time_utils": [],
    "execo.utils": ["compact_output", "name_from_cmdline"],
}


def _resolve(module_name: str, name: str, modules: Dict[str, List[str]],
             homes: Dict[str, str]) -> Any:
    if name not in modules.get(module_name, ()):
        raise AttributeError("module %r has no attribute %r" % (module_name, name))
    home = homes[name]
    if home == module_name:
        raise AttributeError("module %r has no attribute %r (the legacy table sends it "
                             "back to its own module)" % (module_name, name))
    return getattr(importlib.import_module(home), name)


def legacy_getattr(module_name: str, modules: Optional[Dict[str, List[str]]] = None,
                   homes: Optional[Dict[str, str]] = None) -> Callable[[str], Any]:
    """A PEP 562 ``__getattr__`` serving ``module_name``'s 2.x names, from
    this module's table or from an extension's own (``modules``, ``homes``:
    an extension keeps its names to itself, the core never learns them).

    >>> legacy_getattr("execo.action")("Put").__name__
    'Put'
    """
    modules = LEGACY_MODULES if modules is None else modules
    homes = HOMES if homes is None else homes

    def __getattr__(name: str) -> Any:
        return _resolve(module_name, name, modules, homes)
    return __getattr__


def legacy_dir(module_name: str, module_globals: Dict[str, Any],
               modules: Optional[Dict[str, List[str]]] = None) -> Callable[[], List[str]]:
    """A PEP 562 ``__dir__``: the module's own names and its 2.x names."""
    modules = LEGACY_MODULES if modules is None else modules

    def __dir__() -> List[str]:
        return sorted(set(module_globals) | set(modules.get(module_name, ())))
    return __dir__
