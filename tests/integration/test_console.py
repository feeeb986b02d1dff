"""The experimenter's console on the loopback test bed: node sets reaching
real hosts, gathered answers of real ssh processes, a progress bar drawn
on a real pseudo-terminal, and the ``execo`` command run as a user would."""

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

from execo import Host, Remote, filter_bad_hosts
from execo.gather import gather

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_node_set_reaches_each_of_its_hosts(testbed):
    action = Remote("echo {{{host}}}", "node-[1-12],host1").run()
    assert action.ok
    assert [p.stdout for p in action.processes] == [
        "node-%d\n" % i for i in range(1, 13)] + ["host1\n"]


def test_answers_of_many_hosts_are_gathered_and_failures_grouped_by_reason(testbed):
    hosts = ["node-%d" % i for i in range(1, 21)]
    hosts[4] = Host("node-5", port=1)    # nothing listens on port 1 of 127.0.0.1
    hosts[6] = Host("node-7", port=1)
    action = Remote("case {{{host}}} in node-1|node-2) echo odd; exit 3;; esac; echo same",
                    hosts, nolog_exit_code=True, nolog_error=True).run()
    gathered = action.gathered()
    assert [(str(n), o) for n, o in gathered] == [
        ("node-[3-4,6,8-20]", "same\n"), ("node-[1-2]", "odd\n"), ("node-[5,7]", "")]
    reasons = [(str(n), r) for n, r in gathered.failures]
    assert reasons[0] == ("node-[1-2]", "exit 3")
    assert reasons[1][0] == "node-[5,7]"
    assert "nothing listens on the ssh port" in reasons[1][1] and "node-5" not in reasons[1][1]
    # (node-5 and node-7 failed as Host(..., port=1), not as the names given here)
    assert filter_bad_hosts(action, "node-[1-4]") == ["node-3", "node-4"]
    # the saved results of the action gather the same
    assert str(gather(json.loads(action.to_json()))) == str(gathered)


# ---- progress on a pseudo-terminal -----------------------------------------------------

_PROGRESS_SCRIPT = textwrap.dedent("""\
    import sys, time
    from execo import Remote, default_connection_params
    from execo.testbed.base import connection_params_for
    default_connection_params.update(connection_params_for(sys.argv[1]))
    started = time.monotonic()
    action = Remote("sleep 2.5; test {{{host}}} != node-3", "node-[1-20]").run()
    sys.stdout.write("elapsed %.3f ok %s\\n" % (time.monotonic() - started, action.ok))
    """)


def _run_on_pty(args, sized=True, timeout=120):
    """Run ``args`` with stdin, stdout and stderr on a new pseudo-terminal
    (of 100x30 if ``sized``, else 0x0 as a fresh pty is); return everything
    the terminal received."""
    master, slave = pty.openpty()
    if sized:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    try:
        child = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=REPO,
                                 env=dict(os.environ, PYTHONPATH=REPO))
        os.close(slave)
        received = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child and its descendants closed the terminal
                break
            if not chunk:
                break
            received.append(chunk)
        assert child.wait(timeout=30) == 0
        return b"".join(received).decode("utf-8", "replace")
    finally:
        os.close(master)


@pytest.mark.parametrize("sized", [True, False], ids=["100x30", "unsized"])
def test_a_long_action_draws_a_bar_on_a_terminal_at_most_twice_a_second(testbed, tmp_path,
                                                                         sized):
    script = tmp_path / "progress.py"
    script.write_text(_PROGRESS_SCRIPT)
    screen = _run_on_pty([sys.executable, str(script), testbed.ssh_config], sized)
    elapsed = float(re.search(r"elapsed ([0-9.]+) ok False", screen).group(1))
    drawn = [frame for frame in re.split(r"[\r\n]", screen) if "%|" in frame]
    assert drawn, screen
    # the last frame: every host done, the one failure counted
    assert "20/20, failed 1 [" in drawn[-1], drawn[-1]
    # shown after the delay, refreshed every 0.5 s at most (+ first and last
    # frames, + one redraw after the log line)
    assert 2 <= len(drawn) <= 2 * elapsed + 4, (len(drawn), elapsed)
    # node-3's failure is logged on a line of its own: the bar was cleared
    # first (what stays visible of a line is what follows its last \r; the
    # terminal turns each \n into \r\n)
    logged = [line for line in screen.replace("\r\n", "\n").split("\n") if "exit 1" in line]
    assert logged and all("%|" not in line.split("\r")[-1] for line in logged), logged


