"""The loopback test bed: one real OpenSSH sshd on 127.0.0.1 posing as N hosts.

Every alias (``node-1`` ... ``node-N`` and any extra names) is defined in
a generated ssh client config and reaches the same sshd, which runs as the
current user with keys generated for the occasion. Nothing listens beyond
127.0.0.1, and no privilege is needed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import tempfile
from typing import Dict, List, Optional, Sequence

from execo.process import Process
from execo.testbed.base import TestbedBase, connection_params_for, ssh_host_entry
from execo.testbed.procs import descendants, marked, signal_pids
from execo.testbed.sshd import (READY_TIMEOUT, SSHD, generate_keys, make_privsep_directory,
                                sshd_config_lines, start_sshd)

__all__ = ["LoopbackTestbed"]

_START_ATTEMPTS = 5


def _free_port() -> int:
    # The kernel picks a free port; sshd binds it a moment later. Another
    # process may take it meanwhile: starting sshd is retried on failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackTestbed(TestbedBase):
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
    :param stock_limits: run sshd with Debian's stock limits
      (``MaxStartups 10:30:100``, ``MaxSessions 10``), as on real hosts:
      beyond 10 connections in their handshake at once, sshd drops new
      ones. Off by default (limits raised: a test about something else
      must not fail on them); reliability tests turn it on.

    Attributes once started: ``hosts`` (the alias names, node-i first),
    ``port``, ``ssh_config`` (path of the client config, for ``ssh -F``),
    ``keyfile``, ``user`` and ``connection_params``, a dict to give as
    ``connection_params=`` or to merge into the defaults with `install`.
    """

    def __init__(self, num_hosts: int = 10, extra_names: Sequence[str] = (),
                 workdir: Optional[str] = None, source_bashrc: bool = False,
                 client_options: Optional[Dict[str, str]] = None,
                 stock_limits: bool = False) -> None:
        super().__init__()
        if not os.path.exists(SSHD):
            raise RuntimeError("%s not found: install openssh-server to use a LoopbackTestbed"
                               % SSHD)
        self.hosts: List[str] = ["node-%d" % i for i in range(1, num_hosts + 1)]
        self.hosts += [name for name in extra_names if name not in self.hosts]
        self._given_workdir = workdir
        self.source_bashrc = source_bashrc
        self.client_options = dict(client_options or {})
        self.stock_limits = stock_limits
        self.workdir: Optional[str] = None
        self.port: Optional[int] = None
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.keyfile: Optional[str] = None
        self.ssh_config: Optional[str] = None
        self.sshd_config: Optional[str] = None
        self.sshd_log: Optional[str] = None
        self._sshd: Optional[Process] = None
        self._marker = b""

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
        self.connection_params = connection_params_for(self.ssh_config)
        return self

    def stop(self) -> None:
        """Kill sshd, every session and command it started; remove the files."""
        self.uninstall()
        self.kill_sshd()
        if self.workdir is not None and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

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
            tree = descendants(sshd.pid)
            signal_pids(tree, signal.SIGKILL)
            signal_pids(marked(self._marker), signal.SIGKILL)
            sshd.kill(signal.SIGKILL)
        sshd.wait(READY_TIMEOUT)

    def freeze_sshd(self) -> None:
        """SIGSTOP sshd and its sessions: connections stay open but nothing
        answers, as with a hung host. Undone by `thaw_sshd`."""
        if self._sshd is not None and self._sshd.running:
            self._sshd.kill(signal.SIGSTOP)
            signal_pids(descendants(self._sshd.pid), signal.SIGSTOP)

    def thaw_sshd(self) -> None:
        if self._sshd is not None and self._sshd.running:
            signal_pids(descendants(self._sshd.pid), signal.SIGCONT)
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
        self._host_key, self.keyfile = generate_keys(self.workdir)

    def _write_sshd_config(self, port: int) -> None:
        self.sshd_config = os.path.join(self.workdir, "sshd_config")
        set_env = [self._marker.decode()]
        if not self.source_bashrc:
            # bash sources ~/.bashrc for a top-level shell started by sshd,
            # and only then; SHLVL=1 makes the login shell a second-level
            # one, so a node of the test bed costs what a fresh cluster node
            # costs, not what this machine's interactive setup costs.
            set_env.append("SHLVL=1")
        lines = sshd_config_lines(["127.0.0.1:%d" % port], self._host_key, self.keyfile,
                                  set_env, pid_file=os.path.join(self.workdir, "sshd.pid"),
                                  stock_limits=self.stock_limits)
        with open(self.sshd_config, "w") as config_file:
            config_file.write("\n".join(lines) + "\n")

    def _start_sshd_on_free_port(self) -> None:
        errors = []
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            error = self._try_start_sshd(port)
            if error is not None and make_privsep_directory(error):
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
        self._sshd, error = start_sshd([SSHD, "-D", "-e", "-f", self.sshd_config],
                                       self.sshd_log)
        return error

    def _write_client_config(self) -> None:
        self.ssh_config = os.path.join(self.workdir, "ssh_config")
        entries = [ssh_host_entry(name, "127.0.0.1", self.port, self.user, self.keyfile,
                                  self.client_options) for name in self.hosts]
        with open(self.ssh_config, "w") as config_file:
            config_file.write("\n\n".join(entries) + "\n")

    def __repr__(self) -> str:
        return "LoopbackTestbed(hosts=%d, port=%s, ssh_config=%r%s)" % (
            len(self.hosts), self.port, self.ssh_config,
            ", stock_limits=True" if self.stock_limits else "")
