"""The emulated bed with a gateway in front of its hosts (as Grid5000 from
outside): stock sshds, hosts reachable only through the frontend's sshd,
and execo's 'gateway' param and per-endpoint gate on top.

Needs root, as every emulated bed (see test_netbed.py); only addresses
of 198.18.0.0/15 inside the namespaces these tests create are used.
"""

import os
import time

import pytest

from execo import ChainPut, Put, Remote, SshProcess, TaktukRemote
from execo.testbed import netns
from execo.testbed.emulated import EmulatedTestbed
from tests.integration.emulation import require_emulation
from tests.tcp_table import established_to

pytestmark = pytest.mark.timeout(300)

BOUND = 120


@pytest.fixture(scope="module")
def bed():
    require_emulation()
    with EmulatedTestbed(num_hosts=40, stock_limits=True, gateway=True) as bed:
        yield bed
    assert not [name for name in netns.bed_namespaces() if name.startswith(bed._prefix)]


def frontend_accepted(bed):
    with open(os.path.join(bed.workdir, "sshd-frontend.log")) as log:
        return log.read().count("Accepted publickey")


def test_hosts_behind_the_gateway_are_reached_through_it_only(bed):
    params = dict(bed.connection_params)
    assert params["gateway"] == "frontend"
    process = SshProcess("hostname; echo $SSH_CONNECTION", bed.hosts[0],
                         connection_params=params).run(BOUND)
    assert process.ok, process.dump()
    name, connection = process.stdout.splitlines()
    assert name == bed.hosts[0]
    assert connection.split()[0] == "198.18.0.1"  # the frontend's address
    del params["gateway"]
    direct = SshProcess("true", bed.hosts[0], connection_params=params,
                        nolog_error=True).run(BOUND)
    assert direct.exit_code == 255


def test_40_hosts_behind_a_stock_gateway_all_succeed(bed):
    remote = Remote("true", bed.hosts, connection_params=bed.connection_params,
                    nolog_error=True).run(BOUND)
    failed = [p for p in remote.processes if not p.ok]
    assert not failed, "%d failed, e.g. %s" % (len(failed), failed[0].error_reason)
    # not by retrying: the gateway refused no connection in the first place
    assert max(p.connect_attempts for p in remote.processes) == 1


def test_with_sharing_one_connection_to_the_gateway(bed):
    before = frontend_accepted(bed)
    params = dict(bed.connection_params, connection_sharing=20)
    for _ in range(2):
        remote = Remote("true", bed.hosts[:10], connection_params=params).run(BOUND)
        assert remote.ok, [p.dump() for p in remote.processes if not p.ok][:1]
    assert frontend_accepted(bed) - before == 1


def test_put_and_taktuk_through_the_gateway(bed, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("payload\n")
    hosts = bed.hosts[:3]
    assert Put(hosts, [str(source)], "/tmp/execo-gw-{{{host}}}.txt",
               connection_params=bed.connection_params).run(BOUND).ok
    params = dict(bed.connection_params, taktuk_options=())
    remote = TaktukRemote("cat /tmp/execo-gw-{{{host}}}.txt; rm /tmp/execo-gw-{{{host}}}.txt",
                          hosts, connection_params=params).run(BOUND)
    assert remote.ok, remote.processes[0].dump()
    assert [p.stdout for p in remote.processes] == ["payload\n"] * len(hosts)


def test_chainput_reaches_its_first_host_through_the_gateway_then_hops_inside(bed, tmp_path):
    source = tmp_path / "chained.txt"
    source.write_text("chained\n")
    hosts = bed.hosts[3:6]
    for host in hosts:  # the bed's hosts share this machine's files
        os.makedirs("/tmp/execo-gw-chain-%s" % host, exist_ok=True)
    before = frontend_accepted(bed)
    chain = ChainPut(hosts, [str(source)], "/tmp/execo-gw-chain-{{{host}}}/",
                     connection_params=bed.connection_params).run(BOUND)
    assert chain.ok, [p.dump() for p in chain.processes if not p.ok][:1]
    assert frontend_accepted(bed) - before == 1  # the first hop only
    check = Remote("cat /tmp/execo-gw-chain-$(hostname)/chained.txt; "
                   "rm -r /tmp/execo-gw-chain-$(hostname)", hosts,
                   connection_params=bed.connection_params).run(BOUND)
    assert [p.stdout for p in check.processes] == ["chained\n"] * len(hosts)


@pytest.mark.parametrize("pty", [False, True])
def test_a_command_with_a_side_effect_runs_once_per_host_through_the_gateway(bed, tmp_path,
                                                                              pty):
    """The 40 connections meet the stock gateway together (started while its
    sshd is frozen, they wait in its listen queue): with the per-endpoint
    gate off it drops some before authentication, those are retried, and
    each host has run the command exactly once."""
    marks = tmp_path / "marks"
    params = dict(bed.connection_params, max_setups_per_endpoint=None, pty=pty)
    bed.freeze_sshd("frontend")
    try:
        remote = Remote("echo x >> %s" % marks, bed.hosts, connection_params=params,
                        nolog_error=True).start()
        deadline = time.monotonic() + 15  # below ConnectTimeout
        # a poll on the kernel's table: no event tells a connect() queued
        while (established_to(22, bed.sshd_pid("frontend")) < len(bed.hosts)
               and time.monotonic() < deadline):
            time.sleep(0.05)
    finally:
        bed.thaw_sshd("frontend")
    remote.wait(BOUND)
    failed = [p for p in remote.processes if not p.ok]
    assert not failed, "%d failed, e.g. %s" % (len(failed), failed[0].error_reason)
    assert marks.read_text() == "x\n" * len(bed.hosts)
    assert max(p.connect_attempts for p in remote.processes) > 1
