"""Nothing a user passes as data becomes a command or an option.

Payloads (``; touch X #``, ``$(touch X)``, a leading ``-o...``) go through
Remote, TaktukRemote, SshProcess, Put, Get and the substitution helper
`quoted` on the real loopback sshd; no X may appear anywhere: not in the
local working directories, not in the remote home, not in the destination
directories. Hosts are ssh aliases of the same machine, so "remote" files
are checked on the local file system.
"""

import os
import shlex
import socket
import subprocess
import sys

import pytest

from execo import (ChainPut, Get, Host, Put, Remote, SshProcess, TaktukGet, TaktukPut,
                   TaktukRemote, get_hosts_list)
from execo.substitution import literal
from execo.connection import make_connection_params, connection_target
from execo.ssh import scp_command, ssh_command, ssh_failure_reason
from tests.old_execo import run_old_execo
from tests.quick_retries import QUICK_RETRIES

pytestmark = pytest.mark.timeout(180)

HOSTS = ["node-1", "node-2"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def mark(tmp_path):
    """The absolute path that every payload tries to create."""
    return tmp_path / "X"


def payloads(target):
    return ["; touch %s #" % target, "$(touch %s)" % target, "`touch %s`" % target,
            "-oProxyCommand=touch %s" % target]


def no_x_anywhere(*directories):
    places = [os.path.expanduser("~"), os.getcwd()] + [str(d) for d in directories]
    found = [os.path.join(place, "X") for place in places
             if os.path.exists(os.path.join(place, "X"))]
    return found == [], found


# ---- host addresses ------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda h: Host(h),
    lambda h: get_hosts_list([h]),
    lambda h: SshProcess("true", h),
    lambda h: Remote("true", [h]),
    lambda h: TaktukRemote("true", [h]),
    lambda h: Put([h], ["/etc/hostname"], "/tmp/"),
    lambda h: Get([h], ["/etc/hostname"], "/tmp/"),
], ids=["Host", "get_hosts_list", "SshProcess", "Remote", "TaktukRemote", "Put", "Get"])
def test_a_host_address_starting_with_a_dash_is_refused(testbed, mark, make):
    with pytest.raises(ValueError, match="starts with '-'"):
        make("-oProxyCommand=touch %s" % mark)
    assert not mark.exists()


def test_a_host_rewritten_into_an_option_is_refused(testbed, mark):
    params = {'host_rewrite_func': lambda address: "-oProxyCommand=touch %s" % mark}
    with pytest.raises(ValueError, match="starts with '-'"):
        Remote("true", ["node-1"], connection_params=params)
    with pytest.raises(ValueError, match="starts with '-'"):
        connection_target("node-1", make_connection_params(params))
    assert not mark.exists()


def test_ssh_scp_and_taktuk_command_lines_end_their_options_before_the_host(testbed):
    argv = ssh_command(Host("n1", user="u", port=2222))
    assert argv[-2:] == ["--", "n1"]
    assert scp_command(None, Host("n1", port=2222))[-1] == "--"
    process = SshProcess("true", "node-1")
    process.run(timeout=60)
    assert process.ok
    assert process.real_cmd[process.real_cmd.index("node-1") - 1] == "--"
    put = Put(["node-1"], ["/etc/hostname"], "/tmp/")
    scp_argv = put.processes[0]._spawn_args()
    assert scp_argv[scp_argv.index("/etc/hostname") - 1] == "--"
    from execo.taktuk.driver import connector_command
    connector = connector_command(make_connection_params(), None, 2222, "u")
    assert shlex.split(connector)[-5:] == ["-l", "u", "-p", "2222", "--"]


def test_a_remote_command_that_looks_like_an_option_stays_a_remote_command(testbed, mark):
    # without the watchdog's prefix, the command is the argument after the
    # host: ssh parses options there unless they ended before the host
    params = {'kill_remote_on_disconnect': False}
    process = SshProcess("-oProxyCommand=touch %s" % mark, "node-1", connection_params=params,
                         nolog_exit_code=True).run(timeout=60)
    # the remote shell refuses it (bash: invalid option); ssh itself ran fine
    assert process.ended and process.exit_code not in (0, 255, None), process.dump()
    assert not mark.exists()


