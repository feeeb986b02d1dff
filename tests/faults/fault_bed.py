"""A misbehaving ssh server run for a test, and the short ssh bounds of the fault tests.

The server (`fault_sshd.py`, paramiko's server mode) runs as a process of
its own, so that a test can freeze it with SIGSTOP as a hung host would be
(paramiko answers keepalives in a thread of its own: freezing a thread of
the test process would not do). It is started and ended by pid here.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from execo import config
from execo.host import Host

__all__ = ["CONNECT_TIMEOUT", "FAULT_OPTIONS", "FaultServer", "SERVER_ALIVE_COUNT_MAX",
           "SERVER_ALIVE_INTERVAL", "fault_connection_params", "require_paramiko"]

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fault_sshd.py")
_STARTUP_TIMEOUT = 30.0

# short bounds, so that every fault ends within seconds: ssh takes the first
# value given for an option, so these win over the library's defaults
CONNECT_TIMEOUT = 3
SERVER_ALIVE_INTERVAL = 1
SERVER_ALIVE_COUNT_MAX = 3
FAULT_OPTIONS = ('-o', 'ConnectTimeout=%d' % CONNECT_TIMEOUT,
                 '-o', 'ServerAliveInterval=%d' % SERVER_ALIVE_INTERVAL,
                 '-o', 'ServerAliveCountMax=%d' % SERVER_ALIVE_COUNT_MAX)


def require_paramiko():
    """Skip without paramiko, except in CI, where make test-deps installs it
    and a skip would hide a missing dependency."""
    if os.environ.get("CI"):
        import paramiko  # noqa: F401
    pytest.importorskip("paramiko", reason="paramiko (make test-deps) plays the faulty server")


def fault_connection_params():
    """The library's current defaults with the short bounds in front, and
    one connection attempt: each fault is seen once (the retried ones are
    execo.retry's, tested in tests/integration/test_connect_retries.py)."""
    defaults = config.default_connection_params
    params = {option: FAULT_OPTIONS + tuple(defaults[option])
              for option in ('ssh_options', 'scp_options', 'taktuk_connector_options')}
    params['connect_attempts'] = 1
    return params


class FaultServer:
    """One running `fault_sshd.py` in one mode, its stdout read as it comes."""

    def __init__(self, mode, host_key):
        self.mode = mode
        self._lines = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen([sys.executable, SERVER, mode, host_key],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            port_line = self.wait_event(r"port (\d+)", _STARTUP_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.port = int(re.match(r"port (\d+)", port_line).group(1))
        self.host = Host("127.0.0.1", port=self.port)

    def _read(self):
        for raw in self.process.stdout:
            with self._changed:
                self._lines.append(raw.decode().rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._lines.append(None)  # end of the server's output
            self._changed.notify_all()

    def wait_event(self, pattern, timeout=20.0):
        """The first line of the server matching ``pattern`` (``event `` is
        implied for events), waiting up to ``timeout`` seconds for it."""
        regex = re.compile(pattern if pattern.startswith("port") else "event " + pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    if line is not None and regex.match(line):
                        return line
                remaining = deadline - time.monotonic()
                if None in self._lines or remaining <= 0:
                    raise AssertionError("fault server (%s) never said %r; it said %r"
                                         % (self.mode, pattern, self._lines[-10:]))
                self._changed.wait(remaining)

    def freeze(self):
        """SIGSTOP: connections stay open, nothing answers, not even keepalives."""
        os.kill(self.pid, signal.SIGSTOP)

    def reset_connections(self):
        """(mode ``reset``) the server exits, and the kernel resets its connections."""
        os.kill(self.pid, signal.SIGUSR1)

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)  # works on a stopped process too
        self.process.wait(_STARTUP_TIMEOUT)
        self._reader.join(_STARTUP_TIMEOUT)
        self.process.stdout.close()
