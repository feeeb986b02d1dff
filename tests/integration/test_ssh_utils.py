"""execo.ssh_utils' 2.x command lines reach the loopback test bed when a
script runs them itself, as 2.x scripts did (``get_ssh_command() +
[host, cmd]``, scp, taktuk's connector)."""

import os
import shlex

from execo import Process
from execo.ssh_utils import (get_rewritten_host_address, get_scp_command, get_ssh_command,
                             get_ssh_scp_auth_options, get_taktuk_connector_command)


def test_get_ssh_command_runs_a_command_on_a_host(testbed):
    argv = get_ssh_command() + [testbed.hosts[0], "echo reached"]
    p = Process(argv).run()
    assert p.ok and p.stdout == "reached\n"


def test_get_scp_command_copies_a_file(testbed, tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("copied\n")
    target = tmp_path / "target.txt"
    argv = get_scp_command() + [str(source), "%s:%s" % (testbed.hosts[0], target)]
    assert Process(argv).run().ok
    assert target.read_text() == "copied\n"


def test_taktuk_connector_command_is_a_working_ssh_line(testbed):
    argv = shlex.split(get_taktuk_connector_command()) + [testbed.hosts[1], "echo via-connector"]
    assert Process(argv).run().stdout == "via-connector\n"


def test_arguments_win_over_connection_params():
    options = get_ssh_scp_auth_options(user="alice", port=2200,
                                       connection_params={'user': 'bob', 'port': 22,
                                                          'keyfile': '/k'})
    assert options == ('-o', 'User=alice', '-i', '/k', '-o', 'Port=2200')
    assert get_ssh_command(port=2200)[-2:] == ['-p', '2200']


def test_rewritten_host_address_uses_the_rewrite_function():
    params = {'host_rewrite_func': lambda address: address.replace("grid5000.fr", "g5k")}
    assert get_rewritten_host_address("n-1.nancy.grid5000.fr", params) == "n-1.nancy.g5k"
    assert get_rewritten_host_address("n-1", None) == "n-1"