def test_a_taktuk_run_with_logins_connects_with_the_options_ended(testbed):
    hosts = [Host("node-1", user=testbed.user), "node-2"]
    remote = TaktukRemote("id -un", hosts).run(timeout=120)
    assert remote.ok, [p.dump() for p in remote.processes]
    assert [p.stdout for p in remote.processes] == ["%s\n" % testbed.user] * 2
    connectors = [remote.taktuk.cmd[i + 1] for i, word in enumerate(remote.taktuk.cmd)
                  if word == "-c"]
    assert connectors and all(c.endswith(" --") for c in connectors)


# ---- list commands ---------------------------------------------------------------

@pytest.mark.parametrize("transport", ["ssh", "remote", "taktuk"])
def test_a_list_command_is_one_word_per_item_on_the_remote_side(testbed, mark, transport):
    words = payloads(mark)
    cmd = ["printf", "%s\\n"] + words
    if transport == "ssh":
        outputs = [SshProcess(cmd, "node-1").run(timeout=60).stdout]
    elif transport == "remote":
        action = Remote(cmd, HOSTS).run(timeout=60)
        assert action.ok
        outputs = [p.stdout for p in action.processes]
    else:
        action = TaktukRemote(cmd, HOSTS).run(timeout=120)
        assert action.ok, [p.dump() for p in action.processes]
        outputs = [p.stdout for p in action.processes]
    assert outputs and all(out == "".join(w + "\n" for w in words) for out in outputs)
    assert not mark.exists()
    assert no_x_anywhere()[0]


def test_a_list_command_differs_from_execo_2_8_2_which_passed_items_raw(testbed):
    """Pins the documented difference (doc/migrating.rst): 2.8.2 handed the
    items to ssh unquoted, so the remote shell split and ran them."""
    cmd = ["echo", "a; echo second command"]
    ours = SshProcess(cmd, "node-1").run(timeout=60).stdout
    options = list(testbed.connection_params["ssh_options"])
    old = run_old_execo("""
import json
from execo import SshProcess
p = SshProcess(tuple(%r), "node-1", connection_params={"ssh_options": tuple(%r)}).run()
print(json.dumps(p.stdout.replace("\\r", "")))
""" % (cmd, options))
    assert ours == "a; echo second command\n"
    assert old == "a\nsecond command\n"


# ---- substitution ------------------------------------------------------------------

def test_quoted_keeps_each_substituted_value_one_word(testbed, mark):
    words = payloads(mark)[:3]
    hosts = (HOSTS * 2)[:len(words)]
    remote = Remote("printf '%s\\n' {{quoted(words)}}", hosts).run(timeout=60)
    assert remote.ok
    assert [p.stdout for p in remote.processes] == [w + "\n" for w in words]
    taktuk = TaktukRemote("printf '%s\\n' {{quoted(words)}}", hosts).run(timeout=120)
    assert taktuk.ok
    assert [p.stdout for p in taktuk.processes] == [w + "\n" for w in words]
    assert not mark.exists()
    from execo.substitution import quoted
    assert quoted("a b") == ["'a b'"]


def test_a_users_own_name_quoted_wins_in_expressions(testbed):
    def quoted(values):  # noqa: F811 - shadows execo's on purpose
        return ["mine"]
    remote = Remote("echo {{quoted([1])}}", ["node-1"])
    assert remote.processes[0].cmd == "echo mine"


# ---- Put and Get ---------------------------------------------------------------------

# the option first: scp stops parsing options at the first other word
FILE_PAYLOADS = ["-oProxyCommand=touch X", "; touch X #", "$(touch X)", "`touch X`"]


