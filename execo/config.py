"""Configuration of execo: plain dicts, overridable from ``~/.execo.conf.py``.

The dicts are mutated in place (never rebound) so that every module that
imported them sees a user's change; library code reads a key when it needs
it, never at import time, so changing ``configuration['remote_tool']`` from
an ipython prompt takes effect at the next call.

Each key is documented once, in `CONFIGURATION_DOCS` and
`CONNECTION_PARAMS_DOCS` below; every key of execo 2.8.2 is accepted, and
those that have no effect here say so there.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import warnings
from typing import Any, Collection, Dict, Iterable, Mapping, MutableMapping, Optional, Tuple

__all__ = ["CHAINPUT", "CONFIGURATION_DOCS", "CONFIG_FILE", "CONNECTION_PARAMS_DOCS", "SCP",
           "SSH", "TAKTUK", "ExecoConfigWarning", "WatchedDict", "check_keys", "configuration",
           "default_connection_params", "default_connexion_params", "documented_dicts",
           "key_kind", "load_configuration", "merge_config", "register_known_keys"]

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

# Options that keep a testbed run unattended: never prompt for a password or
# a host key, give up on a silent host after ConnectTimeout seconds, and
# notice a dead peer through keepalives instead of hanging for hours. Host
# keys are not checked: testbed nodes are redeployed and change keys (see
# doc/failures.rst for the trade-off and how to check them). Nodes are
# shared machines: the user's agent and display are never forwarded. The
# key exchange prefers curve25519: OpenSSH 9's default (sntrup761, post-
# quantum) costs the client about 3x more CPU per connection, which is what
# limits a fan-out to hundreds of hosts (see BENCHMARKS.md). An explicit
# list, not '^...', so that older clients accept it.
_FAST_KEX = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
             "ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512,"
             "diffie-hellman-group14-sha256")
_SSH_NONINTERACTIVE = (
    '-o', 'KexAlgorithms=' + _FAST_KEX,
    '-o', 'BatchMode=yes',
    '-o', 'PasswordAuthentication=no',
    '-o', 'ForwardAgent=no',
    '-o', 'ForwardX11=no',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=20',
    '-o', 'ServerAliveInterval=20',
    '-o', 'ServerAliveCountMax=3',
)

default_connection_params: Dict[str, Any] = {
    'user': None,
    'keyfile': None,
    'port': None,
    'ssh': 'ssh',
    'scp': 'scp',
    'taktuk': 'taktuk',
    'ssh_options': _SSH_NONINTERACTIVE,
    'scp_options': _SSH_NONINTERACTIVE + ('-r', '-p'),
    'taktuk_options': ('-s',),
    'taktuk_connector': 'ssh',
    'taktuk_connector_options': _SSH_NONINTERACTIVE,
    'host_rewrite_func': None,
    'pty': False,
    'kill_remote_on_disconnect': True,
    'connection_sharing': False,
    'gateway': None,
    'max_setups_per_endpoint': 8,
    'nc': 'nc',
    'chainput_nc_client_timeout': 5,
    'chainput_nc_server_timeout': 30,
    'chainput_host_retry': 5,
    'chainput_chain_retry': 10,
    'chainput_try_delay': 1,
    'forwarding_timeout': 25,
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
    'ssh': "ssh client command",
    'scp': "scp client command",
    'taktuk': "taktuk command",
    'ssh_options': "options given to ssh before the host (one string, or a sequence of "
                   "words)",
    'scp_options': "options given to scp",
    'taktuk_options': "options given to taktuk before the hosts (-s self-propagation, "
                      "-w window...)",
    'taktuk_connector': "command taktuk uses to reach a host",
    'taktuk_connector_options': "options of the taktuk connector",
    'host_rewrite_func': "function(address) -> address actually connected to",
    'pty': "allocate a remote pseudo-terminal (ssh -tt), as execo 2.x did",
    'kill_remote_on_disconnect': "prefix remote commands with a small sh watchdog that "
                                 "SIGHUPs them when their ssh connection is gone, so that "
                                 "they can be killed without a pty (execo.ssh); needs a "
                                 "POSIX login shell",
    'gateway': "host every connection goes through ('[user@]host[:port]', an ssh config "
               "alias or a Host): ssh, scp and taktuk reach the hosts through its sshd, as "
               "from outside Grid5000 through its access machine; None: direct",
    'max_setups_per_endpoint': "at most this many connection set-ups in flight per sshd "
                               "(the gateway's when there is one), the others wait: below "
                               "sshd's MaxStartups (10 by default), which refuses the "
                               "excess before authentication; None: no limit "
                               "(execo.endpoint_gate)",
    'connection_sharing': "opt-in ssh ControlMaster: False, or seconds a shared connection "
                          "stays open after its last use (True: 60); killing a remote "
                          "command then needs 'pty': True",
    'chainput_chain_retry': "ChainPut: rounds of new chains tried for the hosts a chain "
                            "did not reach",
    'nc': "no effect: ChainPut streams through ssh, not netcat (kept for execo 2.x files)",
    'chainput_nc_client_timeout': "no effect (execo 2.x's netcat ChainPut)",
    'chainput_nc_server_timeout': "no effect (execo 2.x's netcat ChainPut)",
    'chainput_host_retry': "no effect (execo 2.x's netcat ChainPut)",
    'chainput_try_delay': "no effect (execo 2.x's netcat ChainPut)",
    'forwarding_timeout': "seconds a PortForwarder (execo.port_forwarder) may take to open "
                          "its local port",
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
            check_keys(key_kind(name), value, where="%s of %s" % (name, filename))
            merge_config(target, value)


load_configuration({
    'configuration': configuration,
    'default_connection_params': default_connection_params,
    'default_connexion_params': default_connection_params,
})


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
