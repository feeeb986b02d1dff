"""Host-key checking turned on over the defaults, against the real loopback sshd.

The defaults check no host key (doc/failures.rst says why); a user who wants
them checked puts ``StrictHostKeyChecking`` and ``UserKnownHostsFile`` in
front of the default options: ssh keeps the first value given for an
option. These tests pin that this works with ssh, scp and taktuk's
connector, and that a wrong or unknown key is refused with a clear reason.
"""

import os
import subprocess

import pytest

from execo import Get, Put, SshProcess, TaktukRemote, config

OPTIONS = ('ssh_options', 'scp_options', 'taktuk_connector_options')


def checking(known_hosts, mode="yes"):
    """The current defaults with host-key checking against ``known_hosts`` in front."""
    front = ('-o', 'StrictHostKeyChecking=%s' % mode, '-o', 'UserKnownHostsFile=%s' % known_hosts)
    return {option: front + tuple(config.default_connection_params[option])
            for option in OPTIONS}


def known_hosts_line(testbed, public_key_file):
    """The known_hosts entry of the test bed's sshd (all aliases are
    127.0.0.1 on the test bed's port), holding the key of ``public_key_file``."""
    with open(public_key_file) as key:
        key_type, key_data = key.read().split()[:2]
    return "[127.0.0.1]:%d %s %s\n" % (testbed.port, key_type, key_data)


@pytest.fixture
def right_known_hosts(testbed, tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts_line(
        testbed, os.path.join(testbed.workdir, "ssh_host_ed25519_key.pub")))
    return str(path)


@pytest.fixture
def wrong_known_hosts(testbed, tmp_path):
    """A known_hosts where the test bed's address has another key: what a
    redeployed node, or a man in the middle, looks like."""
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    path = tmp_path / "wrong_known_hosts"
    path.write_text(known_hosts_line(testbed, str(other) + ".pub"))
    return str(path)


def test_checked_host_key_that_matches_connects(testbed, right_known_hosts):
    process = SshProcess("echo checked", "node-1",
                         connection_params=checking(right_known_hosts)).run()
    assert process.ok and process.stdout == "checked\n"


def test_checked_host_key_that_differs_is_refused_with_sshs_reason(testbed, wrong_known_hosts):
    process = SshProcess("echo never", "node-1", connection_params=checking(wrong_known_hosts),
                         nolog_error=True).run()
    assert process.error and process.exit_code == 255 and not process.ok
    assert process.stdout == ""
    assert "Host key verification failed." in process.error_reason
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in process.stderr


def test_unknown_host_key_is_refused_when_checking_strictly(testbed, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    process = SshProcess("echo never", "node-1", connection_params=checking(str(empty)),
                         nolog_error=True).run()
    assert process.error and "Host key verification failed." in process.error_reason


def test_accept_new_records_the_key_then_checks_it(testbed, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    first = SshProcess("true", "node-1",
                       connection_params=checking(str(known_hosts), "accept-new")).run()
    assert first.ok
    assert "[127.0.0.1]:%d ssh-ed25519 " % testbed.port in known_hosts.read_text()
    again = SshProcess("true", "node-2", connection_params=checking(str(known_hosts))).run()
    assert again.ok


def test_scp_and_taktuk_check_host_keys_too(testbed, right_known_hosts, wrong_known_hosts,
                                            tmp_path):
    source = tmp_path / "payload.txt"
    source.write_text("payload\n")
    (tmp_path / "remote").mkdir()
    (tmp_path / "back").mkdir()
    good, bad = checking(right_known_hosts), checking(wrong_known_hosts)
    assert Put(["node-1"], [str(source)], str(tmp_path / "remote"),
               connection_params=good).run().ok
    assert Get(["node-1"], [str(tmp_path / "remote" / "payload.txt")], str(tmp_path / "back"),
               connection_params=good).run().ok
    assert (tmp_path / "back" / "payload.txt").read_text() == "payload\n"
    refused = Put(["node-1"], [str(source)], str(tmp_path / "elsewhere"),
                  connection_params=bad, nolog_error=True).run()
    assert not refused.ok and refused.processes[0].exit_code == 255
    assert "Host key verification failed." in refused.processes[0].stderr
    assert not (tmp_path / "elsewhere").exists()
    assert TaktukRemote("echo ok", ["node-1"], connection_params=good).run().ok
    tk = TaktukRemote("echo never", ["node-1"], connection_params=bad, nolog_error=True).run()
    assert not tk.ok and "Host key verification failed." in tk.processes[0].error_reason