def test_put_and_get_take_file_names_with_payloads_as_paths(testbed, tmp_path):
    source = tmp_path / "source"
    remote_dir = tmp_path / "remote"
    back = tmp_path / "-back"  # a local destination starting with '-' too
    for directory in (source, remote_dir, back):
        directory.mkdir()
    for index, name in enumerate(FILE_PAYLOADS):
        (source / name).write_text("content %d\n" % index)
    put = Put(["node-1"], FILE_PAYLOADS, str(remote_dir) + "/", cwd=str(source)).run(timeout=60)
    assert put.ok, put.processes[0].dump()
    assert sorted(os.listdir(remote_dir)) == sorted(FILE_PAYLOADS)
    get = Get(["node-1"], [str(remote_dir / name) for name in FILE_PAYLOADS], "-back/",
              cwd=str(tmp_path)).run(timeout=60)
    assert get.ok, get.processes[0].dump()
    assert sorted(os.listdir(back)) == sorted(FILE_PAYLOADS)
    assert (back / "$(touch X)").read_text() == "content 2\n"
    ok, found = no_x_anywhere(tmp_path, source, remote_dir, back)
    assert ok, found


# ---- scp failures: the one classifier ------------------------------------------------

def test_scp_failures_are_classified_as_ssh_failures_are(testbed, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        host = Host("127.0.0.1", port=port)
        put = Put([host], ["/etc/hostname"], str(tmp_path), connection_params=QUICK_RETRIES,
                  nolog_error=True).run(timeout=60)
        get = Get([host], ["/etc/hostname"], str(tmp_path), connection_params=QUICK_RETRIES,
                  nolog_error=True).run(timeout=60)
        ssh = SshProcess("true", host, connection_params=QUICK_RETRIES,
                         nolog_error=True).run(timeout=60)
    for process in (put.processes[0], get.processes[0], ssh):
        assert process.error and process.exit_code == 255
        assert "nothing listens on the ssh port" in process.error_reason, process.error_reason
        assert "Connection refused" in process.error_reason


def test_scp_on_a_silent_host_names_the_timeout_not_the_closed_connection(testbed, tmp_path):
    params = {"scp_options": ("-o", "ConnectTimeout=2")
              + tuple(testbed.connection_params["scp_options"])}
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = Host("127.0.0.1", port=silent.getsockname()[1])
        get = Get([host], ["/etc/hostname"], str(tmp_path), connection_params=params,
                  nolog_error=True).run(timeout=60)
    reason = get.processes[0].error_reason
    assert "no ssh answer within ConnectTimeout" in reason, reason


@pytest.mark.parametrize("stderr, meaning", [
    ("ssh: connect to host h port 22: Connection refused\nscp: Connection closed\n",
     "nothing listens on the ssh port"),
    ("ssh: Could not resolve hostname h: Name or service not known\nscp: Connection closed\n",
     "unknown host name"),
    ("u@h: Permission denied (publickey).\nscp: Connection closed\n",
     "authentication refused"),
    ("ssh: connect to host h port 22: Connection timed out\nscp: Connection closed\n",
     "no ssh answer within ConnectTimeout"),
    ("Permission denied: a file of the command\nConnection to h closed by remote host.\n",
     "connection lost"),
])
def test_the_one_classifier_finds_the_cause_before_scps_last_line(stderr, meaning):
    for tool in ("ssh", "scp"):
        reason = ssh_failure_reason(Host("h"), stderr, tool=tool)
        assert reason.startswith("%s to 'h' failed (exit 255, %s)" % (tool, meaning)), reason


# ---- issue 28: every payload, every route --------------------------------------------------

# each would create PWN in the working directory of whatever runs it: the
# test's (the local shell, the Python of {{...}}), or a host's home
PAYLOADS = ["; touch PWN #", "$(touch PWN)", "`touch PWN`", "| touch PWN",
            "{{[__import__('os').system('touch PWN')]}}"]


def _execo_cli(testbed, *args, cwd):
    return subprocess.run([sys.executable, "-m", "execo", args[0], "-F", testbed.ssh_config]
                          + list(args[1:]), cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=REPO))


