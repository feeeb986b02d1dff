"""The exit watchdog's own program (execo.exit_watchdog), run as it runs:
awk, fed a ledger, acting when its bell pipe ends. The ids it must skip are
beyond the kernel's pid_max, so that they can name no process."""

import os
import shutil
import subprocess

import pytest

from execo import exit_watchdog


def _pid_max():
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


def _run_watchdog(ledger: bytes, ending: str = exit_watchdog.ENDING_SCRIPT) -> bytes:
    """Run the watchdog program on ``ledger``, its bell already ended; what
    it printed."""
    awk = shutil.which("awk")
    bell_read, bell_write = os.pipe()
    os.close(bell_write)
    try:
        return subprocess.run([awk, "-v", "ending=" + ending, exit_watchdog.WATCHDOG_PROGRAM],
                              input=ledger, check=True, capture_output=True,
                              pass_fds=(bell_read,), timeout=60,
                              preexec_fn=lambda: os.dup2(bell_read, 3)).stdout
    finally:
        os.close(bell_read)


def _group_leader():
    """A sleep in a session of its own: a process group to be killed."""
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def test_it_kills_a_group_among_thousands_of_ids():
    """30 000 ids are some 270 kB: more than one argument may hold (128 kB),
    so they must reach the ending shell otherwise."""
    fake = [_pid_max() + 1000 + i for i in range(30000)]
    assert min(fake) > _pid_max()
    leader = _group_leader()
    try:
        ledger = b"".join(b"+%d\n" % i for i in fake[:15000]) + b"+%d\n" % leader.pid \
            + b"".join(b"+%d\n" % i for i in fake[15000:]) + b"g0.5\n"
        _run_watchdog(ledger)
        assert leader.wait(10) == -15  # SIGTERM
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


def test_an_ended_child_and_a_disarmed_watchdog_kill_nothing():
    leader = _group_leader()
    try:
        _run_watchdog(b"+%d\n-%d\n" % (leader.pid, leader.pid))
        _run_watchdog(b"+%d\nk0\n" % leader.pid)
        assert leader.poll() is None
    finally:
        leader.kill()
        leader.wait()


@pytest.mark.parametrize("line", [b"+0", b"+1", b"=1", b"=0", b"+-1", b"+x"])
def test_it_never_signals_every_process_nor_init(line):
    """``kill -TERM -1`` would end every process we may signal: ids 0 and 1,
    and what is not a number, are never taken. The ending here only prints
    the ids it is given (a broken guard must not kill the test run)."""
    ids = _run_watchdog(line + b"\n+%d\n" % (_pid_max() + 1), ending="read -r ids; echo $ids")
    assert ids.split() == [b"-%d" % (_pid_max() + 1)]