def test_no_bar_when_stderr_is_not_a_terminal(testbed, tmp_path):
    script = tmp_path / "progress.py"
    script.write_text(_PROGRESS_SCRIPT)
    done = subprocess.run([sys.executable, str(script), testbed.ssh_config], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
                          text=True, timeout=120)
    assert "ok False" in done.stdout
    assert "proc" not in done.stderr and "%|" not in done.stderr


# ---- the execo command -------------------------------------------------------------------

def execo_cmd(testbed, *args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "execo", args[0], "-F", testbed.ssh_config]
                          + list(args[1:]), cwd=cwd or REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL,  # not the suite's: it is forwarded
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=REPO))


def test_execo_run_gathers_answers_and_exits_0_when_all_hosts_are_ok(testbed):
    done = execo_cmd(testbed, "run", "-w", "node-[1-6]", "-w", "host1", "-x", "node-4",
                     "-b", "echo", "hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("------------------------\nhost1,node-[1-3,5-6] (6)\n"
                           "------------------------\nhello\n")
    assert done.stderr == ""


def test_execo_run_prefixes_each_line_and_exits_1_naming_the_failed_hosts(testbed):
    done = execo_cmd(testbed, "run", "-w", "node-[1-4]",
                     "echo a; echo b >&2; test {{{host}}} != node-2")
    assert done.returncode == 1
    assert sorted(done.stdout.splitlines()) == ["node-%d: a" % i for i in range(1, 5)]
    assert "node-3: b" in done.stderr.splitlines()
    assert done.stderr.splitlines()[-1] == "execo: node-2 (1): exit 1"


def test_execo_run_json_is_the_results_format_and_timeout_kills(testbed):
    done = execo_cmd(testbed, "run", "-w", "node-[1-3]", "--json", "--timeout", "1",
                     "test {{{host}}} = node-1 || sleep 30")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["ok"] is False and [p["host"] for p in result["processes"]] == [
        "node-1", "node-2", "node-3"]
    assert [p["timeouted"] for p in result["processes"]] == [False, True, True]
    assert set(result["processes"][0]) >= {"type", "command", "exit_code", "error_reason",
                                           "stdout", "stderr", "duration"}
    assert "execo: node-[2-3] (2): timeout after 1 s" in done.stderr


def test_execo_put_then_get_copies_files_to_and_from_every_host(testbed, tmp_path):
    source = tmp_path / "data.txt"
    source.write_text("payload\n")
    remote = tmp_path / "remote"
    remote.mkdir()
    done = execo_cmd(testbed, "put", "-w", "node-[1-3]", "--fanout", "2", str(source),
                     str(remote) + "/")
    assert done.returncode == 0, done.stderr
    assert (remote / "data.txt").read_text() == "payload\n"
    done = execo_cmd(testbed, "get", "-w", "node-[1-3]", str(remote / "data.txt"),
                     "back/{{{host}}}/", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    for i in range(1, 4):
        assert (tmp_path / "back" / ("node-%d" % i) / "data.txt").read_text() == "payload\n"


def test_execo_without_hosts_is_a_usage_error(testbed):
    done = execo_cmd(testbed, "run", "true")
    assert done.returncode == 2 and "no host" in done.stderr


def test_execo_run_fanout_is_the_library_s_fan_out_limit(testbed):
    """With ``--fanout 1`` the hosts run one after the other: no host starts
    before the previous one has ended."""
    done = execo_cmd(testbed, "run", "-w", "node-[1-4]", "--fanout", "1", "--json",
                     "date +%s.%N; sleep 0.3; date +%s.%N")
    assert done.returncode == 0, done.stderr
    spans = sorted([float(t) for t in p["stdout"].split()]
                   for p in json.loads(done.stdout)["processes"])
    assert len(spans) == 4
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans
