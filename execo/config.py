"""Configuration of execo: plain dicts, overridable from ``~/.execo.conf.py``.

The dicts are mutated in place (never rebound) so that every module that
imported them sees a user's change; library code reads a key when it needs
it, never at import time, so changing ``configuration['remote_tool']`` from
an ipython prompt takes effect at the next call.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, Mapping, MutableMapping, Optional

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


class WatchedDict(dict):
    """A dict that calls ``watchers[key](value)`` when ``key`` is set.

    Lets a setting that lives outside the dict (the logger's level) follow
    ``configuration['log_level'] = ...`` at once, without polling.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchers: Dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        watcher = self.watchers.get(key)
        if watcher is not None:
            watcher(value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]


configuration: Dict[str, Any] = WatchedDict({
    # logging level of the "execo" logger (a `logging` level).
    'log_level': logging.WARNING,
    # tools picked by get_remote / get_fileput / get_fileget at call time.
    'remote_tool': SSH,
    'fileput_tool': SCP,
    'fileget_tool': SCP,
    # dump() shows only the head and tail of outputs longer than this (0: all).
    'compact_output_threshold': 4096,
    # seconds between a SIGTERM sent by kill() and the SIGKILL that follows
    # if the process is still alive.
    'kill_timeout': 5,
    # kill the processes still running when the interpreter exits.
    'kill_childs_at_end': True,
    # colourise logs and reports (default: when stdout and stderr are ttys).
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
    # ports handed out by execo.utils.get_port (start inclusive, end exclusive).
    'port_range': (25500, 26700),
    # kept for compatibility with 2.x configuration files; the conductor
    # needs no periodic wake-up, so it is not used.
    'intr_period': 1,
})

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
    # prefix remote commands with a tiny sh watchdog that SIGHUPs them when
    # their ssh connection is gone (see execo.ssh); needs a POSIX login shell.
    'kill_remote_on_disconnect': True,
    # opt-in ssh ControlMaster: False, or seconds a shared connection to a
    # host stays open after its last use (True: 60). Killing a remote
    # command then needs 'pty': True; see execo.ssh.
    'connection_sharing': False,
    'nc': 'nc',
    'chainput_nc_client_timeout': 5,
    'chainput_nc_server_timeout': 30,
    'chainput_host_retry': 5,
    'chainput_chain_retry': 10,
    'chainput_try_delay': 1,
    # seconds a PortForwarder may take to open its local port.
    'forwarding_timeout': 25,
}
default_connexion_params = default_connection_params


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


def load_configuration(dicts: Mapping[str, MutableMapping[str, Any]],
                       filename: Optional[str] = None) -> None:
    """Merge the dicts that a configuration file defines into ``dicts``.

    ``dicts`` maps a variable name of the file (``'configuration'``,
    ``'default_connexion_params'``...) to the dict it overrides. The file is
    plain python, as in the tutorial's example. A broken file is reported on
    stderr and otherwise ignored: a typo there must not make every script
    unusable.
    """
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
    for name, target in dicts.items():
        value = namespace.get(name)
        if isinstance(value, dict):
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
