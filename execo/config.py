"""Configuration of execo: plain dicts, overridable from ``~/.execo.conf.py``.

The dicts are mutated in place (never rebound) so that every module that
imported them sees a user's change; library code reads a key when it needs
it, never at import time, so changing ``configuration['remote_tool']`` from
an ipython prompt takes effect at the next call.

Each key is documented once, in `CONFIGURATION_DOCS` and
`CONNECTION_PARAMS_DOCS` below, or, for the connection params a single
transport reads, beside that transport's command builder, which declares
them (`declare_connection_params`); every key of execo 2.8.2 is accepted,
and those that have no effect here say so there.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import warnings
from typing import (Any, Collection, Dict, Iterable, List, Mapping, MutableMapping, Optional,
                    Tuple)

__all__ = ["CHAINPUT", "CONFIGURATION_DOCS", "CONFIG_FILE", "CONNECTION_PARAMS_DOCS", "SCP",
           "SSH", "TAKTUK", "ExecoConfigWarning", "WatchedDict", "check_keys", "configuration",
           "default_connection_params", "default_connexion_params", "documented_dicts",
           "declare_connection_params", "declarations_done", "key_kind", "load_configuration",
           "merge_config", "register_known_keys"]

SSH = 0
SCP = 1
TAKTUK = 2
CHAINPUT = 3

CONFIG_FILE = os.path.join(os.path.expanduser("~"), ".execo.conf.py")


def _streams_are_ttys() -> bool:
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class ExecoConfigWarning(UserWarning):
    """A configuration key execo does not know: most likely a typo, and
    the setting it was meant for keeps its default."""


# kind ('configuration', 'connection params'...) -> (documented keys,
# keys of execo 2.8.2): both read when a key is checked, so that keys
# documented later (an extension, a new feature) are known at once
_KNOWN_KEYS: Dict[str, Tuple[Collection[str], Collection[str]]] = {}
_warned_keys: set = set()
# the connection params keys of the configuration file, checked once every
# transport has declared its own (declarations_done, at the end of
# execo/__init__.py)
_deferred_checks: Optional[List[Tuple[str, List[Any], str]]] = []


def register_known_keys(kind: str, documented: Collection[str],
                        legacy: Collection[str] = ()) -> None:
    """Declare the valid keys of a kind of settings: ``documented`` (a
    live mapping or set) and ``legacy``, accepted without a word."""
    _KNOWN_KEYS[kind] = (documented, frozenset(legacy))


def check_keys(kind: str, keys: Iterable[Any], where: str = "", stacklevel: int = 2) -> None:
    """Warn once per unknown key of ``kind``, naming the closest valid one.

    >>> check_keys("configuration", ["kill_timeout"])   # known: silent
    """
    known = _KNOWN_KEYS.get(kind)
    if known is None:
        return
    documented, legacy = known
    for key in keys:
        if key in documented or key in legacy or (kind, key) in _warned_keys:
            continue
        _warned_keys.add((kind, key))
        valid = sorted(set(documented) | set(legacy))
        close = difflib.get_close_matches(str(key), valid, n=1)
        hint = ("did you mean %r?" % close[0] if close
                else "valid keys: %s" % ", ".join(valid))
        warnings.warn("unknown %s key %r%s: it has no effect; %s"
                      % (kind, key, " in %s" % where if where else "", hint),
                      ExecoConfigWarning, stacklevel=stacklevel + 1)


class WatchedDict(dict):
    """A dict that calls ``watchers[key](value)`` when ``key`` is set.

    Lets a setting that lives outside the dict (the logger's level) follow
    ``configuration['log_level'] = ...`` at once, without polling. Given a
    ``kind``, it warns about a key that kind does not know (`check_keys`).
    """

    def __init__(self, *args: Any, kind: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchers: Dict[str, Any] = {}
        self.kind = kind

    def __setitem__(self, key: str, value: Any) -> None:
        if self.kind is not None:
            check_keys(self.kind, (key,), stacklevel=self._caller_level())
        super().__setitem__(key, value)
        watcher = self.watchers.get(key)
        if watcher is not None:
            watcher(value)

    @staticmethod
    def _caller_level() -> int:
        """How many frames up the user's line is: update() and setdefault()
        add one."""
        frame = sys._getframe(2)
        return 3 if frame.f_code.co_filename == __file__ else 2

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]


configuration: Dict[str, Any] = WatchedDict({
    'log_level': logging.WARNING,
    'remote_tool': SSH,
    'fileput_tool': SCP,
    'fileget_tool': SCP,
    'compact_output_threshold': 4096,
    'kill_timeout': 5,
    'kill_childs_at_end': True,
    'fanout': 'auto',
    'color_mode': _streams_are_ttys(),
    'color_styles': {
        'log_header': ('yellow',),
        'object_repr': ('blue',),
        'emph': ('cyan',),
        'report_warn': ('magenta',),
        'report_error': ('red', 'bold'),
        'command': ('blue', 'bold'),
        'host': ('magenta', 'bold'),
        'user1': ('green', 'bold'),
        'user2': ('yellow', 'bold'),
        'user3': ('cyan', 'bold'),
        logging.DEBUG: ('green',),
        logging.INFO: ('magenta',),
        logging.WARNING: ('cyan',),
        logging.ERROR: ('red',),
        logging.CRITICAL: ('yellow', 'on_red'),
    },
    'port_range': (25500, 26700),
    'intr_period': 1,
    'progress': 'auto',
}, kind='configuration')

# The keys every transport reads; each transport declares its own beside
# its command builder (declare_connection_params): execo.ssh, execo.taktuk,
# execo.chainput, execo.port_forwarder.
default_connection_params: Dict[str, Any] = {
    'user': None,
    'keyfile': None,
    'port': None,
    'host_rewrite_func': None,
}
default_connexion_params = default_connection_params

# The documentation of every key, in this one place: execo.config_sample
# writes it into execo.conf.py.sample, and the tests check that no key
# lacks a line. Keys kept only so that execo 2.x files load say so.
CONFIGURATION_DOCS: Dict[str, str] = {
    'log_level': "level of the 'execo' logger (logging.DEBUG=10 ... logging.ERROR=40)",
    'remote_tool': "tool of get_remote(), read at each call: SSH=0, TAKTUK=2, or the name "
                   "of a transport registered in execo.transports",
    'fileput_tool': "tool of get_fileput(): SCP=1, TAKTUK=2, CHAINPUT=3 or a transport name",
    'fileget_tool': "tool of get_fileget(): SCP=1, TAKTUK=2 or a transport name",
    'compact_output_threshold': "dump() and logs show only the head and tail of outputs "
                                "longer than this (0: everything)",
    'kill_timeout': "seconds between the SIGTERM of a kill (or a timeout) and the SIGKILL "
                    "that follows if the process is still alive (execo.kill_policy)",
    'kill_childs_at_end': "kill the processes still running when the script ends, however "
                          "it ends (even by SIGKILL: a watchdog process does it); read at "
                          "each child's start and at exit",
    'fanout': "at most this many local processes of actions run at once, the others wait "
              "for a slot (execo.fanout): an int, None (no limit) or 'auto' (from the fd "
              "limit: 179 under 1024 open files)",
    'color_mode': "colour logs and reports (default: when stdout and stderr are ttys)",
    'color_styles': "ANSI attributes of each style name and log level; 'log_header' has no "
                    "effect (log lines carry no header of execo's own), 'user1'..'user3' "
                    "are for scripts (execo.log.style.user1(text))",
    'port_range': "(first, end) of the local ports handed out by execo.utils.get_port",
    'intr_period': "no effect (the conductor needs no periodic wake-up); accepted so that "
                   "execo 2.x configuration files still load",
    'progress': "live progress bars of long actions (execo.progress): True, False, or "
                "'auto' (when stderr is a terminal, or in Jupyter); an action's progress= "
                "argument wins",
}

CONNECTION_PARAMS_DOCS: Dict[str, str] = {
    'user': "remote login (None: ssh's default)",
    'keyfile': "ssh private key (None: ssh's default)",
    'port': "ssh port (None: ssh's default)",
    'host_rewrite_func': "function(address) -> address actually connected to",
}

# name -> (the dict, its keys' documentation); extensions add theirs
# (execo_g5k.config), execo.config_sample renders them all.
documented_dicts: Dict[str, Tuple[Mapping[str, Any], Mapping[str, str]]] = {
    'configuration': (configuration, CONFIGURATION_DOCS),
    'default_connection_params': (default_connection_params, CONNECTION_PARAMS_DOCS),
}


# the keys of execo 2.8.2: a 2.x configuration file must load without a word
_CONFIGURATION_2X = ('color_mode', 'color_styles', 'compact_output_threshold', 'fileget_tool',
                     'fileput_tool', 'intr_period', 'kill_childs_at_end', 'kill_timeout',
                     'log_level', 'port_range', 'remote_tool')
_CONNECTION_PARAMS_2X = ('chainput_chain_retry', 'chainput_host_retry',
                         'chainput_nc_client_timeout', 'chainput_nc_server_timeout',
                         'chainput_try_delay', 'forwarding_timeout', 'host_rewrite_func',
                         'keyfile', 'nc', 'port', 'pty', 'scp', 'scp_options', 'ssh',
                         'ssh_options', 'taktuk', 'taktuk_connector', 'taktuk_connector_options',
                         'taktuk_options', 'user')
register_known_keys('configuration', CONFIGURATION_DOCS, _CONFIGURATION_2X)
register_known_keys('connection params', CONNECTION_PARAMS_DOCS, _CONNECTION_PARAMS_2X)


def key_kind(name: str) -> str:
    """The kind of settings a configuration file's variable holds: every
    ``*_connection_params`` (either spelling) and the oarsh params are
    connection params."""
    if "connection_params" in name or "connexion_params" in name or "oarcp_params" in name:
        return 'connection params'
    return name


def merge_config(target: MutableMapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Update ``target`` in place; nested dicts are merged, not replaced.

    In place, because other modules hold references to ``target``.
    """
    for key, value in overrides.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merge_config(current, value)
        else:
            target[key] = value


def load_configuration(filename: Any = None, dicts_confs: Any = None) -> None:
    """Merge the dicts that a configuration file defines into the given dicts.

    Two spellings: execo 2.x's ``load_configuration(filename, [(a_dict,
    'name'), ...])``, and ``load_configuration({'name': a_dict, ...},
    filename=None)``, which execo's own modules use (no file: the user's
    ``~/.execo.conf.py``). ``'name'`` is a variable of the file
    (``'configuration'``, ``'default_connexion_params'``...), whose dict is
    merged into ``a_dict`` (nested dicts merged, not replaced). The file is
    plain python, as in the tutorial's example. A broken file is reported on
    stderr and otherwise ignored: a typo there must not make every script
    unusable.

    >>> mine = {'color_mode': False}
    >>> load_configuration('/nonexistent.conf.py', [(mine, 'configuration')])
    >>> mine
    {'color_mode': False}
    """
    if isinstance(filename, Mapping):
        filename, dicts_confs = dicts_confs, [(target, name) for name, target in filename.items()]
    filename = filename or CONFIG_FILE
    if not os.path.isfile(filename):
        return
    namespace: Dict[str, Any] = {}
    try:
        with open(filename) as config_file:
            code = compile(config_file.read(), filename, 'exec')
        exec(code, namespace)
    except Exception as exc:  # a user's file: report anything it raises
        sys.stderr.write("execo: ignoring configuration file %s: %s: %s\n"
                         % (filename, type(exc).__name__, exc))
        return
    for target, name in dicts_confs or ():
        value = namespace.get(name)
        if isinstance(value, dict):
            where = "%s of %s" % (name, filename)
            if _deferred_checks is not None and key_kind(name) == 'connection params':
                _deferred_checks.append((key_kind(name), list(value), where))
            else:
                check_keys(key_kind(name), value, where=where)
            merge_config(target, value)


load_configuration({
    'configuration': configuration,
    'default_connection_params': default_connection_params,
    'default_connexion_params': default_connection_params,
})


def declare_connection_params(defaults: Mapping[str, Any], docs: Mapping[str, str]) -> None:
    """A transport's own connection params, declared beside its command
    builder: their defaults join `default_connection_params` (a value the
    user's configuration file gave first is kept) and their documentation
    `CONNECTION_PARAMS_DOCS`. A new transport, or a new key of one, edits
    its own module only.

    >>> declare_connection_params({'doc_example_retries': 2},
    ...                           {'doc_example_retries': "tries of the example transport"})
    >>> default_connection_params['doc_example_retries']
    2
    """
    if set(defaults) != set(docs):
        raise ValueError("connection params declared without documentation, or documented "
                         "without a default: %s" % sorted(set(defaults) ^ set(docs)))
    for key, value in defaults.items():
        default_connection_params.setdefault(key, value)
    CONNECTION_PARAMS_DOCS.update(docs)


def declarations_done() -> None:
    """``import execo`` is complete, every transport has declared its keys:
    check the keys the configuration file gave (deferred until now, so
    that a transport's key is not taken for a typo)."""
    global _deferred_checks
    pending, _deferred_checks = _deferred_checks, None
    for kind, keys, where in pending or ():
        check_keys(kind, keys, where=where)


def get_user_config_filename() -> str:
    """Where the user's configuration file is looked for: ``~/.execo.conf.py``."""
    return CONFIG_FILE


def make_default_connection_params() -> Dict[str, Any]:
    """A fresh copy of the connection params execo uses when given none."""
    return dict(default_connection_params)


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