# without spaces too: taktuk always refused those in a host
HOST_PAYLOADS = PAYLOADS + [p.replace(" ", "${IFS}") for p in PAYLOADS]


def _hosts_refused(make):
    for payload in HOST_PAYLOADS:
        with pytest.raises(ValueError, match="host address"):
            make("node-1" + payload)


def _cli_hosts_refused(testbed, cwd):
    for payload in HOST_PAYLOADS:
        done = _execo_cli(testbed, "run", "-w", "node-1" + payload, "true", cwd=cwd)
        assert done.returncode == 2 and "host address" in done.stderr, done.stderr
        hostfile = cwd / "hosts"
        hostfile.write_text("node-1\nnode-2%s\n" % payload)
        done = _execo_cli(testbed, "run", "-f", str(hostfile), "true", cwd=cwd)
        assert done.returncode == 2 and "host address" in done.stderr, done.stderr


def _list_command_is_data(action_class):
    action = action_class(["printf", "%s\\n"] + PAYLOADS, HOSTS).run(timeout=120)
    assert action.ok, [p.dump() for p in action.processes]
    assert [p.stdout for p in action.processes] == ["".join(w + "\n" for w in PAYLOADS)] * 2


def _names_are_data(action_class, cwd):
    """Files named by the payloads, as a node's ``ls`` would list them,
    copied with `literal`: each arrives under its own name."""
    # the destination directory's name holds every payload too
    source, destination = cwd / "source", cwd / ("to" + "".join(PAYLOADS[:-1]))
    source.mkdir()
    destination.mkdir()
    for index, name in enumerate(PAYLOADS):
        (source / name).write_text("content %d\n" % index)
    listed = Remote(["ls", "-1", "--", str(source)], ["node-1"]).run(timeout=60)
    names = listed.processes[0].stdout.splitlines()
    assert sorted(names) == sorted(PAYLOADS)
    paths = [literal(str(source / name)) for name in names]
    action = action_class(HOSTS[:1], paths, literal(str(destination) + "/"))
    action.run(timeout=120)
    assert action.ok, [p.dump() for p in action.processes]
    assert sorted(os.listdir(destination)) == sorted(PAYLOADS)
    assert (destination / PAYLOADS[-1]).read_text() == "content 4\n"


def _taktuk_refuses_names_with_shell_syntax(action_class, cwd):
    """taktuk hands file names to a shell and to Perl's open: those that
    would be code there are refused; the others are copied as data."""
    for name in PAYLOADS[:-1]:
        for names, location in (([literal(str(cwd / name))], str(cwd) + "/"),
                                ([str(cwd / name)], str(cwd) + "/"),
                                (["/etc/hostname"], literal(str(cwd / name)))):
            with pytest.raises(ValueError, match="cannot be given to taktuk"):
                action_class(HOSTS[:1], names, location)
    with pytest.raises(ValueError, match="cannot be given to taktuk"):
        action_class(HOSTS[:1], [literal(str(cwd / "$HOME"))], str(cwd))
    template = PAYLOADS[-1]  # no shell syntax: a literal name taktuk copies as is
    (cwd / "from").mkdir()
    (cwd / "to").mkdir()
    (cwd / "from" / template).write_text("data\n")
    action = action_class(HOSTS[:1], [literal(str(cwd / "from" / template))],
                          literal(str(cwd / "to"))).run(timeout=120)
    assert action.ok, [p.dump() for p in action.processes]
    assert os.listdir(cwd / "to") == [template]


