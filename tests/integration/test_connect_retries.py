"""Connections refused before the remote command started are retried, and
no command ever runs twice (issue 27, execo.retry).

The sshd here runs with Debian's stock limits (MaxStartups 10:30:100,
MaxSessions 10): hundreds of connections at once make it drop some before
authentication, as a real host, gateway or frontend does.
"""

import logging
import os
import socket
import subprocess
import threading
import time

import pytest

from execo import Get, Host, Put, Remote, SshProcess
from execo.config import default_connection_params
from execo.output import ProcessOutputHandler
from execo.testbed import LoopbackTestbed
from tests.tcp_table import established_to

pytestmark = pytest.mark.timeout(300)

MANY = 200
NO_RETRY = {'connect_attempts': 1}
MAX_STARTUPS = ("refused by the server before authentication: too many connections at "
                "once (sshd MaxStartups?)")


@pytest.fixture(scope="module")
def stock():
    """node-1..node-200: aliases of one sshd with stock limits."""
    with LoopbackTestbed(num_hosts=MANY, stock_limits=True) as bed:
        # these tests need refusals to retry: the per-endpoint gate
        # (execo.endpoint_gate), which keeps the sshd from refusing any in
        # the first place, is off (tests/integration/test_gateway_limit.py)
        bed.connection_params['max_setups_per_endpoint'] = None
        yield bed


def params(bed, **more):
    return dict(bed.connection_params, **more)


