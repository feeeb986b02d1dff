"""The loopback test bed itself: real sshd up, aliases usable, nothing left behind."""

import os
import re
import select
import shutil
import selectors
import signal
import subprocess
import sys
import time

import pytest

from execo import SshProcess, config
from execo.testbed import LoopbackTestbed

pytestmark = pytest.mark.timeout(120)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def exited(pid, timeout=15.0):
    """True once ``pid`` has exited (zombies included: whoever reaps the
    orphans here is not ours to wait for)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def test_every_alias_reaches_the_sshd_with_the_plain_ssh_binary():
    with LoopbackTestbed(num_hosts=3, extra_names=("host1",)) as bed:
        assert bed.hosts == ["node-1", "node-2", "node-3", "host1"]
        for host in bed.hosts:
            result = subprocess.run(["ssh", "-F", bed.ssh_config, host, "echo $SSH_CONNECTION"],
                                    capture_output=True, text=True, timeout=30,
                                    stdin=subprocess.DEVNULL)
            assert result.returncode == 0, result.stderr
            assert result.stdout.split()[2:4] == ["127.0.0.1", str(bed.port)]


def test_leaving_the_context_kills_sshd_sessions_and_commands_and_removes_files():
    with LoopbackTestbed(num_hosts=1) as bed:
        workdir, sshd_pid = bed.workdir, bed.sshd_pid
        process = SshProcess("echo $$; exec sleep 300", "node-1", ignore_exit_code=True,
                             nolog_error=True, connection_params=bed.connection_params).start()
        index, match = process.expect(r"(\d+)\n", timeout=30)
        assert index == 0, process.dump()
        remote_pid = int(match.group(1))
    process.wait(30)
    assert process.ended
    assert exited(sshd_pid) and exited(remote_pid)
    assert not os.path.exists(workdir)


def test_install_then_uninstall_restores_the_defaults_exactly():
    before = dict(config.default_connection_params)
    with LoopbackTestbed(num_hosts=1) as bed:
        bed.install()
        assert config.default_connection_params['ssh_options'][:2] == ('-F', bed.ssh_config)
        assert SshProcess("true", "node-1").run(timeout=30).finished_ok
        bed.uninstall()
        assert config.default_connection_params == before
        bed.install()
    assert config.default_connection_params == before


def test_a_second_test_bed_uses_its_own_config_even_over_an_installed_one(testbed):
    with LoopbackTestbed(num_hosts=1) as other:
        assert other.connection_params['ssh_options'].count('-F') == 1
        process = SshProcess("true", "node-1", connection_params=other.connection_params)
        assert process.run(timeout=30).finished_ok
        assert other.ssh_config in process.real_cmd


def test_python_m_execo_testbed_prints_usage_serves_and_stops_on_ctrl_c():
    child = subprocess.Popen([sys.executable, "-m", "execo.testbed", "-n", "2"],
                             stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        output = b""
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while b"Ctrl-C" not in output and time.monotonic() < deadline:
                if selector.select(deadline - time.monotonic()):
                    chunk = os.read(child.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    output += chunk
        output = output.decode()
        command = re.search(r"ssh -F (\S+) node-1 hostname", output)
        assert command, output
        config_path = command.group(1)
        result = subprocess.run(["ssh", "-F", config_path, "node-2", "echo", "ok"],
                                capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL)
        assert result.stdout == "ok\n", result.stderr
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
        assert not os.path.exists(config_path)
    finally:
        if child.poll() is None:
            # SIGTERM lets it stop its sshd; SIGKILL would orphan it
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def test_leaving_the_context_also_kills_orphans_of_remote_commands():
    with LoopbackTestbed(num_hosts=1) as bed:
        # the daemon outlives its shell, so it is no longer in sshd's tree
        process = SshProcess("nohup sleep 300 >/dev/null 2>&1 & echo $!", "node-1",
                             connection_params=bed.connection_params).run(timeout=30)
        assert process.finished_ok, process.dump()
        daemon = int(process.stdout)
        assert not exited(daemon, timeout=0)
    assert exited(daemon)


def test_a_machine_without_sshds_privilege_separation_directory_gets_one():
    """A fresh Debian machine or container has no /run/sshd until the ssh
    service has started once. The test bed is started in a mount namespace
    of its own whose /run is an empty tmpfs: only it sees the directory
    missing, every other sshd of this machine keeps its own."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) to hide /run in a mount namespace")
    script = (
        "import os, subprocess, sys\n"
        "sys.path.insert(0, %r)\n"
        "from execo.testbed import LoopbackTestbed\n"
        "assert not os.path.exists('/run/sshd')\n"
        "with LoopbackTestbed(num_hosts=1) as bed:\n"
        "    result = subprocess.run(['ssh', '-F', bed.ssh_config, 'node-1', 'echo reached'],\n"
        "                            capture_output=True, text=True, timeout=30,\n"
        "                            stdin=subprocess.DEVNULL)\n"
        "    print(result.stdout.strip(), os.path.isdir('/run/sshd'))\n"
    ) % (REPO,)
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs execo-test-run /run && exec "$0" -c "$1"', sys.executable, script],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["reached", "True"]
    assert os.path.isdir("/run/sshd")  # the machine's own was never touched
