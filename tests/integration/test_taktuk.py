"""TaktukRemote, TaktukPut and TaktukGet on the real taktuk and the loopback sshd.

Every host is an alias of the session's sshd (fixture ``testbed``); faulty
hosts are aliases given a closed loopback port. All traffic stays on
127.0.0.1.
"""

import hashlib
import os
import select
import shutil
import socket

import pytest

from execo import TAKTUK, Host, Report, configuration, get_fileget, get_fileput, get_remote
from execo.taktuk import TaktukGet, TaktukPut, TaktukRemote

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("taktuk") is None, reason="taktuk is not installed")]


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_gone(pid, timeout=30):
    """True once process ``pid`` (not our child) has exited, seen through
    a pidfd: an event, not a polling sleep."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_each_of_20_hosts_gets_its_own_stdout_stderr_and_exit_code(testbed):
    hosts = testbed.hosts[:20]
    codes = list(range(20))  # noqa: F841 - read by {{codes}}
    remote = TaktukRemote("echo out {{{host}}}; echo err {{{host}}} >&2; exit {{codes}}",
                          hosts, ignore_exit_code=True).run(timeout=120)
    assert remote.ended and remote.ok
    assert [p.host.address for p in remote.processes] == hosts
    for index, (process, host) in enumerate(zip(remote.processes, hosts)):
        assert process.stdout == "out %s\n" % host
        assert process.stderr == "err %s\n" % host
        assert process.exit_code == index
        assert not process.error and process.finished_ok
    report = Report([remote]).to_string()
    assert "20" in report
    assert not remote.taktuk.running  # wait() also waits for the local taktuk


def test_non_zero_exit_codes_make_the_action_not_ok_and_show_in_report(testbed):
    remote = TaktukRemote("exit {{[0, 3]}}", testbed.hosts[:4]).run(timeout=120)
    assert [p.exit_code for p in remote.processes] == [0, 3, 0, 3]
    assert not remote.ok
    stats = Report([remote]).stats()
    assert stats['num_non_zero_exit_codes'] == 2 and stats['num_ok'] == 2


def test_unreachable_host_is_that_hosts_error_and_the_others_still_run(testbed, closed_port):
    hosts = ["node-1", Host("node-2", port=closed_port), "node-3"]
    remote = TaktukRemote("echo alive", hosts).run(timeout=120)
    good1, bad, good3 = remote.processes
    assert good1.ok and good1.stdout == "alive\n"
    assert good3.ok and good3.stdout == "alive\n"
    assert bad.error and not bad.ok and bad.exit_code is None
    assert "node-2" in bad.error_reason and "refused" in bad.error_reason
    assert "refused" in bad.stderr
    assert Report([remote]).stats()['num_errors'] == 1


def test_remote_command_killed_by_a_signal_has_a_negative_exit_code(testbed):
    remote = TaktukRemote("{{['true', 'kill -9 $$', 'echo fine']}}",
                          testbed.hosts[:3]).run(timeout=120)
    first, killed, third = remote.processes
    assert first.exit_code == 0 and third.stdout == "fine\n"
    assert killed.exit_code == -9 and killed.exit_signal == 9 and not killed.ok


def test_output_with_markers_binary_and_long_lines_reaches_the_right_host_intact(testbed):
    script = ("printf 'a\\036\\037O 1 5\\nfake!\\000\\377'; head -c 3000000 /dev/zero | tr '\\0' x;"
              "printf '\\036\\037S 2 0\\n' >&2")
    remote = TaktukRemote(script, testbed.hosts[:2]).run(timeout=120)
    assert remote.ok
    for process in remote.processes:
        assert process.stdout_bytes == b"a\x1e\x1fO 1 5\nfake!\x00\xff" + b"x" * 3000000
        assert process.stderr_bytes == b"\x1e\x1fS 2 0\n"


def test_hosts_with_their_own_user_and_port_work_in_one_call(testbed):
    hosts = [Host("node-1", user=testbed.user), "node-2",
             Host("node-3", port=testbed.port), Host("node-4", user=testbed.user,
                                                    port=testbed.port)]
    remote = TaktukRemote("id -un", hosts).run(timeout=120)
    assert remote.ok
    assert [p.stdout for p in remote.processes] == ["%s\n" % testbed.user] * 4
    # the login goes into the connector, before the '--' that ends its options
    assert "-l %s" % testbed.user in " ".join(remote.taktuk.cmd)
    assert "-p %d" % testbed.port in " ".join(remote.taktuk.cmd)


def test_killing_the_action_ends_every_host_and_their_remote_commands(testbed):
    remote = TaktukRemote("echo $$; exec sleep 300", testbed.hosts[:5]).start()
    found = remote.expect(r"^(\d+)$", timeout=60)
    pids = [int(match.group(1)) for _, _, match in found]
    remote.kill().wait(timeout=60)
    assert remote.ended
    assert all(p.ended and p.killed and p.ok for p in remote.processes)
    assert all(wait_gone(pid) for pid in pids)


def test_killing_one_host_ends_only_that_host(testbed):
    remote = TaktukRemote("echo $$; exec sleep {{[300, 1, 1, 1]}}", testbed.hosts[:4]).start()
    remote.expect(r"^\d+$", timeout=60)
    remote.processes[0].kill()
    remote.wait(timeout=60)
    assert remote.ended
    victim = remote.processes[0]
    assert victim.killed and victim.exit_code == -15 and victim.ok
    assert all(p.exit_code == 0 for p in remote.processes[1:])


def test_per_host_timeout_kills_the_slow_host_only(testbed):
    remote = TaktukRemote("sleep {{[300, 0]}}", testbed.hosts[:2], timeout=3).run(timeout=60)
    slow, quick = remote.processes
    assert slow.timeouted and not slow.ok
    assert quick.ok and not quick.timeouted


def test_empty_host_list_ends_at_once(testbed):
    assert TaktukRemote("true", []).run(timeout=10).ended


def test_factories_return_the_taktuk_actions_when_configured(testbed, tmp_path):
    saved = {k: configuration[k] for k in ("remote_tool", "fileput_tool", "fileget_tool")}
    try:
        configuration.update(remote_tool=TAKTUK, fileput_tool=TAKTUK, fileget_tool=TAKTUK)
        assert type(get_remote("true", ["node-1"])) is TaktukRemote
        assert type(get_fileput(["node-1"], ["f"])) is TaktukPut
        assert type(get_fileget(["node-1"], ["f"])) is TaktukGet
        tags = ["a", "b"]  # noqa: F841 - read by {{tags}}
        remote = get_remote("echo {{tags}}", ["node-1", "node-2"]).run(timeout=60)
        assert [p.stdout for p in remote.processes] == ["a\n", "b\n"]
    finally:
        configuration.update(saved)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_put_copies_to_per_host_directories_with_host_substitution(testbed, tmp_path):
    source = tmp_path / "payload with space.bin"
    source.write_bytes(os.urandom(300000))
    hosts = testbed.hosts[:6]
    for host in hosts:
        (tmp_path / host).mkdir()
    put = TaktukPut(hosts, [str(source)], str(tmp_path / "{{{host}}}")).run(timeout=120)
    assert put.ok, Report([put]).to_string()
    for host in hosts:
        assert sha256(tmp_path / host / source.name) == sha256(source)


def test_put_to_a_missing_directory_fails_for_that_host_only(testbed, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("data")
    (tmp_path / "node-1").mkdir()
    (tmp_path / "node-3").mkdir()
    put = TaktukPut(["node-1", "node-2", "node-3"], [str(source)],
                    str(tmp_path / "{{{host}}}") + "/f.txt").run(timeout=120)
    ok1, missing, ok3 = put.processes
    assert ok1.ok and ok3.ok
    assert missing.exit_code == 1 and not missing.ok and "taktuk" in missing.stderr
    assert (tmp_path / "node-3" / "f.txt").read_text() == "data"


def test_put_of_a_missing_local_file_fails_every_host_without_hanging(testbed, tmp_path):
    put = TaktukPut(testbed.hosts[:2], [str(tmp_path / "nope")], str(tmp_path)).run(timeout=60)
    assert put.ended
    assert all(p.exit_code == 1 and "does not exist" in p.stderr for p in put.processes)


def test_get_brings_each_hosts_file_into_its_own_directory(testbed, tmp_path):
    hosts = testbed.hosts[:5]
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    for host in hosts:
        (remote_dir / ("%s.log" % host)).write_text("log of %s\n" % host)
        (tmp_path / ("from-%s" % host)).mkdir()
    get = TaktukGet(hosts, [str(remote_dir / "{{{host}}}.log")],
                    str(tmp_path / "from-{{{host}}}")).run(timeout=120)
    assert get.ok, Report([get]).to_string()
    for host in hosts:
        assert (tmp_path / ("from-%s" % host) / ("%s.log" % host)).read_text() == \
            "log of %s\n" % host


def test_get_of_a_missing_remote_file_fails_for_that_host_only(testbed, tmp_path):
    (tmp_path / "present").write_text("here")
    get = TaktukGet(["node-1", "node-2"], [str(tmp_path / "{{['present', 'absent']}}")],
                    str(tmp_path / "dest-{{{host}}}"))
    (tmp_path / "dest-node-1").mkdir()
    (tmp_path / "dest-node-2").mkdir()
    get.run(timeout=120)
    present, absent = get.processes
    assert present.ok and (tmp_path / "dest-node-1" / "present").read_text() == "here"
    assert absent.exit_code == 1 and not absent.ok
