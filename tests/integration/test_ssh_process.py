"""SshProcess against a real sshd on loopback: outputs, kills, faults.

The test bed's hosts are this machine, so a remote pid can be checked
locally: "the remote command died" is observed on the pid itself.
"""

import os
import re
import select
import socket
import subprocess
import sys

import pytest

from execo import Host, SshProcess, get_process
from execo.ssh import ssh_command
from execo.testbed import LoopbackTestbed
from tests.quick_retries import QUICK_RETRIES

pytestmark = pytest.mark.timeout(120)

BOUND = 30  # seconds any single ssh run may take here, failures included


def wait_pid_gone(pid, timeout=15.0):
    """True once ``pid`` no longer exists (an event: its pidfd turns readable)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(pidfd)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


# a small stand-in for iperf: "-s" listens on 127.0.0.1, prints its port and
# pid, and echoes forever; "-c PORT" sends a line and prints the reply.
IPERF_STANDIN = r'''
import os, socket, sys
if sys.argv[1] == "-s":
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    print("listening port %d pid %d" % (server.getsockname()[1], os.getpid()), flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(1024))
else:
    with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as conn:
        conn.sendall(b"traffic\n")
        print("client got %s" % conn.recv(1024).decode().strip())
'''


@pytest.fixture(scope="module")
def iperf(tmp_path_factory):
    path = tmp_path_factory.mktemp("iperf") / "iperf_standin.py"
    path.write_text(IPERF_STANDIN)
    return "%s %s" % (sys.executable, path)


# ---- running ------------------------------------------------------------------

def test_ssh_process_captures_stdout_stderr_and_exit_code_separately(testbed):
    process = SshProcess("echo out; echo err >&2; exit 3", "node-1",
                         nolog_exit_code=True).run(timeout=BOUND)
    assert process.stdout == "out\n" and process.stderr == "err\n"
    assert process.exit_code == 3 and not process.error and not process.ok


def test_ssh_process_runs_on_the_host_as_the_host_user(testbed):
    process = SshProcess("id -un", Host("node-2", user=testbed.user)).run(timeout=BOUND)
    assert process.finished_ok and process.stdout.strip() == testbed.user


def test_get_process_with_a_host_runs_remotely(testbed):
    process = get_process("echo $SSH_CONNECTION", host="node-3").run(timeout=BOUND)
    assert process.ok and process.stdout.startswith("127.0.0.1 ")


def test_write_and_close_stdin_reach_the_remote_command(testbed):
    process = SshProcess("cat", "node-1").start()
    process.write("through ssh\n").close_stdin()
    process.wait(BOUND)
    assert process.finished_ok and process.stdout == "through ssh\n"


def test_host_rewrite_func_maps_tutorial_names_to_aliases(testbed):
    params = {'host_rewrite_func': lambda address: address.replace("machine", "node-")}
    process = SshProcess("true", "machine7", connection_params=params).run(timeout=BOUND)
    assert process.finished_ok
    assert "node-7" in process.real_cmd


def test_a_bare_wait_in_the_remote_command_does_not_wait_for_the_watchdog(testbed):
    process = SshProcess("sleep 0.1 & wait", "node-1").run(timeout=BOUND)
    assert process.finished_ok


# ---- killing ------------------------------------------------------------------

def test_tutorial_remote_process_over_ssh_kill_ends_the_remote_server(testbed, iperf):
    process_A = SshProcess(iperf + " -s", "host1", ignore_exit_code=True)
    process_A.start()
    index, match = process_A.expect(r"listening port (\d+) pid (\d+)", timeout=BOUND)
    assert index == 0, process_A.dump()
    port, server_pid = int(match.group(1)), int(match.group(2))
    process_B = SshProcess(iperf + " -c %d" % port, "host2")
    process_B.start()
    process_B.wait(BOUND)
    process_A.kill()
    process_A.wait(BOUND)
    assert process_B.finished_ok and process_B.stdout == "client got traffic\n"
    assert process_A.ended and process_A.killed and process_A.ok
    assert wait_pid_gone(server_pid), "remote server %d survived the kill" % server_pid


def test_kill_ends_every_process_of_the_remote_command(testbed):
    process = SshProcess("sleep 300 & echo $!; sleep 301 | cat & echo $!; wait", "node-4",
                         ignore_exit_code=True).start()
    index, match = process.expect(r"(\d+)\n(\d+)\n", timeout=BOUND)
    assert index == 0, process.dump()
    pids = [int(match.group(1)), int(match.group(2))]
    assert all(pid_alive(pid) for pid in pids)
    process.kill().wait(BOUND)
    assert process.ended
    assert all(wait_pid_gone(pid) for pid in pids)


def test_kill_with_pty_param_ends_the_remote_command_through_the_tty_hangup(testbed):
    process = SshProcess("echo $$; exec sleep 300", "node-5", connection_params={'pty': True},
                         ignore_exit_code=True).start()
    index, match = process.expect(r"(\d+)\r?\n", timeout=BOUND)
    assert index == 0, process.dump()
    process.kill().wait(BOUND)
    assert wait_pid_gone(int(match.group(1)))


def test_timeout_kills_the_local_ssh_and_the_remote_command(testbed):
    process = SshProcess("echo $$; exec sleep 300", "node-6", timeout=2,
                         nolog_timeout=True).start()
    index, match = process.expect(r"(\d+)\n", timeout=BOUND)
    assert index == 0
    process.wait(BOUND)
    assert process.ended and process.timeouted and not process.ok
    assert wait_pid_gone(int(match.group(1)))


# ---- faults: recorded, never raised, never hanging -------------------------------

def assert_failed_connection(process, *words):
    assert process.ended, "still running: %s" % process
    assert process.error and process.exit_code == 255 and not process.ok
    assert repr(process.host.address) in process.error_reason
    for word in words:
        assert word in process.error_reason, process.error_reason


def test_host_with_nothing_listening_fails_with_connection_refused(testbed):
    # a bound socket that does not listen: the port is ours, and refuses
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        process = SshProcess("true", Host("node-1", port=port),
                             connection_params=QUICK_RETRIES, nolog_error=True)
        process.run(timeout=BOUND)
    assert_failed_connection(process, "Connection refused")


def run_against_a_silent_port(testbed, connect_timeout, attempts):
    """An SshProcess run against a port that accepts TCP and never speaks ssh."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        params = {'ssh_options': ('-o', 'ConnectTimeout=%d' % connect_timeout)
                  + testbed.connection_params['ssh_options'], 'connect_attempts': attempts}
        process = SshProcess("true", Host("node-1", port=silent.getsockname()[1]),
                             connection_params=params, nolog_error=True)
        return process.run(timeout=BOUND)


