"""The 'gateway' connection param and the per-endpoint set-up gate, on the
loopback sshd: an alias of the bed serves as the gateway (its sshd
forwards to itself), and sshd's log counts the authentications, one per
connection, so that a connection through the gateway shows as two.
"""

import os
import threading

import pytest

from execo import Get, Put, Remote
from execo.process_base import ProcessLifecycleHandler
from execo.taktuk import TaktukRemote
from execo.testbed import LoopbackTestbed
from tests.quick_retries import QUICK_RETRIES

pytestmark = pytest.mark.timeout(180)

BOUND = 60


@pytest.fixture
def bed():
    with LoopbackTestbed(num_hosts=6, extra_names=("gateway",)) as bed:
        yield bed


def accepted(bed):
    with open(bed.sshd_log) as log:
        return log.read().count("Accepted publickey")


def through(bed, **more):
    return dict(dict(bed.connection_params, gateway="gateway"), **more)


def test_remote_through_a_gateway_authenticates_on_the_gateway_then_on_each_host(bed):
    hosts = bed.hosts[:3]
    remote = Remote("echo on {{{host}}}", hosts, connection_params=through(bed)).run(BOUND)
    assert remote.ok, remote.processes[0].dump()
    assert sorted(p.stdout.strip() for p in remote.processes) == ["on %s" % h for h in hosts]
    assert accepted(bed) == 2 * len(hosts)
    assert "ProxyCommand=" in " ".join(remote.processes[0].real_cmd)


def test_a_bad_gateway_fails_the_hosts_it_was_to_reach(bed):
    remote = Remote("true", bed.hosts[:2], connection_params=through(bed, gateway="node-1:1", **QUICK_RETRIES),
                    nolog_error=True).run(BOUND)
    assert not remote.ok
    assert all(p.exit_code == 255 for p in remote.processes)
    assert accepted(bed) == 0


def test_with_connection_sharing_one_master_to_the_gateway_carries_every_host(bed):
    hosts = bed.hosts[:5]
    params = through(bed, connection_sharing=20)
    for _ in range(2):
        remote = Remote("true", hosts, connection_params=params).run(BOUND)
        assert remote.ok
    # one connection to the gateway, one master for the hosts (every
    # alias is the same sshd, which ssh's ControlPath %C tells by
    # HostName and Port): no race of first connections opened masters
    assert accepted(bed) == 2


def test_put_and_get_through_a_gateway(bed, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("payload\n")
    hosts = bed.hosts[:2]
    remote_dir = str(tmp_path / "remote-{{{host}}}")
    for host in hosts:
        os.mkdir(str(tmp_path / ("remote-%s" % host)))
    assert Put(hosts, [str(source)], remote_dir, connection_params=through(bed)).run(BOUND).ok
    back = tmp_path / "back"
    back.mkdir()
    get = Get(hosts, [remote_dir + "/f.txt"], str(back / "{{{host}}}.txt"),
              connection_params=through(bed)).run(BOUND)
    assert get.ok
    assert sorted(os.listdir(str(back))) == ["%s.txt" % h for h in hosts]
    assert accepted(bed) == 2 * 2 * len(hosts)


def test_taktuk_reaches_the_hosts_through_the_gateway(bed):
    hosts = bed.hosts[:2]
    params = through(bed, taktuk_options=())  # no self-propagation: one hop per host
    remote = TaktukRemote("echo on {{{host}}}", hosts, connection_params=params).run(BOUND)
    assert remote.ok, remote.processes[0].dump()
    assert sorted(p.stdout.strip() for p in remote.processes) == ["on %s" % h for h in hosts]
    assert accepted(bed) == 2 * len(hosts)


class MostAtOnce(ProcessLifecycleHandler):
    """The most processes alive at the same time (conductor thread)."""

    def __init__(self):
        self.alive = 0
        self.most = 0
        self.lock = threading.Lock()

    def start(self, process):
        with self.lock:
            self.alive += 1
            self.most = max(self.most, self.alive)

    def end(self, process):
        with self.lock:
            self.alive -= 1


def run_counting(bed, cmd, hosts, **params):
    counter = MostAtOnce()
    remote = Remote(cmd, hosts, connection_params=dict(bed.connection_params, **params),
                    process_args={"lifecycle_handlers": [counter]}).run(BOUND)
    assert remote.ok, [p.dump() for p in remote.processes if not p.ok][:1]
    return counter.most


def test_without_the_marker_a_silent_command_holds_its_set_up_slot_until_it_ends(bed):
    # every alias leads to the same sshd: one endpoint; without retries no
    # marker says when the command started, and it writes nothing
    most = run_counting(bed, "sleep 0.5", bed.hosts, max_setups_per_endpoint=2,
                        connect_attempts=1)
    assert most == 2


def test_the_started_marker_frees_the_set_up_slot(bed):
    most = run_counting(bed, "sleep 3", bed.hosts, max_setups_per_endpoint=2)
    assert most == len(bed.hosts)


def test_without_the_marker_a_command_that_writes_frees_its_slot_once_started(bed):
    most = run_counting(bed, "echo started; sleep 3", bed.hosts, max_setups_per_endpoint=2,
                        connect_attempts=1)
    assert most == len(bed.hosts)


def test_no_limit_when_the_param_is_none(bed):
    most = run_counting(bed, "sleep 2", bed.hosts, max_setups_per_endpoint=None)
    assert most == len(bed.hosts)


def test_a_kill_ends_the_processes_waiting_for_their_endpoint(bed):
    params = dict(bed.connection_params, max_setups_per_endpoint=1, connect_attempts=1)
    remote = Remote("sleep 30", bed.hosts, connection_params=params).start()
    remote.kill()
    remote.wait(BOUND)
    assert remote.ended
    assert all(p.ended and p.killed for p in remote.processes)
    assert sum(1 for p in remote.processes if p.started) <= 1


def test_200_connections_to_one_stock_sshd_all_succeed():
    with LoopbackTestbed(num_hosts=200, stock_limits=True) as bed:
        remote = Remote("true", bed.hosts, connection_params=bed.connection_params,
                        nolog_error=True).run(BOUND * 2)
        failed = [p for p in remote.processes if not p.ok]
        assert not failed, "%d failed, e.g. %s" % (len(failed), failed[0].error_reason)
        # not by retrying: no connection was refused in the first place
        assert max(p.connect_attempts for p in remote.processes) == 1
