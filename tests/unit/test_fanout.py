"""The fan-out limit (execo.fanout): processes over it wait, none fails.

The actions here run one local command per "host" through a transport of
the test's own (as doc/architecture.rst shows), so no sshd is needed; the
2 000-host case against the real sshd is in tests/integration/test_exit_and_fanout.py.
"""

import os
import subprocess
import sys
import threading

import pytest

from execo import ParallelActions, Process, configuration
from execo.host_action import HostCommand
from execo.process_base import ProcessLifecycleHandler


class LocalPerHost(HostCommand):
    def _new_process(self, cmd, host, args):
        process = Process(cmd, shell=True, **args)
        process.host = host
        return process


class ConcurrencyProbe(ProcessLifecycleHandler):
    """Counts, in the conductor thread, the processes running at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def start(self, process):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def end(self, process):
        with self.lock:
            if process.started:
                self.now -= 1


@pytest.fixture
def global_fanout():
    previous = configuration.get('fanout', 'auto')
    yield
    configuration['fanout'] = previous


def test_action_fanout_queues_processes_and_starts_timeouts_at_spawn():
    probe = ConcurrencyProbe()
    action = LocalPerHost("sleep 0.4", ["h"] * 8, fanout=2, timeout=1.5)
    for process in action.processes:
        process.lifecycle_handlers.append(probe)
    action.run()
    assert action.ok, action.processes
    assert [p.timeouted for p in action.processes] == [False] * 8
    assert probe.peak <= 2


def test_global_fanout_spans_concurrent_actions(global_fanout):
    configuration['fanout'] = 3
    probe = ConcurrencyProbe()
    actions = [LocalPerHost("sleep 0.2", ["h"] * 4) for _ in range(3)]
    for action in actions:
        for process in action.processes:
            process.lifecycle_handlers.append(probe)
    ParallelActions(actions).run()
    assert all(action.ok for action in actions)
    assert probe.peak <= 3


def test_processes_of_a_queued_action_can_be_waited_for_and_killed(global_fanout):
    configuration['fanout'] = 1
    action = LocalPerHost("sleep 30", ["h"] * 3).start()
    waiting = action.processes[2]
    assert not waiting.started
    action.kill().wait(20)
    waiting.wait(5)
    assert action.ended
    assert waiting.ended and waiting.killed and not waiting.started
    assert all(p.ok for p in action.processes)


def test_a_bad_fanout_is_refused_clearly():
    with pytest.raises(ValueError, match="fanout"):
        LocalPerHost("true", ["h"], fanout="many").run()


RAISED_LIMIT = r"""
import logging, resource
from execo import Process, configuration
from execo.fanout import fanout_limit
configuration['log_level'] = logging.DEBUG
Process("true").run()
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], fanout_limit())
"""


def test_the_soft_fd_limit_is_raised_with_a_debug_line_and_sets_the_auto_fanout():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(["prlimit", "--nofile=256:1024", sys.executable, "-c",
                             RAISED_LIMIT], cwd=repo, capture_output=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=repo))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.split() == [b"1024", b"179"]
    assert b"soft limit of open files raised from 256 to 1024" in result.stderr


TOO_MANY = r"""
from execo import Process, SshProcess
processes = [Process("sleep 2").start() for _ in range(40)]
# loopback only, should it ever be spawned
processes.append(SshProcess("sleep 2", "127.0.0.1", connection_params={"port": 9}).start())
for p in processes:
    p.kill()
    p.wait()
print([p.error_reason for p in processes if p.error_reason][-1])
"""


def test_too_many_open_files_names_the_program_and_the_way_out():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # processes started by hand are not queued: under 64 descriptors some fail
    result = subprocess.run(["prlimit", "--nofile=64:64", sys.executable, "-c", TOO_MANY],
                            cwd=repo, capture_output=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=repo))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == (
        "cannot start 'ssh': Too many open files (this interpreter's limit: 64): lower "
        "configuration['fanout'] or an action's fanout, or raise the limit")