def _cli_names_are_data(testbed, cwd):
    source = cwd / "source"
    source.mkdir()
    for name in PAYLOADS[:-1]:
        (source / name).write_text(name)
    for verb, destination in (("put", "remote"), ("get", "back")):
        (cwd / destination).mkdir()
        origin = source if verb == "put" else cwd / "remote"
        done = _execo_cli(testbed, verb, "-w", "node-1",
                          *[str(origin / name) for name in PAYLOADS[:-1]],
                          str(cwd / destination) + "/", cwd=cwd)
        assert done.returncode == 0, done.stderr
        assert sorted(os.listdir(cwd / destination)) == sorted(PAYLOADS[:-1])
    # a template is code: the command line runs none
    for verb in ("put", "get"):
        done = _execo_cli(testbed, verb, "-w", "node-1", PAYLOADS[-1], str(cwd) + "/", cwd=cwd)
        assert done.returncode == 2 and "only {{{host}}} is replaced" in done.stderr, done.stderr
    done = _execo_cli(testbed, "run", "-w", "node-1", "echo", PAYLOADS[-1], cwd=cwd)
    assert done.returncode == 2 and "only {{{host}}} is replaced" in done.stderr, done.stderr


ROUTES = {
    "Remote-host": lambda t, cwd: _hosts_refused(lambda h: Remote("true", [h])),
    "TaktukRemote-host": lambda t, cwd: _hosts_refused(lambda h: TaktukRemote("true", [h])),
    "TaktukPut-host": lambda t, cwd: _hosts_refused(
        lambda h: TaktukPut([h], ["/etc/hostname"], "/tmp/")),
    "Put-host": lambda t, cwd: _hosts_refused(lambda h: Put([h], ["/etc/hostname"], "/tmp/")),
    "Get-host": lambda t, cwd: _hosts_refused(lambda h: Get([h], ["/etc/hostname"], "/tmp/")),
    "ChainPut-host": lambda t, cwd: _hosts_refused(
        lambda h: ChainPut(["node-2", h], ["/etc/hostname"], "/tmp/")),
    "cli-host": _cli_hosts_refused,
    "Remote-argv": lambda t, cwd: _list_command_is_data(Remote),
    "TaktukRemote-argv": lambda t, cwd: _list_command_is_data(TaktukRemote),
    "Put-names": lambda t, cwd: _names_are_data(Put, cwd),
    "Get-names": lambda t, cwd: _names_are_data(Get, cwd),
    "TaktukPut-names": lambda t, cwd: _taktuk_refuses_names_with_shell_syntax(TaktukPut, cwd),
    "TaktukGet-names": lambda t, cwd: _taktuk_refuses_names_with_shell_syntax(TaktukGet, cwd),
    "ChainPut-names": lambda t, cwd: _names_are_data(ChainPut, cwd),
    "cli-names": _cli_names_are_data,
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_no_payload_creates_a_file_through_any_route(testbed, tmp_path, monkeypatch, route):
    monkeypatch.chdir(tmp_path)
    home_before = os.path.exists(os.path.expanduser("~/PWN"))
    ROUTES[route](testbed, tmp_path)
    created = [str(p) for p in tmp_path.rglob("PWN")]
    if not home_before and os.path.exists(os.path.expanduser("~/PWN")):
        created.append("~/PWN")
    assert not os.path.exists(os.path.join(REPO, "PWN"))
    assert created == []


def test_get_expands_patterns_by_default_and_fetches_a_literal_name_as_is(testbed, tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    for name in ("a[1]", "a1", "b.log", "c.log"):
        (remote / name).write_text(name)
    for kind in ("pattern", "literal", "logs"):
        (tmp_path / kind).mkdir()
    # 2.x's remote shell expanded them, and scripts rely on it
    assert Get(["node-1"], [str(remote / "a[1]")], str(tmp_path / "pattern")).run(timeout=60).ok
    assert os.listdir(tmp_path / "pattern") == ["a1"]
    assert Get(["node-1"], [str(remote / "*.log")], str(tmp_path / "logs")).run(timeout=60).ok
    assert sorted(os.listdir(tmp_path / "logs")) == ["b.log", "c.log"]
    get = Get(["node-1"], [literal(str(remote / "a[1]"))], str(tmp_path / "literal"))
    assert get.run(timeout=60).ok, get.processes[0].dump()
    assert os.listdir(tmp_path / "literal") == ["a[1]"]
    missing = Get(["node-1"], [literal(str(remote / "*.txt"))], str(tmp_path / "literal"),
                  nolog_exit_code=True).run(timeout=60)
    assert not missing.ok
