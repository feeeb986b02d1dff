"""A loopback test bed: a real OpenSSH sshd on 127.0.0.1 posing as N hosts.

Experiment scripts can be developed on a laptop before going to a real
cluster, and execo's own tests run against the real ``ssh``/``scp``
binaries, never against mocks. Host aliases (``node-1`` ... ``node-N``
and any extra names) are defined in a generated ssh client config; all of
them reach the same sshd, which runs as the current user with keys
generated for the occasion. Nothing listens beyond 127.0.0.1.

>>> with LoopbackTestbed(num_hosts=3) as testbed:  # doctest: +SKIP
...     testbed.install()
...     SshProcess("hostname", "node-1").run().ok
True

From a shell: ``python -m execo.testbed -n 10`` starts one and prints how
to use it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any, Dict, List, Optional, Sequence

from execo import config
from execo.output import ProcessOutputHandler
from execo.process import Process

__all__ = ["LoopbackTestbed", "SSHD"]

SSHD = "/usr/sbin/sshd"  # sshd insists on being started by absolute path
_READY_TIMEOUT = 15.0
_START_ATTEMPTS = 5
_LISTENING = re.compile(r"Server listening on 127\.0\.0\.1 port (\d+)")
_FAILED = re.compile(r"(?:fatal|Bind to port|Cannot bind|error: ).*")
_MISSING = object()


def _free_port() -> int:
    # The kernel picks a free port; sshd binds it a moment later. Another
    # process may take it meanwhile: starting sshd is retried on failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(root: int) -> List[int]:
    """Pids of ``root``'s descendants, parents before children.

    sshd puts each connection in a session of its own, so a process group
    kill would miss them: the process tree is the only handle on them.
    """
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: parse after
        # the last ')'
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    result: List[int] = []
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop(0)
        result.append(pid)
        todo.extend(children.get(pid, ()))
    return result


def _without_config_file(options: Sequence[str]) -> tuple:
    """``options`` minus any ``-F file``: ssh reads only one config file (the
    last given), and a test bed's must be that one, even if another test
    bed is installed in the defaults."""
    result: List[str] = []
    skip = False
    for option in options:
        if skip:
            skip = False
        elif option == "-F":
            skip = True
        elif not option.startswith("-F"):
            result.append(option)
    return tuple(result)


def _marked(marker: bytes) -> List[int]:
    """Pids of the processes whose environment holds ``marker``.

    sshd gives every session the test bed's marker variable, and children
    inherit it: this finds what the process tree cannot, the orphans (a
    remote ``nohup daemon &`` whose shell has exited, the ssh watchdogs).
    """
    if not marker.startswith(b"EXECO_TESTBED=/"):
        return []  # never a pattern that would match unrelated processes
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as environ:
                if marker in environ.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _signal_pids(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


_MISSING_PRIVSEP = re.compile(r"Missing privilege separation directory: (/\S+)")


def _make_privsep_directory(error: str) -> bool:
    """sshd started by root wants its privilege separation directory
    (``/run/sshd`` on Debian), which the distribution's service creates at
    boot and a fresh machine or container may lack. Create it as the service
    would (root's, 0755); True if that was the trouble and it is fixed."""
    match = _MISSING_PRIVSEP.search(error)
    if match is None or os.geteuid() != 0:
        return False
    os.makedirs(match.group(1), mode=0o755, exist_ok=True)
    return True


class _ReadinessWatcher(ProcessOutputHandler):
    """Reads sshd's log lines (conductor thread) until one says whether it
    listens: readiness is an event, not a sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.decided = threading.Event()
        self.verdict: Optional[str] = None  # None: listening
        self.last_line = ""

    def read_line(self, process: Any, stream: int, string: str) -> None:
        if self.decided.is_set():
            return
        if string.strip():
            self.last_line = string.strip()
        if _LISTENING.search(string):
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


class LoopbackTestbed:
    """A context manager owning one sshd on 127.0.0.1 and its files.

    :param num_hosts: aliases ``node-1`` ... ``node-<num_hosts>``.
    :param extra_names: more aliases, e.g. the host names a tutorial uses.
    :param workdir: where keys and configs go (default: a new temporary
      directory, removed on exit; a given one is left in place).
    :param source_bashrc: let the remote bash source ``~/.bashrc`` as it
      does for real ssh sessions (off by default: it is often slow and
      meant for interactive use).
    :param client_options: more ssh client settings for every alias, e.g.
      ``{'KexAlgorithms': 'curve25519-sha256'}`` (written into ``ssh_config``,
      so any ssh-based tool given ``-F ssh_config`` gets them too).

    Attributes once started: ``hosts`` (the alias names, node-i first),
    ``port``, ``ssh_config`` (path of the client config, for ``ssh -F``),
    ``keyfile``, ``user`` and ``connection_params``, a dict to give as
    ``connection_params=`` or to merge into the defaults with `install`.
    """

    def __init__(self, num_hosts: int = 10, extra_names: Sequence[str] = (),
                 workdir: Optional[str] = None, source_bashrc: bool = False,
                 client_options: Optional[Dict[str, str]] = None) -> None:
        if not os.path.exists(SSHD):
            raise RuntimeError("%s not found: install openssh-server to use a LoopbackTestbed"
                               % SSHD)
        self.hosts: List[str] = ["node-%d" % i for i in range(1, num_hosts + 1)]
        self.hosts += [name for name in extra_names if name not in self.hosts]
        self._given_workdir = workdir
        self.source_bashrc = source_bashrc
        self.client_options = dict(client_options or {})
        self.workdir: Optional[str] = None
        self.port: Optional[int] = None
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.keyfile: Optional[str] = None
        self.ssh_config: Optional[str] = None
        self.sshd_config: Optional[str] = None
        self.sshd_log: Optional[str] = None
        self.connection_params: Dict[str, Any] = {}
        self._sshd: Optional[Process] = None
        self._marker = b""
        self._saved_defaults: Optional[Dict[str, Any]] = None
        self._lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------

    def start(self) -> "LoopbackTestbed":
        try:
            self._make_workdir()
            self._generate_keys()
            self._start_sshd_on_free_port()
            self._write_client_config()
        except BaseException:
            self.stop()
            raise
        self.connection_params = {
            option: ('-F', self.ssh_config)
            + _without_config_file(config.default_connection_params[option])
            for option in ('ssh_options', 'scp_options', 'taktuk_connector_options')}
        return self

    def stop(self) -> None:
        """Kill sshd, every session and command it started; remove the files."""
        self.uninstall()
        self.kill_sshd()
        if self.workdir is not None and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def __enter__(self) -> "LoopbackTestbed":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # ---- defaults -------------------------------------------------------------

    def install(self) -> "LoopbackTestbed":
        """Merge ``connection_params`` into `execo.config.default_connection_params`,
        so that unmodified scripts reach the aliases. Undone by `uninstall`."""
        defaults = config.default_connection_params
        with self._lock:
            if self._saved_defaults is None:
                self._saved_defaults = {key: defaults.get(key, _MISSING)
                                        for key in self.connection_params}
            defaults.update(self.connection_params)
        return self

    def uninstall(self) -> None:
        defaults = config.default_connection_params
        with self._lock:
            if self._saved_defaults is None:
                return
            for key, value in self._saved_defaults.items():
                if value is _MISSING:
                    defaults.pop(key, None)
                else:
                    defaults[key] = value
            self._saved_defaults = None

    # ---- sshd -----------------------------------------------------------------

    @property
    def sshd_pid(self) -> Optional[int]:
        return self._sshd.pid if self._sshd is not None and self._sshd.running else None

    def kill_sshd(self) -> None:
        """Kill sshd and every process it started (sessions, remote
        commands) at once, as a crashing host would: connections drop."""
        sshd = self._sshd
        if sshd is None:
            return
        self._sshd = None
        if sshd.running and sshd.pid is not None:
            # sessions first, so that none outlives the listener unnoticed;
            # SIGSTOP keeps the tree from changing while it is walked.
            sshd.kill(signal.SIGSTOP)
            tree = _descendants(sshd.pid)
            _signal_pids(tree, signal.SIGKILL)
            _signal_pids(_marked(self._marker), signal.SIGKILL)
            sshd.kill(signal.SIGKILL)
        sshd.wait(_READY_TIMEOUT)

    def freeze_sshd(self) -> None:
        """SIGSTOP sshd and its sessions: connections stay open but nothing
        answers, as with a hung host. Undone by `thaw_sshd`."""
        if self._sshd is not None and self._sshd.running:
            self._sshd.kill(signal.SIGSTOP)
            _signal_pids(_descendants(self._sshd.pid), signal.SIGSTOP)

    def thaw_sshd(self) -> None:
        if self._sshd is not None and self._sshd.running:
            _signal_pids(_descendants(self._sshd.pid), signal.SIGCONT)
            self._sshd.kill(signal.SIGCONT)

    def restart_sshd(self) -> None:
        """Start sshd again on the same port (after `kill_sshd`)."""
        if self._sshd is not None:
            return
        error = self._try_start_sshd(self.port)
        if error is not None:
            raise RuntimeError("sshd did not restart on port %d: %s" % (self.port, error))

    def _make_workdir(self) -> None:
        if self._given_workdir is not None:
            os.makedirs(self._given_workdir, exist_ok=True)
            self.workdir = os.path.abspath(self._given_workdir)
        else:
            self.workdir = tempfile.mkdtemp(prefix="execo-testbed-")
        # no spaces: sshd's SetEnv splits on them
        self._marker = ("EXECO_TESTBED=%s" % self.workdir.replace(" ", "_")).encode()

    def _generate_keys(self) -> None:
        host_key = os.path.join(self.workdir, "ssh_host_ed25519_key")
        self.keyfile = os.path.join(self.workdir, "id_ed25519")
        for path, comment in ((host_key, "execo-testbed-host"),
                              (self.keyfile, "execo-testbed-user")):
            if not os.path.exists(path):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                                "-f", path], check=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)

    def _write_sshd_config(self, port: int) -> None:
        self.sshd_config = os.path.join(self.workdir, "sshd_config")
        lines = [
            "ListenAddress 127.0.0.1:%d" % port,
            "HostKey %s" % os.path.join(self.workdir, "ssh_host_ed25519_key"),
            "PidFile %s" % os.path.join(self.workdir, "sshd.pid"),
            "AuthorizedKeysFile %s.pub" % self.keyfile,
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            # hundreds of simultaneous connections are the point
            "MaxStartups 1000:30:1000",
            "MaxSessions 1000",
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
        set_env = [self._marker.decode()]
        if not self.source_bashrc:
            # bash sources ~/.bashrc for a top-level shell started by sshd,
            # and only then; SHLVL=1 makes the login shell a second-level
            # one, so a node of the test bed costs what a fresh cluster node
            # costs, not what this machine's interactive setup costs.
            set_env.append("SHLVL=1")
        lines.append("SetEnv %s" % " ".join(set_env))
        with open(self.sshd_config, "w") as config_file:
            config_file.write("\n".join(lines) + "\n")

    def _start_sshd_on_free_port(self) -> None:
        errors = []
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            error = self._try_start_sshd(port)
            if error is not None and _make_privsep_directory(error):
                error = self._try_start_sshd(port)
            if error is None:
                self.port = port
                return
            errors.append(error)
        raise RuntimeError("sshd did not start: %s" % "; ".join(errors))

    def _try_start_sshd(self, port: int) -> Optional[str]:
        """Start sshd on ``port``; None once it listens, else why not."""
        self._write_sshd_config(port)
        self.sshd_log = os.path.join(self.workdir, "sshd.log")
        # The log goes to a file through the conductor, which keeps reading
        # it: a full stderr pipe would freeze sshd.
        watcher = _ReadinessWatcher()
        sshd = Process([SSHD, "-D", "-e", "-f", self.sshd_config],
                       default_stderr_handler=False,
                       stderr_handlers=[self.sshd_log, watcher],
                       nolog_exit_code=True, nolog_error=True, name="sshd")
        sshd.start()
        if not watcher.decided.wait(_READY_TIMEOUT):
            watcher.verdict = "no 'Server listening' line within %ss" % _READY_TIMEOUT
        if watcher.verdict is None:
            self._sshd = sshd
            return None
        sshd.kill(signal.SIGKILL).wait(_READY_TIMEOUT)
        return "%s (log: %s)" % (sshd.error_reason or watcher.verdict, self.sshd_log)

    def _write_client_config(self) -> None:
        self.ssh_config = os.path.join(self.workdir, "ssh_config")
        entries = []
        for name in self.hosts:
            entries.append("\n".join([
                "Host %s" % name,
                "    HostName 127.0.0.1",
                "    Port %d" % self.port,
                "    User %s" % self.user,
                "    IdentityFile %s" % self.keyfile,
                "    IdentitiesOnly yes",
                "    StrictHostKeyChecking no",
                "    UserKnownHostsFile /dev/null",
                "    BatchMode yes",
                "    LogLevel ERROR",
            ] + ["    %s %s" % item for item in self.client_options.items()]))
        with open(self.ssh_config, "w") as config_file:
            config_file.write("\n\n".join(entries) + "\n")

    def __repr__(self) -> str:
        return "LoopbackTestbed(hosts=%d, port=%s, ssh_config=%r)" % (
            len(self.hosts), self.port, self.ssh_config)


def _usage(testbed: LoopbackTestbed) -> str:
    return """\
A loopback ssh test bed is running: sshd on 127.0.0.1 port {port}, pid {pid}.
Hosts: {first} ... {last} ({count} aliases), all this machine, user {user}.

From a shell:
    ssh -F {cfg} node-1 hostname

From python (the connection params make execo use that ssh config):
    from execo import *
    params = {{
        'ssh_options': {ssh!r},
        'scp_options': {scp!r},
        'taktuk_connector_options': {taktuk!r},
    }}
    default_connection_params.update(params)
    hosts = ["node-%d" % i for i in range(1, {count_nodes} + 1)]
    print(Report([Remote("hostname", hosts).run()]).to_string())

Press Ctrl-C to stop it and remove its files.
""".format(port=testbed.port, pid=testbed.sshd_pid, first=testbed.hosts[0],
           last=testbed.hosts[-1], count=len(testbed.hosts), user=testbed.user,
           cfg=testbed.ssh_config, ssh=testbed.connection_params['ssh_options'],
           scp=testbed.connection_params['scp_options'],
           taktuk=testbed.connection_params['taktuk_connector_options'],
           count_nodes=sum(1 for h in testbed.hosts if h.startswith("node-")))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m execo.testbed",
        description="Run a loopback ssh test bed (a real sshd on 127.0.0.1) until Ctrl-C.")
    parser.add_argument("-n", "--num-hosts", type=int, default=10,
                        help="number of node-i aliases (default: 10)")
    parser.add_argument("-e", "--extra-name", action="append", default=[],
                        help="another alias name (repeatable)")
    parser.add_argument("-d", "--workdir", help="keep keys and configs in this directory")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LoopbackTestbed(args.num_hosts, args.extra_name, args.workdir) as testbed:
        sys.stdout.write(_usage(testbed))
        sys.stdout.flush()
        while not stop.wait(3600):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
