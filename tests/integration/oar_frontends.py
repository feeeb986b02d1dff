"""Grid5000-like frontends for the OAR tests: ssh aliases where OAR runs as its user.

Not a conftest: only the OAR and oargrid test modules use it. The real OAR
server comes from ``tests/oar`` (``ensure_oar_testbed``); this module adds
the frontends the experimenter's script talks to:

- a `LoopbackTestbed` sshd whose aliases (``nancy``, ``rennes``...) log in
  as the OAR test bed's submitting user (its authorized key lives in a
  world-readable directory, since sshd reads it as that user);
- aliases for frontends that do not answer: a TCP port bound but never
  listened on refuses connections, and nobody else can take it meanwhile;
- execo_g5k's configuration dicts set as a ``~/.execo.conf.py`` would set
  them (``default_frontend_connection_params`` with a ``host_rewrite_func``,
  ``g5k_configuration`` with small polling intervals), restored on exit.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import shutil
import socket
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, Optional, Sequence

import pytest

from execo.testbed import LoopbackTestbed
from execo_g5k.config import (default_frontend_connection_params, default_oarsh_oarcp_params,
                              g5k_configuration)
from execo_g5k.oar import get_oar_job_info, oardel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "oar"))
from oar_fixture import (OarTestbedUnavailable, ensure_oar_testbed,  # noqa: E402
                         run_as_user)
from tests.quick_retries import QUICK_RETRIES

_ENDED = ("Error", "Terminated")
# oardel during a launch can be lost (the job then runs anyway)
_LAUNCHING = ("toLaunch", "Launching", "toAckReservation")


def oar_testbed_or_skip() -> Dict[str, Any]:
    """The OAR test bed's description; skips where it cannot be built."""
    try:
        bed = ensure_oar_testbed()
    except OarTestbedUnavailable as exc:
        pytest.skip("no OAR test bed on this machine: %s" % (exc,))
    return bed