def refusing_port():
    """A bound, not listening port of ours: connections to it are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def burst_on_thaw(bed, count, cmd="true", **process_args):
    """``count`` connections that reach ``bed``'s sshd all at once: started
    while it is frozen, they wait in its listen queue, and meet it together
    when it is thawed (a burst whatever the machine's load)."""
    bed.freeze_sshd()
    try:
        action = Remote(cmd, bed.hosts[:count], **process_args).start()
        deadline = time.monotonic() + 15  # below ConnectTimeout (20 s)
        # a poll on the kernel's table: no event tells a connect() queued
        while established_to(bed.port) < min(count, 100) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        bed.thaw_sshd()
    return action.wait()


def test_stock_sshd_drops_connections_beyond_max_startups(stock):
    # without retries, a burst loses hosts, and the reason names the
    # limit, not "connection lost"
    action = burst_on_thaw(stock, MANY, connection_params=params(stock, **NO_RETRY),
                           nolog_error=True)
    failed = [p for p in action.processes if not p.ok]
    assert failed, "no connection dropped: is the sshd at stock limits?"
    assert all(p.exit_code == 255 and p.connect_attempts == 1 for p in failed)
    assert {p.failure_reason for p in failed} == {"ssh could not connect: " + MAX_STARTUPS}
    assert all(MAX_STARTUPS in p.error_reason and repr(p.host.address) in p.error_reason
               for p in failed)


def test_a_burst_on_a_stock_sshd_loses_no_host_with_retries(stock):
    action = burst_on_thaw(stock, MANY, connection_params=stock.connection_params)
    assert action.ok, [p.error_reason for p in action.processes if not p.ok][:5]
    assert max(p.connect_attempts for p in action.processes) > 1


def test_200_connections_to_one_stock_sshd_all_succeed(stock):
    # (with the machine loaded, ssh processes may start slowly enough for
    # sshd to drop none: the next test makes sure retries happen)
    action = Remote("true", ["node-1"] * MANY, connection_params=stock.connection_params).run()
    assert action.ok, [p.error_reason for p in action.processes if not p.ok][:5]


@pytest.mark.parametrize("pty", [False, True])
def test_a_command_with_a_side_effect_runs_exactly_once_per_host(stock, tmp_path, pty):
    marks = tmp_path / "marks"
    action = burst_on_thaw(stock, MANY, "echo x >> %s" % marks,
                           connection_params=params(stock, pty=pty))
    assert action.ok, [p.error_reason for p in action.processes if not p.ok][:5]
    assert marks.read_text() == "x\n" * MANY
    assert max(p.connect_attempts for p in action.processes) > 1


class Lines(ProcessOutputHandler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def read_line(self, process, stream, string):
        self.lines.append((process.host.address, string))


@pytest.mark.parametrize("pty", [False, True])
def test_handlers_never_see_the_marker_nor_a_failed_attempt(stock, pty):
    out, err = Lines(), Lines()
    action = Remote("echo out-{{{host}}}; echo err >&2", stock.hosts,
                    connection_params=params(stock, pty=pty),
                    stdout_handlers=[out], stderr_handlers=[err]).run()
    assert action.ok
    end = "\r\n" if pty else "\n"
    for process in action.processes:
        expected = "out-%s%serr%s" % (process.host.address, end, end) if pty \
            else "out-%s\n" % (process.host.address,)
        assert process.stdout == expected
        assert process.stderr == ("" if pty else "err\n")
    assert sorted(out.lines) == sorted(
        (host, line) for host in stock.hosts
        for line in (["out-%s" % host, "err"] if pty else ["out-%s" % host]))
    assert sorted(err.lines) == ([] if pty else sorted((host, "err") for host in stock.hosts))


def test_put_and_get_through_a_stock_sshd_lose_no_host(stock, tmp_path):
    source = tmp_path / "payload"
    source.write_text("data\n")
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    put = Put(stock.hosts, [str(source)], str(remote_dir / "{{{host}}}"),
              connection_params=stock.connection_params).run()
    assert put.ok, [p.error_reason for p in put.processes if not p.ok][:5]
    assert sorted(os.listdir(remote_dir)) == sorted(stock.hosts)
    assert max(p.connect_attempts for p in put.processes) > 1
    back = tmp_path / "back"
    back.mkdir()
    for host in stock.hosts:
        (back / host).mkdir()
    get = Get(stock.hosts, [str(remote_dir / "{{{host}}}")], str(back / "{{{host}}}"),
              connection_params=stock.connection_params).run()
    assert get.ok, [p.error_reason for p in get.processes if not p.ok][:5]
    assert all((back / host / host).read_text() == "data\n" for host in stock.hosts)


def test_a_refused_connection_is_retried_and_the_reason_counts_the_attempts(stock):
    with refusing_port() as sock:
        process = SshProcess("true", Host("node-1", port=sock.getsockname()[1]),
                             connection_params=params(stock, connect_attempts=3,
                                                      connect_retry_delay=0.05),
                             nolog_error=True).run()
    assert process.error and process.exit_code == 255
    assert process.connect_attempts == 3
    assert "(3 connection attempts)" in process.error_reason
    assert "Connection refused" in process.error_reason
    assert process.failure_reason == ("ssh could not connect: nothing listens on the ssh port "
                                      "(3 connection attempts)")
    assert "connect_attempts=3" in str(process)
    assert process.to_dict()["connect_attempts"] == 3
    assert "(3 connection attempts)" in process.to_dict()["error_reason"]


def test_an_scp_refused_is_retried(stock, tmp_path):
    source = tmp_path / "f"
    source.write_text("x")
    with refusing_port() as sock:
        put = Put([Host("node-1", port=sock.getsockname()[1])], [str(source)], str(tmp_path),
                  connection_params=params(stock, connect_attempts=2,
                                           connect_retry_delay=0.05),
                  nolog_error=True).run()
    process = put.processes[0]
    assert process.connect_attempts == 2
    assert "(2 connection attempts)" in process.error_reason


def test_refused_authentication_is_not_retried(stock, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    process = SshProcess("true", Host("127.0.0.1", port=stock.port, keyfile=str(stranger)),
                         nolog_error=True,
                         connection_params={'ssh_options': (
                             '-F', '/dev/null', '-o', 'IdentitiesOnly=yes')
                             + tuple(default_connection_params['ssh_options'])}).run()
    assert process.error and "Permission denied" in process.stderr
    assert process.connect_attempts == 1


class _RetryLogged(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.retried = threading.Event()
        self.messages = []

    def emit(self, record):
        if "tried again" in record.getMessage():
            self.messages.append((record.levelno, record.getMessage()))
            self.retried.set()


@pytest.fixture
def retry_log():
    logger = logging.getLogger("execo")
    handler, level = _RetryLogged(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_kill_between_two_attempts_ends_the_process_at_once(stock, retry_log):
    with refusing_port() as sock:
        process = SshProcess("true", Host("node-1", port=sock.getsockname()[1]),
                             connection_params=params(stock, connect_attempts=5,
                                                      connect_retry_delay=120,
                                                      connect_retry_max_delay=120),
                             nolog_error=True).start()
        assert retry_log.retried.wait(30)
        process.kill()
        assert process.wait(10).ended  # not the 12 to 120 s of the back-off
    assert process.killed and process.connect_attempts == 1
    assert all(level == logging.DEBUG for level, _ in retry_log.messages)
    assert "attempt 1 of 5" in retry_log.messages[0][1]


def test_the_process_timeout_bounds_the_retries(stock):
    with refusing_port() as sock:
        process = SshProcess("true", Host("node-1", port=sock.getsockname()[1]),
                             connection_params=params(stock, connect_attempts=1000,
                                                      connect_retry_delay=0.2,
                                                      connect_retry_max_delay=0.2),
                             timeout=3, nolog_error=True, nolog_timeout=True).run()
    assert process.ended and not process.ok
    assert 1 < process.connect_attempts < 1000
    assert "Connection refused" in process.stderr


def test_without_retries_the_remote_command_is_unchanged(stock):
    process = SshProcess("echo hi", "node-1", connection_params=params(stock, **NO_RETRY)).run()
    assert process.stdout == "hi\n"
    assert "execo-session-started" not in process.real_cmd[-1]


def test_the_failed_hosts_of_an_action_can_be_run_again(stock, tmp_path):
    flag = tmp_path / "repaired"
    action = Remote("test -e %s || test {{{host}}} = node-1" % flag, stock.hosts[:4],
                    connection_params=stock.connection_params, nolog_exit_code=True,
                    remote_cwd="/", remote_env={"WHERE": "again"}).run()
    assert [h.address for h in action.failed_hosts] == ["node-2", "node-3", "node-4"]
    flag.touch()
    again = action.for_hosts(action.failed_hosts)
    assert type(again) is Remote and again.cmd == action.cmd
    assert (again.remote_cwd, again.remote_env) == ("/", {"WHERE": "again"})
    assert [h.address for h in again.hosts] == ["node-2", "node-3", "node-4"]
    assert again.run().ok and again.failed_hosts == []


def test_the_failed_hosts_of_a_put_can_be_copied_to_again(stock, tmp_path):
    source = tmp_path / "payload"
    source.write_text("data\n")
    target = tmp_path / "target"
    put = Put(stock.hosts[:3], [str(source)], str(target / "{{{host}}}"),
              connection_params=stock.connection_params, nolog_exit_code=True).run()
    assert len(put.failed_hosts) == 3  # no such directory yet
    target.mkdir()
    again = put.for_hosts(put.failed_hosts).run()
    assert type(again) is Put and again.ok
    assert sorted(os.listdir(target)) == stock.hosts[:3]


@pytest.mark.parametrize("pty", [False, True])
def test_an_sshd_back_after_a_refusal_serves_the_retry_alone(retry_log, tmp_path, pty):
    # the first attempt is refused for sure (sshd down), the next succeeds:
    # the command ran once, and the output is only the successful attempt's
    marks = tmp_path / "marks"
    with LoopbackTestbed(num_hosts=1) as bed:
        bed.kill_sshd()
        process = SshProcess("echo x >> %s; echo out; echo err >&2" % marks, "node-1",
                             connection_params=params(bed, pty=pty, connect_attempts=60,
                                                      connect_retry_delay=0.5,
                                                      connect_retry_max_delay=0.5)).start()
        assert retry_log.retried.wait(30)
        bed.restart_sshd()
        assert process.wait(30).ok, process.dump()
    assert process.connect_attempts >= 2
    assert marks.read_text() == "x\n"
    assert process.stdout == ("out\r\nerr\r\n" if pty else "out\n")
    assert process.stderr == ("" if pty else "err\n")


def test_a_connection_dead_on_unanswered_keepalives_says_so():
    with LoopbackTestbed(num_hosts=1) as bed:
        options = ('-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2')
        process = SshProcess("echo started; sleep 120", "node-1", nolog_error=True,
                             connection_params=params(bed, ssh_options=options + tuple(
                                 bed.connection_params['ssh_options']))).start()
        assert process.expect("started", timeout=30)[0] == 0
        bed.freeze_sshd()  # the host hangs: TCP stays up, nothing answers
        try:
            process.wait(60)
        finally:
            bed.thaw_sshd()
    assert process.ended and process.error and process.exit_code == 255
    assert process.failure_reason == ("ssh connection lost: the host stopped answering "
                                      "keepalives (or the remote command was killed by a signal)")
    assert "the host stopped answering keepalives (ServerAliveInterval x " \
        "ServerAliveCountMax = 2 s)" in process.error_reason
