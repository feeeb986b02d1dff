"""Inputs that used to give a silent wrong result give a clear error, or do
what they say (issue 28, §3). Building actions connects nowhere: no sshd."""

import os
import stat
import subprocess
import sys

import pytest

from execo import (Local, ParallelActions, Process, Put, Remote, Report, SequentialActions,
                   TaktukRemote, wait_all_actions, wait_any_actions)
from execo.host import Host, check_address
from execo.nodeset import MAX_EXPANDED_HOSTS

pytestmark = pytest.mark.timeout(120)

NAN = float("nan")


# ---- nan -------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: Local("cat", default_expect_timeout=NAN),
    lambda: Remote("cat", ["node-1"], default_expect_timeout=NAN),
    lambda: ParallelActions([Local("cat")], default_expect_timeout=NAN),
    lambda: Process("cat", default_expect_timeout=NAN),
], ids=["Local", "Remote", "ParallelActions", "Process"])
def test_an_actions_nan_default_expect_timeout_is_refused(make):
    with pytest.raises(ValueError, match="default_expect_timeout cannot be nan"):
        make()


def test_an_actions_expect_with_a_nan_timeout_is_refused():
    action = Local("cat")
    with pytest.raises(ValueError, match="cannot be nan"):
        action.expect("x", timeout=NAN)


@pytest.mark.parametrize("wait", [wait_all_actions, wait_any_actions])
def test_waiting_for_actions_with_a_nan_timeout_is_refused(wait):
    action = Local("true").run(timeout=30)
    assert action.ok
    with pytest.raises(ValueError, match="a wait's timeout cannot be nan"):
        wait([action], timeout=NAN)


# ---- output handlers -----------------------------------------------------------------

def test_a_single_path_as_stdout_handlers_is_one_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    process = Process("echo hello", stdout_handlers="out.txt").run(timeout=30)
    assert process.ok
    assert os.listdir(tmp_path) == ["out.txt"]
    assert (tmp_path / "out.txt").read_text() == "hello\n"


def test_a_single_handler_or_path_is_a_list_of_one_for_actions_too():
    remote = Remote("true", ["node-1", "node-2"], stdout_handlers="out-{{{host}}}.txt",
                    stderr_handlers=sys.stderr)
    assert [p.stdout_handlers for p in remote.processes] == [["out-node-1.txt"],
                                                              ["out-node-2.txt"]]
    assert [p.stderr_handlers for p in remote.processes] == [[sys.stderr]] * 2


@pytest.mark.parametrize("make", [
    lambda: Process("true", stdout_handlers=[3.5]),
    lambda: Process("true", stdout_handlers=[True]),
    lambda: Local("true", stdout_handlers=[object()]),
    lambda: Remote("true", ["node-1"], stdout_handlers=[3.5]),
    lambda: TaktukRemote("true", ["node-1"], process_args={"stdout_handlers": [None]}),
], ids=["Process", "bool", "Local", "Remote", "TaktukRemote"])
def test_a_handler_of_a_wrong_type_is_refused_at_construction(make):
    with pytest.raises(TypeError, match="stdout_handlers: .* is neither a ProcessOutputHandler"):
        make()


# ---- taktuk and NUL ----------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["echo a\0b", ["echo", "a\0b"]])
def test_a_taktuk_command_holding_a_nul_byte_is_refused(cmd):
    with pytest.raises(ValueError, match="holds a NUL byte"):
        TaktukRemote(cmd, ["node-1"])


# ---- Report.save --------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_results_follow_the_umask(tmp_path, umask, mode):
    report = Report([Local("true").run(timeout=30)])
    old = os.umask(umask)
    try:
        report.save(str(tmp_path / "results.json"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "results.json").st_mode) == mode


def test_saved_results_keep_the_mode_of_the_file_they_replace(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{}")
    os.chmod(path, 0o640)
    Report([Local("true").run(timeout=30)]).save(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


# ---- wrong types name the argument -----------------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (lambda: Put(["node-1"], [None], "/tmp/"), "Put: file names are strings, not None"),
    (lambda: Put(["node-1"], ["f"], None), "Put: file names are strings, not None"),
    (lambda: ParallelActions([1, 2]), "ParallelActions takes actions, not 1"),
    (lambda: SequentialActions([Local("true"), "x"]), "SequentialActions takes actions"),
    (lambda: Process("true", env="A=1"), "env maps variable names to values"),
    (lambda: Remote("true", None), "hosts are a host, a node set or an iterable"),
    (lambda: Remote(None, ["node-1"]), "a command is a string"),
    (lambda: Local(None), "a command is a string"),
    (lambda: Remote("true", ["node-1"], connection_params="x"), "connection_params is a mapping"),
    (lambda: Remote("true", ["node-1"], process_args=["x"]), "process_args is a dict"),
], ids=["Put-files", "Put-location", "ParallelActions", "SequentialActions", "env", "hosts",
        "Remote-cmd", "Local-cmd", "connection_params", "process_args"])
def test_wrong_types_given_to_constructors_name_the_argument(make, words):
    with pytest.raises(TypeError) as info:
        make()
    assert words in str(info.value)


# ---- host addresses --------------------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "n1;touch${IFS}X", "n1$(touch X)", "n1`touch X`", "n1|touch X", "n1&&x", "n1>x", "a b",
    "{{x}}", "a@b@c", "node-[1-2]", "[node-1]", "a,b", "n/1", "n1\n", "n\x00", "é"])
def test_a_host_address_outside_names_and_ip_addresses_is_refused(address):
    with pytest.raises(ValueError, match="host address .* a host address is letters, digits"):
        check_address(address)
    with pytest.raises(ValueError, match="host address"):
        Host(address)


@pytest.mark.parametrize("address", [
    "node-1", "griffon-1.nancy.grid5000.fr", "u@node_1", "127.0.0.1", "::1", "fe80::1%eth0",
    "[::1]", "root@[2001:db8::1]"])
def test_names_and_ip_addresses_are_accepted(address):
    assert Host(address).address == address


def test_ssh_gets_a_bracketed_ipv6_literal_bare_and_taktuk_refuses_it_clearly():
    argv = Remote("true", [Host("[::1]", user="u")]).processes[0]._spawn_args()
    assert argv[argv.index("--") + 1] == "::1"
    with pytest.raises(ValueError, match=r"cannot be given to taktuk.*without them \('::1'\)"):
        TaktukRemote("true", ["[::1]"])


# ---- big node sets ---------------------------------------------------------------------------

def test_a_node_set_too_big_to_expand_is_refused_before_expanding():
    # in a child with bounded memory, so that the old code (expanding it
    # all) fails with MemoryError there instead of filling this machine
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from execo import Remote\n"
            "try:\n"
            "    Remote('true', 'node-[1-1000000000]')\n"
            "except ValueError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=100, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert out.returncode == 0, out.stderr[-2000:]
    assert ("node set 'node-[1-1000000000]' holds up to 1000000000 hosts, more than execo "
            "expands (%d)" % MAX_EXPANDED_HOSTS) in out.stdout
