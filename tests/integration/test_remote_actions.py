"""Remote, Put, Get and the factories on the real loopback sshd (fixture ``testbed``).

All traffic stays on 127.0.0.1: the hosts are ssh aliases of one sshd, the
faulty hosts are a closed port and a silent socket on loopback.
"""

import hashlib
import os
import socket
import stat

import pytest

from execo import (SCP, SSH, TAKTUK, Get, Host, Put, Remote, Report, configuration,
                   default_connection_params, filter_bad_hosts, get_fileget, get_fileput,
                   get_remote)
from tests.quick_retries import QUICK_RETRIES

pytestmark = pytest.mark.timeout(120)

IPERF_STANDIN = """#!/bin/sh
# iperf stand-in: a server that waits until killed, a client that reports
case "$1" in
  -s) echo "Server listening on TCP port 5001"; exec sleep 60 ;;
  -c) echo "Client connecting to $2, TCP port 5001"
      echo "[  3]  0.0-10.0 sec  1.10 GBytes  941 Mbits/sec" ;;
  *) exit 2 ;;
esac
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def iperf(tmp_path):
    path = tmp_path / "iperf"
    path.write_text(IPERF_STANDIN)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A loopback socket that completes TCP handshakes and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def test_remote_runs_on_twenty_aliases_with_host_and_expression_substitution(testbed):
    hosts = testbed.hosts[:20]
    ids = list(range(7))
    remote = Remote("echo {{{host}}} {{ids}}", hosts).run(timeout=90)
    assert remote.finished_ok
    assert [p.stdout for p in remote.processes] == [
        "%s %d\n" % (host, i % 7) for i, host in enumerate(hosts)]
    assert remote.hosts == [Host(h) for h in hosts]
    assert [p.host for p in remote.processes] == remote.hosts
    assert Report([remote]).stats()["num_finished_ok"] == 20


def test_tutorial_remote_example_runs_with_an_iperf_standin(testbed, iperf):
    # As in the tutorial, with "./iperf" the stand-in, and the tutorial's
    # sleep(1) replaced by waiting for the servers to say they listen.
    hosts = ["host1", "host2"]
    targets = list(reversed(hosts))
    servers = Remote(iperf + " -s", hosts, ignore_exit_code=True)
    clients = Remote(iperf + " -c {{targets}}", hosts)
    servers.start()
    assert all(index == 0 for _, index, _ in servers.expect("Server listening", timeout=60))
    clients.run(timeout=60)
    assert servers.kill().wait(timeout=60) is servers
    text = Report([servers, clients]).to_string()
    assert clients.finished_ok and servers.finished_ok
    assert [p.stdout.splitlines()[0] for p in clients.processes] == [
        "Client connecting to host2, TCP port 5001", "Client connecting to host1, TCP port 5001"]
    assert all(p.killed for p in servers.processes)
    total = text.splitlines()[-1].split()
    assert total[0] == "Report" and total[2:4] == ["4", "4"]  # processes, ok
    assert len(text.splitlines()) == 6  # header, rule, servers, clients, rule, total


def test_tutorial_comprehension_substitution_over_host_objects(testbed, iperf):
    sources = [Host("node-1"), Host("node-2")]
    targets = [Host("node-3"), Host("node-4")]
    clients = Remote(iperf + " -c {{[t.address for t in targets]}}", sources,
                     connexion_params={}).run(timeout=60)
    assert clients.finished_ok
    assert [p.stdout.split()[3] for p in clients.processes] == ["node-3,", "node-4,"]


def test_put_then_get_copy_real_files_with_host_in_paths(testbed, tmp_path):
    hosts = testbed.hosts[:5]
    src, remote_dir, back = tmp_path / "src", tmp_path / "remote", tmp_path / "back"
    src.mkdir()
    sums = {}
    for host in hosts:
        (src / ("%s.bin" % host)).write_bytes(os.urandom(64 * 1024))
        sums[host] = sha256(src / ("%s.bin" % host))
        (back / host).mkdir(parents=True)
    assert Remote("mkdir -p %s/{{{host}}}" % remote_dir, hosts).run(timeout=60).finished_ok

    put = Put(hosts, [str(src / "{{{host}}}.bin")], str(remote_dir / "{{{host}}}") + "/")
    assert put.run(timeout=60).finished_ok
    remote_sums = Remote("sha256sum %s/{{{host}}}/{{{host}}}.bin" % remote_dir,
                         hosts).run(timeout=60)
    assert [p.stdout.split()[0] for p in remote_sums.processes] == [sums[h] for h in hosts]

    get = Get(hosts, [str(remote_dir / "{{{host}}}" / "{{{host}}}.bin")],
              str(back / "{{{host}}}"))
    assert get.run(timeout=60).finished_ok
    assert {h: sha256(back / h / ("%s.bin" % h)) for h in hosts} == sums
    assert "Put to 5 hosts" in Report([put, get]).to_string()


def test_put_of_a_missing_local_file_fails_only_for_that_host(testbed, tmp_path):
    hosts = testbed.hosts[:3]
    for host in hosts[::2]:
        (tmp_path / ("%s.txt" % host)).write_text(host)
    dest = tmp_path / "dest"
    dest.mkdir()
    put = Put(hosts, [str(tmp_path / "{{{host}}}.txt")], str(dest) + "/",
              nolog_exit_code=True).run(timeout=60)
    assert put.ended and not put.ok
    good, missing, other = put.processes
    assert good.finished_ok and other.finished_ok
    assert missing.exit_code not in (0, None) and not missing.ok
    assert "No such file" in missing.stderr
    assert sorted(os.listdir(dest)) == ["%s.txt" % h for h in hosts[::2]]
    assert filter_bad_hosts(put, hosts) == hosts[::2]


def test_get_of_a_missing_remote_file_fails_only_for_that_host(testbed, tmp_path):
    hosts = testbed.hosts[:3]
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "node-1.log").write_text("log of node-1")
    (remote / "node-3.log").write_text("log of node-3")
    back = tmp_path / "back"
    back.mkdir()
    get = Get(hosts, [str(remote / "{{{host}}}.log")], str(back),
              nolog_exit_code=True).run(timeout=60)
    assert [p.ok for p in get.processes] == [True, False, True]
    assert get.processes[1].exit_code not in (0, None)
    assert "No such file" in get.processes[1].stderr
    assert (back / "node-3.log").read_text() == "log of node-3"
    assert Report([get]).stats()["num_non_zero_exit_codes"] == 1


def test_unreachable_host_fails_alone_with_error_reason(testbed, closed_port):
    hosts = testbed.hosts[:4] + [Host("127.0.0.1", port=closed_port)]
    remote = Remote("echo up", hosts, connection_params=QUICK_RETRIES,
                    nolog_error=True).run(timeout=60)
    assert remote.ended and not remote.ok
    *fine, dead = remote.processes
    assert all(p.finished_ok and p.stdout == "up\n" for p in fine)
    assert dead.error and dead.exit_code == 255
    assert "refused" in dead.error_reason
    assert filter_bad_hosts(remote, hosts) == hosts[:4]
    stats = remote.stats()
    assert (stats["num_errors"], stats["num_ok"], stats["num_ended"]) == (1, 4, 5)


def test_silent_host_ends_by_connect_timeout(testbed, silent_port):
    # ConnectTimeout first among the options: ssh keeps the first value given
    params = {"ssh_options": ("-o", "ConnectTimeout=2") + tuple(
        default_connection_params["ssh_options"])}
    hosts = [testbed.hosts[0], Host("127.0.0.1", port=silent_port)]
    remote = Remote("echo up", hosts, connection_params=params, nolog_error=True)
    remote.run(timeout=60)
    assert remote.ended
    alive, silent = remote.processes
    assert alive.finished_ok
    assert silent.error and silent.exit_code == 255 and not silent.timeouted
    assert "ConnectTimeout" in silent.error_reason or "timed out" in silent.error_reason


def test_remote_timeout_kills_the_slow_hosts_only(testbed):
    delays = [0, 30]
    remote = Remote("sleep {{delays}}; echo done", testbed.hosts[:2], timeout=1.5,
                    nolog_timeout=True).run(timeout=60)
    quick, slow = remote.processes
    assert quick.finished_ok and quick.stdout == "done\n"
    assert slow.timeouted and not slow.ok
    assert remote.timeout == 1.5


def test_factories_follow_the_configuration_at_call_time(testbed, monkeypatch):
    monkeypatch.setitem(configuration, "remote_tool", SSH)
    monkeypatch.setitem(configuration, "fileput_tool", SCP)
    monkeypatch.setitem(configuration, "fileget_tool", SCP)
    words = ["alpha", "beta"]
    remote = get_remote("echo {{words}}", testbed.hosts[:2])
    assert type(remote) is Remote
    assert [p.stdout for p in remote.run(timeout=60).processes] == ["alpha\n", "beta\n"]
    assert type(get_fileput(testbed.hosts[:1], ["f"])) is Put
    assert type(get_fileget(testbed.hosts[:1], ["f"])) is Get

    monkeypatch.setitem(configuration, "remote_tool", TAKTUK)
    try:
        from execo.taktuk import TaktukRemote
    except ImportError:
        with pytest.raises(ImportError, match="execo.taktuk"):
            get_remote("true", testbed.hosts[:1])
    else:
        assert type(get_remote("true", testbed.hosts[:1])) is TaktukRemote

    monkeypatch.setitem(configuration, "remote_tool", 42)
    with pytest.raises(ValueError, match="remote_tool"):
        get_remote("true", testbed.hosts[:1])


def test_host_substitution_and_ssh_agree_after_a_late_rewrite(testbed, monkeypatch):
    action = Remote("echo {{{host}}}", ["node-1", "node-2"])
    # set after the action is built: ssh and {{{host}}} must both follow it
    monkeypatch.setitem(default_connection_params, 'host_rewrite_func',
                        lambda address: address.replace("node-", "host"))
    action.run(timeout=60)
    assert action.ok, [p.dump() for p in action.processes]
    for process, expected in zip(action.processes, ["host1", "host2"]):
        connected_to = process.real_cmd[process.real_cmd.index('--') + 1]
        assert (connected_to, process.stdout) == (expected, expected + "\n")
