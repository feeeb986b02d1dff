"""The ``execo`` command behaves like the tools it replaces (clush, pdsh):
stdin forwarded or empty, never a hang; lines streamed as they arrive;
``get`` never loses a host's file; scp's own words on a failed copy;
Ctrl-C ends with 130 and one line; host sets checked before anything runs.

Each test runs the real command (``python -m execo``) on the loopback test
bed, under coreutils' ``timeout`` (and subprocess's): a hang is a failure,
never a stuck suite.
"""

import os
import pty
import select
import signal
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 60


def _argv(testbed, args):
    return (["timeout", str(TIMEOUT), sys.executable, "-m", "execo", args[0], "-F",
             testbed.ssh_config] + list(args[1:]))


def _env(**extra):
    return dict(os.environ, PYTHONPATH=REPO, **extra)


def execo(testbed, *args, stdin=subprocess.DEVNULL, input=None, env=None, cwd=None):
    if input is not None:
        stdin = None
    return subprocess.run(_argv(testbed, args), stdin=stdin, input=input, cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=TIMEOUT + 30,
                          env=env or _env())


# ---- stdin ---------------------------------------------------------------------------------

def test_a_piped_stdin_reaches_every_host(testbed):
    done = execo(testbed, "run", "-w", "node-[1-3]", "cat", input="x\ny\n")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted(
        "node-%d: %s" % (i, line) for i in (1, 2, 3) for line in "xy")


def test_a_stdin_larger_than_a_pipe_reaches_every_host(testbed):
    data = "".join("line %06d\n" % i for i in range(20000))  # 240 kB
    done = execo(testbed, "run", "-w", "node-[1-3]", "-b", "md5sum", input=data)
    assert done.returncode == 0, done.stderr
    import hashlib
    assert hashlib.md5(data.encode()).hexdigest() in done.stdout
    assert "node-[1-3] (3)" in done.stdout