class _PathFirstTestbed(LoopbackTestbed):
    """A test bed whose sessions search ``directory`` first for commands:
    sshd's ``SetEnv`` (one line, the first one wins) gets a PATH too."""

    def __init__(self, directory: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path_first = directory

    def _write_sshd_config(self, port: int) -> None:
        super()._write_sshd_config(port)
        with open(self.sshd_config) as config:
            lines = config.read().splitlines()
        lines = [line + " PATH=%s:/usr/local/bin:/usr/bin:/bin" % (self.path_first,)
                 if line.startswith("SetEnv ") else line for line in lines]
        with open(self.sshd_config, "w") as config:
            config.write("\n".join(lines) + "\n")


class OarFrontends:
    """Frontend aliases reaching the OAR test bed as its user; a context manager."""

    _key_counter = itertools.count(1)

    def __init__(self, oar_bed: Dict[str, Any], names: Sequence[str],
                 unreachable: Sequence[str] = (), path_first: Optional[str] = None) -> None:
        self.oar_bed = oar_bed
        # a directory searched first for commands run on the frontends
        # (stand-ins of Grid5000-only tools; see _PathFirstTestbed)
        self.path_first = path_first
        self.user = oar_bed["user"]
        self.names = list(names)
        self.unreachable = list(unreachable)
        self.workdir: Optional[str] = None
        self.testbed: Optional[LoopbackTestbed] = None
        self._closed_port: Optional[socket.socket] = None
        self._saved: Dict[str, Dict[str, Any]] = {}

    def __enter__(self) -> "OarFrontends":
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="execo-oar-frontends-")
        os.chmod(self.workdir, 0o755)
        if self.path_first:
            self.testbed = _PathFirstTestbed(self.path_first, num_hosts=0,
                                             extra_names=self.names, workdir=self.workdir)
        else:
            self.testbed = LoopbackTestbed(num_hosts=0, extra_names=self.names,
                                           workdir=self.workdir)
        self.testbed.start()
        self._closed_port = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._closed_port.bind(("127.0.0.1", 0))
        port = self._closed_port.getsockname()[1]
        with open(self.testbed.ssh_config, "a") as config:
            for name in self.unreachable:
                config.write("\nHost %s\n    HostName 127.0.0.1\n    Port %d\n"
                             "    BatchMode yes\n" % (name, port))
        for name, target in (("g5k_configuration", g5k_configuration),
                             ("frontend", default_frontend_connection_params),
                             ("oarsh", default_oarsh_oarcp_params)):
            self._saved[name] = (target, copy.copy(target))
        g5k_configuration.update({
            'default_frontend': None, 'no_ssh_for_local_frontend': False,
            'polling_interval': 1, 'tiny_polling_interval': 0.5, 'default_timeout': 60,
            'oar_job_key_file': None,
            # the test bed's OAR server runs here: its dates are this machine's
            'oar_timezone': None,
        })
        default_frontend_connection_params.update({
            'user': self.user,
            # the tutorial's configuration example, with names that need no rewriting
            'host_rewrite_func': lambda host: host,
            'ssh_options': self.testbed.connection_params['ssh_options'],
            'scp_options': self.testbed.connection_params['scp_options'],
            # the unreachable frontends refuse: their failure is tested, not the retries
            **QUICK_RETRIES,
        })

    def __exit__(self, *exc_info: Any) -> None:
        for target, saved in self._saved.values():
            target.clear()
            target.update(saved)
        self._saved = {}
        if self.testbed is not None:
            self.testbed.stop()
        if self._closed_port is not None:
            self._closed_port.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @contextlib.contextmanager
    def job_key(self) -> Iterator[str]:
        """A new key pair of the OAR user, installed as the job key
        (``oar_job_key_file`` for oarsub, ``keyfile`` of
        ``default_oarsh_oarcp_params`` to reach the job's nodes). RSA: OAR
        2.5's oarsub rejects other key types."""
        path = "%s/.ssh/execo-tests/key-%d-%d" % (self.oar_bed["home"], os.getpid(),
                                                  next(self._key_counter))
        made = run_as_user("mkdir -p -m 700 %s && rm -f %s %s.pub && ssh-keygen -q -t rsa -b 2048 "
                           "-N '' -C execo-test -f %s"
                           % (os.path.dirname(path), path, path, path), timeout=30)
        assert made.returncode == 0, made.stderr
        saved = (g5k_configuration.get('oar_job_key_file'),
                 default_oarsh_oarcp_params.get('keyfile'))
        g5k_configuration['oar_job_key_file'] = path
        default_oarsh_oarcp_params['keyfile'] = path
        try:
            yield path
        finally:
            g5k_configuration['oar_job_key_file'], default_oarsh_oarcp_params['keyfile'] = saved
            for name in (path, path + ".pub"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)

    def wait_job_ended(self, job_id: int, frontend: str, timeout: float) -> Optional[str]:
        """Poll OAR (it has no notification) until the job is Error or
        Terminated; its final state, or None if it is still alive at ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            state = get_oar_job_info(job_id, frontend).get('state')
            if state in _ENDED or state is None:
                return state or "unknown"
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

    def delete_jobs(self, jobs: Sequence[Any], timeout: float) -> Dict[int, Optional[str]]:
        """oardel the jobs once none is being launched, then wait until they
        ended; their final states (None: still alive at ``timeout``)."""
        jobs = [(job_id, frontend) for job_id, frontend in jobs if job_id is not None]
        deadline = time.monotonic() + timeout
        for job_id, frontend in jobs:
            while (get_oar_job_info(job_id, frontend).get('state') in _LAUNCHING
                   and time.monotonic() < deadline):
                time.sleep(0.5)
        oardel(jobs)
        return {job_id: self.wait_job_ended(job_id, frontend,
                                            max(deadline - time.monotonic(), 1.0))
                for job_id, frontend in jobs}