def test_host_accepting_tcp_but_never_speaking_ssh_ends_by_connect_timeout(testbed):
    process = run_against_a_silent_port(testbed, connect_timeout=2, attempts=2)
    assert_failed_connection(process, "ConnectTimeout", "(2 connection attempts)")
    assert process.connect_attempts == 2
    assert not process.timeouted


def test_a_host_that_lets_connections_time_out_is_tried_twice_not_connect_attempts_times(
        testbed):
    # a dead node costs ConnectTimeout per try: ten tries would hold the action ten times
    process = run_against_a_silent_port(testbed, connect_timeout=1, attempts=10)
    assert_failed_connection(process, "ConnectTimeout", "(2 connection attempts)")
    assert process.connect_attempts == 2


def test_sshd_killed_during_a_long_command_ends_it_with_an_error():
    with LoopbackTestbed(num_hosts=3) as bed:
        processes = [SshProcess("echo started; sleep 300", host, nolog_error=True,
                                connection_params=bed.connection_params).start()
                     for host in bed.hosts]
        for process in processes:
            assert process.expect("started", timeout=BOUND)[0] == 0, process.dump()
        bed.kill_sshd()
        for process in processes:
            process.wait(BOUND)
            assert_failed_connection(process, "connection lost")


def test_sshd_restarted_serves_again_after_a_kill():
    with LoopbackTestbed(num_hosts=1) as bed:
        bed.kill_sshd()
        down = SshProcess("true", "node-1", connection_params=dict(bed.connection_params,
                                                                   **QUICK_RETRIES),
                          nolog_error=True).run(timeout=BOUND)
        assert_failed_connection(down, "Connection refused")
        bed.restart_sshd()
        up = SshProcess("true", "node-1", connection_params=bed.connection_params)
        assert up.run(timeout=BOUND).finished_ok


