"""What every test bed shares about sshd: keys, its configuration, starting
it and knowing, from its log, that it listens.

sshd runs in the foreground (``-D -e``) as an execo `Process`, so the
conductor reads its log as it comes: readiness is an event, not a sleep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from typing import Any, List, Optional, Sequence, Tuple

from execo.output import ProcessOutputHandler
from execo.process import Process

__all__ = ["SSHD", "READY_TIMEOUT", "RAISED_LIMITS", "STOCK_LIMITS", "generate_keys",
           "sshd_config_lines", "start_sshd", "launch_sshd", "await_sshd",
           "make_privsep_directory"]

SSHD = "/usr/sbin/sshd"  # sshd insists on being started by absolute path
READY_TIMEOUT = 15.0
_LISTENING = re.compile(r"Server listening on (\S+) port (\d+)")
_FAILED = re.compile(r"(?:fatal|Bind to port|Cannot bind|error: ).*")
_MISSING_PRIVSEP = re.compile(r"Missing privilege separation directory: (/\S+)")

# Debian's sshd as installed: beyond 10 connections not yet authenticated,
# it drops new ones at random (30 % at first, all of them at 100). Real
# hosts, gateways and frontends run it so: reliability tests use it.
STOCK_LIMITS = ("MaxStartups 10:30:100", "MaxSessions 10")
# Only for measuring raw handshake speed (benchmarks): no drop ever.
RAISED_MAX_STARTUPS = 1000
RAISED_LIMITS = ("MaxStartups %d:30:%d" % (RAISED_MAX_STARTUPS, RAISED_MAX_STARTUPS),
                 "MaxSessions 1000")


def make_privsep_directory(error: str) -> bool:
    """sshd started by root wants its privilege separation directory
    (``/run/sshd`` on Debian), which the distribution's service creates at
    boot and a fresh machine or container may lack. Create it as the service
    would (root's, 0755); True if that was the trouble and it is fixed."""
    match = _MISSING_PRIVSEP.search(error)
    if match is None or os.geteuid() != 0:
        return False
    os.makedirs(match.group(1), mode=0o755, exist_ok=True)
    return True


def generate_keys(workdir: str) -> Tuple[str, str]:
    """(host key, user key) paths in ``workdir``, generated if missing."""
    host_key = os.path.join(workdir, "ssh_host_ed25519_key")
    user_key = os.path.join(workdir, "id_ed25519")
    for path, comment in ((host_key, "execo-testbed-host"), (user_key, "execo-testbed-user")):
        if not os.path.exists(path):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                            "-f", path], check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
    return host_key, user_key


def sshd_config_lines(listen: Sequence[str], host_key: str, user_key: str,
                      set_env: Sequence[str], pid_file: str = "none",
                      stock_limits: bool = False) -> List[str]:
    """An sshd configuration for a test bed: key logins of the current user
    only, ``set_env`` given to every session (no spaces in the values:
    sshd's SetEnv splits on them), and either hundreds of simultaneous
    connections or, with ``stock_limits``, Debian's limits (`STOCK_LIMITS`)."""
    lines = ["ListenAddress %s" % address for address in listen]
    lines += [
        "HostKey %s" % host_key,
        "PidFile %s" % pid_file,
        "AuthorizedKeysFile %s.pub" % user_key,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        *(STOCK_LIMITS if stock_limits else RAISED_LIMITS),
        "LoginGraceTime 30",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowTcpForwarding yes",
        # OpenSSH 9's scp speaks sftp
        "Subsystem sftp internal-sftp",
        "LogLevel INFO",
    ]
    if set_env:
        lines.append("SetEnv %s" % " ".join(set_env))
    return lines


class _ReadinessWatcher(ProcessOutputHandler):
    """Reads sshd's log lines (conductor thread) until one says whether it
    listens on every address it was given."""

    def __init__(self, addresses: int) -> None:
        super().__init__()
        self.decided = threading.Event()
        self.verdict: Optional[str] = None  # None: listening
        self.last_line = ""
        self.waiting_for = addresses

    def read_line(self, process: Any, stream: int, string: str) -> None:
        if self.decided.is_set():
            return
        if string.strip():
            self.last_line = string.strip()
        if _LISTENING.search(string):
            self.waiting_for -= 1
            if self.waiting_for <= 0:
                self.decided.set()
        elif _FAILED.search(string):
            self.verdict = string.strip()
            self.decided.set()

    def read(self, process: Any, stream: int, string: str, eof: bool, error: bool) -> None:
        super().read(process, stream, string, eof, error)
        if (eof or error) and not self.decided.is_set():
            self.verdict = "sshd exited before listening"
            if self.last_line:
                self.verdict += ": %s" % self.last_line
            self.decided.set()


def launch_sshd(argv: Sequence[str], log_path: str, addresses: int = 1,
                name: str = "sshd") -> Tuple[Process, Any]:
    """Start ``argv`` (an sshd in the foreground, logging to stderr); give
    the process and what `await_sshd` needs. Many can be launched before
    any is awaited. The log goes to ``log_path`` through the conductor,
    which keeps reading it: a full stderr pipe would freeze sshd."""
    watcher = _ReadinessWatcher(addresses)
    sshd = Process(list(argv), default_stderr_handler=False,
                   stderr_handlers=[log_path, watcher],
                   nolog_exit_code=True, nolog_error=True, name=name)
    sshd.start()
    return sshd, watcher


def await_sshd(sshd: Process, watcher: Any, log_path: str) -> Optional[str]:
    """None once ``sshd`` listens on all its addresses, else why not (it is
    then killed)."""
    if not watcher.decided.wait(READY_TIMEOUT):
        watcher.verdict = "no 'Server listening' line within %ss" % READY_TIMEOUT
    if watcher.verdict is None:
        return None
    sshd.kill(signal.SIGKILL).wait(READY_TIMEOUT)
    return "%s (log: %s)" % (sshd.error_reason or watcher.verdict, log_path)


def start_sshd(argv: Sequence[str], log_path: str, addresses: int = 1,
               name: str = "sshd") -> Tuple[Optional[Process], Optional[str]]:
    """Start an sshd and wait until it listens on ``addresses`` addresses:
    (the running process, None), or (None, why it did not start)."""
    sshd, watcher = launch_sshd(argv, log_path, addresses, name)
    error = await_sshd(sshd, watcher, log_path)
    return (sshd, None) if error is None else (None, error)
