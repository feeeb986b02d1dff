"""Ctrl-C in run() kills what it started; in wait(), it leaves it running.

A script runs a Remote (loopback sshd) and a Local in a ParallelActions and
gets a real SIGINT once their commands are seen in ``ps``. It catches the
KeyboardInterrupt, reports its processes' states and stays alive (so that
what we see is run()'s doing, not the clean-up at exit) until we close its
stdin.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.timeout(120)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""\
    import json, sys
    from execo import Local, ParallelActions, Process, Remote, default_connection_params
    from execo.testbed.base import connection_params_for
    default_connection_params.update(connection_params_for(sys.argv[1]))
    hosts, mark, mode = sys.argv[2].split(","), sys.argv[3], sys.argv[4]
    if mode.startswith("process"):
        target = Process("sleep 1001.%s" % mark)
    else:
        target = ParallelActions([Remote("sleep 1000.%s" % mark, hosts),
                                  Local("sleep 1001.%s" % mark)])
    try:
        if mode.endswith("run"):
            target.run()
        else:
            target.start().wait()
    except KeyboardInterrupt:
        processes = getattr(target, "processes", [target])
        print(json.dumps([[p.running, p.killed] for p in processes]), flush=True)
    sys.stdin.read()
""")


def commands_running(mark):
    """The command lines of our marked sleeps, local and remote (the
    loopback sshd's children), one per process."""
    out = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    return sorted(line.strip() for line in out.splitlines()
                  if line.strip() in ("sleep 1000.%s" % mark, "sleep 1001.%s" % mark))


def poll(predicate, limit=15.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def interrupted(testbed, mode, expected_commands, check):
    """Run the script in ``mode``, SIGINT it once its commands run, and
    call ``check(mark, states)`` while it is still alive."""
    mark = "%d%d" % (os.getpid(), int(time.time() * 1000) % 100000)
    script = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, testbed.ssh_config,
         ",".join(str(h) for h in testbed.hosts[:2]), mark, mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    try:
        assert poll(lambda: len(commands_running(mark)) == expected_commands), \
            commands_running(mark)
        script.send_signal(signal.SIGINT)
        states = json.loads(script.stdout.readline())
        check(mark, states)
    finally:
        # only now may the script exit (its exit clean-up kills what is left)
        script.stdin.close()
        script.wait(30)


def test_ctrl_c_in_run_kills_local_and_remote_commands(testbed):
    def check(mark, states):
        assert states == [[False, True]] * 3
        assert poll(lambda: not commands_running(mark)), commands_running(mark)
    # two remote sleeps (one per host) and one local
    interrupted(testbed, "run", 3, check)


def test_ctrl_c_in_wait_leaves_everything_running(testbed):
    def check(mark, states):
        assert states == [[True, False]] * 3
        time.sleep(1.5)  # longer than the remote watchdog's period: it had its chance
        assert commands_running(mark) == ["sleep 1000.%s" % mark] * 2 + \
            ["sleep 1001.%s" % mark]
    interrupted(testbed, "wait", 3, check)


def test_ctrl_c_in_a_process_run_kills_it(testbed):
    def check(mark, states):
        assert states == [[False, True]]
        assert not commands_running(mark)
    interrupted(testbed, "process-run", 1, check)