def test_remote_command_killed_by_a_signal_is_an_error_with_a_reason(testbed):
    process = SshProcess("kill -KILL $$", "node-2", nolog_error=True).run(timeout=BOUND)
    assert_failed_connection(process, "signal")


def test_ignore_exit_code_does_not_hide_an_unreachable_host(testbed):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        process = SshProcess("true", Host("node-1", port=closed.getsockname()[1]),
                             connection_params=QUICK_RETRIES, ignore_exit_code=True,
                             nolog_error=True).run(timeout=BOUND)
    assert process.error and not process.ok


# ---- opt-in connection sharing ------------------------------------------------

def test_connection_sharing_opens_one_ssh_connection_for_many_runs():
    with LoopbackTestbed(num_hosts=2) as bed:
        params = dict(bed.connection_params, connection_sharing=30)
        for _ in range(3):
            assert SshProcess("true", "node-1", connection_params=params).run(
                timeout=BOUND).finished_ok
        with open(bed.sshd_log) as log:
            assert log.read().count("Accepted publickey") == 1
        master = control_master_pid(ssh_command("node-1", params))
        assert master is not None
    # the master notices the dropped connection and exits
    assert wait_pid_gone(master)


def control_master_pid(ssh_argv):
    """The pid of the ControlMaster serving the host ``ssh_argv`` ends with."""
    options = ssh_argv[:-2] if ssh_argv[-2] == "--" else ssh_argv[:-1]
    result = subprocess.run(options + ["-O", "check", ssh_argv[-1]],
                            capture_output=True, text=True, timeout=BOUND,
                            stdin=subprocess.DEVNULL)
    match = re.search(r"pid=(\d+)", result.stderr + result.stdout)
    return int(match.group(1)) if match else None


def test_frozen_host_is_noticed_by_server_alive_and_ends_with_an_error():
    with LoopbackTestbed(num_hosts=1) as bed:
        params = dict(bed.connection_params, ssh_options=(
            '-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2')
            + bed.connection_params['ssh_options'])
        process = SshProcess("echo started; sleep 300", "node-1", connection_params=params,
                             nolog_error=True).start()
        assert process.expect("started", timeout=BOUND)[0] == 0, process.dump()
        bed.freeze_sshd()
        try:
            process.wait(BOUND)
        finally:
            bed.thaw_sshd()
        assert_failed_connection(process, "keepalives")


def test_with_connection_sharing_and_a_pty_kill_still_ends_the_remote_command():
    with LoopbackTestbed(num_hosts=1) as bed:
        params = dict(bed.connection_params, connection_sharing=30, pty=True)
        assert SshProcess("true", "node-1", connection_params=params).run(
            timeout=BOUND).finished_ok  # opens the master
        process = SshProcess("echo $$; exec sleep 300", "node-1", connection_params=params,
                             ignore_exit_code=True).start()
        index, match = process.expect(r"(\d+)\r?\n", timeout=BOUND)
        assert index == 0, process.dump()
        process.kill().wait(BOUND)
        assert wait_pid_gone(int(match.group(1)))