def test_stdin_from_dev_null_is_an_empty_stdin(testbed):
    done = execo(testbed, "run", "-w", "node-[1-3]", "cat; echo end", stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["node-%d: end" % i for i in (1, 2, 3)]


def test_no_stdin_gives_an_empty_stdin_even_when_some_is_piped(testbed):
    done = execo(testbed, "run", "--no-stdin", "-w", "node-[1-2]", "cat; echo end",
                 input="not for the hosts\n")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["node-1: end", "node-2: end"]


def test_a_terminal_as_stdin_gives_an_empty_stdin(testbed):
    master, slave = pty.openpty()  # nobody ever types on it
    try:
        done = execo(testbed, "run", "-w", "node-[1-2]", "cat; echo end", stdin=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["node-1: end", "node-2: end"]


def test_an_idle_stdin_that_never_ends_does_not_keep_the_command_alive(testbed):
    # a pipe whose writer stays open (a parent's): the hosts that do not read it end,
    # and so does execo; those that read it get what was written so far
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"early\n")
        done = execo(testbed, "run", "-w", "node-[1-2]", "head -n 1", stdin=read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["node-1: early", "node-2: early"]


def test_a_host_started_late_gets_the_whole_stdin(testbed):
    done = execo(testbed, "run", "--fanout", "1", "-w", "node-[1-3]", "-b", "cat",
                 input="one\ntwo\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["node-[1-3] (3)", "---------------", "one", "two"]


def test_a_command_ignoring_its_stdin_is_no_failure(testbed):
    data = "z" * 300000  # more than any pipe holds: some writes must fail
    done = execo(testbed, "run", "-w", "node-[1-3]", "true", input=data)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_through_taktuk_the_remote_commands_get_an_empty_stdin(testbed):
    done = execo(testbed, "run", "--tool", "taktuk", "-w", "node-[1-2]", "cat; echo end",
                 stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["node-1: end", "node-2: end"]


def test_through_taktuk_a_piped_stdin_is_refused_rather_than_dropped(testbed, tmp_path):
    done = execo(testbed, "run", "--tool", "taktuk", "-w", "node-[1-2]",
                 "touch %s/ran-{{{host}}}" % tmp_path, input="data\n")
    assert done.returncode == 2
    assert "--no-stdin" in done.stderr
    assert os.listdir(str(tmp_path)) == []


# ---- streaming -------------------------------------------------------------------------------

def _read_lines_until(stream, count, timeout=TIMEOUT):
    """The first ``count`` lines of ``stream``, read as they come; fails
    when they do not come within ``timeout``."""
    lines, buffer = [], b""
    fd = stream.fileno()
    while len(lines) < count:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, "no line within %d s; got %r" % (timeout, lines)
        chunk = os.read(fd, 4096)
        assert chunk, "end of output; got %r" % (lines,)
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        lines += [line.decode() for line in complete]
    return lines, buffer


def test_each_line_is_printed_as_it_arrives_prefixed_with_its_host(testbed, tmp_path):
    go = tmp_path / "go"
    command = ("echo first; echo warn >&2; while [ ! -e %s ]; do sleep 0.05; done; echo second"
               % go)
    child = subprocess.Popen(_argv(testbed, ["run", "-w", "node-[1-3]", command]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=REPO, env=_env())
    try:
        # the hosts are still running (they wait for `go`): these lines came early
        first, _ = _read_lines_until(child.stdout, 3)
        warnings, _ = _read_lines_until(child.stderr, 3)
        assert child.poll() is None
        assert sorted(first) == ["node-%d: first" % i for i in (1, 2, 3)]
        assert sorted(warnings) == ["node-%d: warn" % i for i in (1, 2, 3)]
        go.write_text("")
        rest, _ = child.communicate(timeout=TIMEOUT + 30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    assert sorted(rest.decode().splitlines()) == ["node-%d: second" % i for i in (1, 2, 3)]


def test_gathering_with_b_prints_once_at_the_end(testbed):
    done = execo(testbed, "run", "-w", "node-[1-3]", "-b", "echo same")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["node-[1-3] (3)", "---------------", "same"]


# ---- get and put ------------------------------------------------------------------------------

def test_get_from_several_hosts_into_one_destination_is_refused_before_any_copy(testbed,
                                                                               tmp_path):
    source = tmp_path / "source"
    source.write_text("data\n")
    destination = tmp_path / "here"
    destination.mkdir()
    done = execo(testbed, "get", "-w", "node-[1-3]", str(source), str(destination))
    assert done.returncode == 2
    assert "{{{host}}}" in done.stderr and "overwrite" in done.stderr
    assert os.listdir(str(destination)) == []


def test_get_with_host_in_the_destination_keeps_each_hosts_file(testbed, tmp_path):
    for i in (1, 2, 3):
        (tmp_path / ("log-node-%d" % i)).write_text("from node-%d\n" % i)
    done = execo(testbed, "get", "-w", "node-[1-3]", str(tmp_path / "log-{{{host}}}"),
                 str(tmp_path / "got" / "{{{host}}}") + "/")
    assert done.returncode == 0, done.stderr
    for i in (1, 2, 3):
        got = tmp_path / "got" / ("node-%d" % i) / ("log-node-%d" % i)
        assert got.read_text() == "from node-%d\n" % i


def test_get_of_files_named_by_their_host_may_share_a_destination(testbed, tmp_path):
    for i in (1, 2):
        (tmp_path / ("out-node-%d" % i)).write_text("%d\n" % i)
    (tmp_path / "here").mkdir()
    done = execo(testbed, "get", "-w", "node-[1-2]", str(tmp_path / "out-{{{host}}}"),
                 str(tmp_path / "here"))
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(str(tmp_path / "here"))) == ["out-node-1", "out-node-2"]
    # a host in a directory of the source only: the same file name for all, refused
    refused = execo(testbed, "get", "-w", "node-[1-2]", str(tmp_path / "{{{host}}}" / "log"),
                    str(tmp_path / "here"))
    assert refused.returncode == 2 and "overwrite" in refused.stderr


def test_get_from_one_host_needs_no_host_in_the_destination(testbed, tmp_path):
    (tmp_path / "one").write_text("1\n")
    (tmp_path / "here").mkdir()
    done = execo(testbed, "get", "-w", "node-1", str(tmp_path / "one"), str(tmp_path / "here"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "here" / "one").read_text() == "1\n"


def test_a_failed_get_says_scps_own_message(testbed, tmp_path):
    done = execo(testbed, "get", "-w", "node-[1-2]", str(tmp_path / "missing"),
                 str(tmp_path / "{{{host}}}") + "/")
    assert done.returncode == 1
    failure = done.stderr.splitlines()[-1]
    assert failure.startswith("execo: node-[1-2] (2): exit 1: ")
    assert "No such file or directory" in failure, done.stderr


def test_a_failed_put_says_scps_own_message(testbed, tmp_path):
    source = tmp_path / "source"
    source.write_text("data\n")
    done = execo(testbed, "put", "-w", "node-[1-2]", str(source),
                 str(tmp_path / "no" / "such" / "dir") + "/")
    assert done.returncode == 1
    failure = done.stderr.splitlines()[-1]
    assert failure.startswith("execo: node-[1-2] (2): exit 1: "), done.stderr
    assert "No such file or directory" in failure or "Not a directory" in failure, done.stderr


# ---- Ctrl-C ----------------------------------------------------------------------------------

def test_ctrl_c_kills_the_hosts_commands_and_exits_130_with_one_line(testbed, tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-m", "execo", "run", "-F", testbed.ssh_config, "-w", "node-[1-3]",
         "echo started; exec sleep 120"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, cwd=REPO, env=_env())
    try:
        started, _ = _read_lines_until(child.stdout, 3)
        assert sorted(started) == ["node-%d: started" % i for i in (1, 2, 3)]
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("execo: interrupted"), lines
    assert "3 running hosts killed" in lines[0]


# ---- host sets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["host[a-c]", "node-[1-", "node-1,host[a-c]", "a;b", "a b",
                                  "-oProxyCommand=x", "node-1,$(touch x)"])
def test_a_malformed_host_set_is_refused_before_anything_runs(testbed, tmp_path, spec):
    done = execo(testbed, "run", "--hosts=" + spec, "touch %s/ran-{{{host}}}" % tmp_path)
    assert done.returncode == 2, done.stderr
    assert "execo: error:" in done.stderr and repr(spec) in done.stderr
    assert "usage: ssh" not in done.stderr and "resolve" not in done.stderr
    assert done.stdout == ""
    assert os.listdir(str(tmp_path)) == []


def test_a_malformed_host_file_line_is_refused_naming_the_line(testbed, tmp_path):
    hostfile = tmp_path / "nodes"
    hostfile.write_text("node-1\nnode 2\n")
    done = execo(testbed, "run", "-f", str(hostfile), "touch %s/ran-{{{host}}}" % tmp_path)
    assert done.returncode == 2
    assert "%s, line 2" % hostfile in done.stderr
    assert sorted(os.listdir(str(tmp_path))) == ["nodes"]


def _group_config(directory, groups):
    directory.mkdir()
    (directory / "groups.conf").write_text(
        "[Main]\ndefault: bed\n\n[bed]\nmap: sed -n 's/^$GROUP: *//p' $CFGDIR/groups\n")
    (directory / "groups").write_text("".join("%s: %s\n" % item for item in groups.items()))
    return str(directory)


def test_a_group_is_resolved_through_clustershells_groups_conf(testbed, tmp_path):
    config = _group_config(tmp_path / "clustershell", {"compute": "node-[1-3]",
                                                       "front": "host1"})
    done = execo(testbed, "run", "-w", "@compute,@front", "-x", "node-2", "-b", "echo ok",
                 env=_env(CLUSTERSHELL_CFGDIR=config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["host1,node-[1,3] (3)", "-" * 20, "ok"]


def test_an_unknown_group_is_a_clear_error_naming_the_group_configuration(testbed, tmp_path):
    config = _group_config(tmp_path / "clustershell", {"compute": "node-[1-3]"})
    done = execo(testbed, "run", "-w", "@nosuchgroup", "touch %s/ran" % tmp_path,
                 env=_env(CLUSTERSHELL_CFGDIR=config))
    assert done.returncode == 2
    assert "'@nosuchgroup'" in done.stderr and "groups.conf" in done.stderr
    assert "usage: ssh" not in done.stderr
    assert not (tmp_path / "ran").exists()


def test_a_group_naming_a_non_host_is_refused(testbed, tmp_path):
    config = _group_config(tmp_path / "clustershell", {"bad": "node-1,x;touch y"})
    done = execo(testbed, "run", "-w", "@bad", "true", env=_env(CLUSTERSHELL_CFGDIR=config))
    assert done.returncode == 2
    assert "';'" in done.stderr
