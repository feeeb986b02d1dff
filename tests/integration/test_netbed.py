"""The emulated test bed: hosts in network namespaces, links with limits, faults.

Everything here is real: namespaces, veths, bridges, tbf qdiscs, nft
rules, one sshd per host, ssh/scp/taktuk. It needs root; in CI (root) a
skip would hide a broken bed, so there it fails instead. Only addresses
of 198.18.0.0/15 inside the namespaces these tests create are used.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from execo import ChainPut, Get, Put, Remote, SshProcess, TaktukRemote
from execo.testbed import netns
from execo.testbed.emulated import EmulatedTestbed
from tests.integration.emulation import require_emulation

pytestmark = pytest.mark.timeout(180)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEEPALIVE = {"ServerAliveInterval": 1, "ServerAliveCountMax": 3, "ConnectTimeout": 3}
# a partitioned host's ssh gives up after ServerAliveInterval x CountMax;
# the rest is room for a loaded machine
BOUND = 1 * 3 + 9
HOST_RATE = "24mbit"  # 3 MB/s: a few MiB take long enough to be cut in the middle


def machine_state():
    """What this machine's own network namespace shows: nothing of a bed
    may appear or stay there."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    qdiscs = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    return ([line.split(":")[1].strip() for line in links.splitlines()], qdiscs)


def assert_nothing_left(namespaces, pids, workdir):
    assert not set(namespaces) & set(netns.bed_namespaces())
    left = [pid for pid in pids if os.path.exists("/proc/%d" % pid)
            and open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not left, left
    assert workdir is None or not os.path.exists(workdir)


@pytest.fixture(scope="module")
def bed():
    require_emulation()
    before = machine_state()
    testbed = EmulatedTestbed({"sites": {"north": {"hosts": 10, "link": {"rate": HOST_RATE}},
                                         "south": {"hosts": 10, "link": {"rate": HOST_RATE}}},
                               "backbone": {"rate": "1gbit"}},
                              ssh_options=KEEPALIVE)
    with testbed:
        namespaces = list(testbed.namespaces.values()) + [testbed.frontend_namespace]
        pids = [sshd.pid for sshd in testbed._sshds.values()]
        workdir = testbed.workdir
        yield testbed
    assert_nothing_left(namespaces, pids, workdir)
    assert machine_state() == before


@pytest.fixture
def healed(bed):
    yield bed
    bed.thaw()
    bed.heal()
    bed.restore()


def hosts_of(action):
    return {process.host.address: process for process in action.processes}


def test_each_host_is_its_own_machine_with_its_own_name_and_address(bed):
    action = Remote("hostname; echo $SSH_CONNECTION", bed.hosts,
                    connection_params=bed.connection_params).run(timeout=60)
    assert action.ok, [p.error_reason for p in action.processes if not p.ok]
    for host, process in hosts_of(action).items():
        name, connection = process.stdout.splitlines()
        assert name == host
        source, _, destination, port = connection.split()
        assert (source, destination, port) == ("198.18.0.1", bed.addresses[host], "22")
    assert len(set(bed.addresses.values())) == 20


def test_nothing_outside_the_bed_is_routable_from_any_of_its_namespaces(bed):
    outside = ["1.1.1.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "198.20.0.1", "100.64.0.1"]
    for line in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                               text=True).stdout.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith("127."):
            outside.append(address)  # this machine's own addresses
    names = [name for name in netns.bed_namespaces() if name.startswith(bed._prefix)]
    assert len(names) == 20 + 4  # hosts, frontend, backbone, two site switches
    for name in names:
        for address in outside + ["2001:db8::1"]:
            result = subprocess.run(["ip", "-n", name, "route", "get", address],
                                    capture_output=True, text=True)
            assert result.returncode != 0 and "unreachable" in result.stderr, (name, address,
                                                                              result.stdout)
        routes = json.loads(subprocess.run(["ip", "-n", name, "-j", "-4", "route", "show",
                                            "table", "all"], capture_output=True,
                                           text=True).stdout)
        for route in routes:
            destination = route["dst"]
            assert (route.get("table") == "local" and route.get("dev") == "lo"
                    or destination.startswith("198.18.") or destination.startswith("198.19.")
                    ), (name, route)


def test_the_machines_own_namespace_gets_no_address_of_the_bed(bed):
    addresses = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                               text=True).stdout
    assert "198.18." not in addresses and "198.19." not in addresses


def test_taktuk_hops_from_host_to_host_across_the_bed(bed):
    action = TaktukRemote("echo $SSH_CONNECTION", bed.hosts,
                          connection_params=bed.connection_params).run(timeout=60)
    assert action.ok, [p.error_reason for p in action.processes if not p.ok]
    sources = {process.stdout.split()[0] for process in action.processes}
    # some hosts were reached from other hosts, through the bed's links
    assert sources - {"198.18.0.1"} <= set(bed.addresses.values())
    assert sources - {"198.18.0.1"}


def _partition_when(bed, victim, condition, action):
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, action
        assert not action.ended, [p.error_reason for p in action.processes if not p.ok]
        time.sleep(0.05)  # polling a file's size: no event tells it grows
    bed.partition(victim)
    return time.time()


def _assert_only_victim_failed(action, victim, partitioned_at, reasons):
    by_host = hosts_of(action)
    failed = {host for host, process in by_host.items() if not process.ok}
    assert failed == {victim}, {h: by_host[h].error_reason for h in failed}
    # the reason is execo's, not only in stderr: scp ends a partition with
    # exit 1 "lost connection" or 255 "scp: Connection closed", which name
    # no cause, and both are classified as a connection lost
    reason = by_host[victim].error_reason or ""
    assert any(word in reason for word in reasons), by_host[victim].dump()
    assert by_host[victim].end_date - partitioned_at < BOUND, reason
    return reason


def test_a_host_partitioned_in_the_middle_of_a_remote_ends_lost_the_others_succeed(healed):
    bed = healed
    action = Remote("echo started; sleep 7", bed.hosts,
                    connection_params=bed.connection_params).start()
    for process, index, _ in action.expect("started", timeout=60):
        assert index == 0, process.dump()
    partitioned_at = time.time()
    bed.partition("node-7")
    action.wait(60)
    _assert_only_victim_failed(action, "node-7", partitioned_at,
                               ("keepalives", "connection lost"))


def test_a_connection_to_a_partitioned_host_ends_by_connect_timeout_from_anywhere(healed):
    """ssh's ConnectTimeout bounds a connection to a partitioned host both
    from this machine (through the bed's ProxyCommand) and from a host of
    the bed (where ssh connects by itself)."""
    bed = healed
    bed.partition("node-5")
    started = time.monotonic()
    direct = SshProcess("true", "node-5", connection_params=bed.connection_params).run(60)
    direct_took = time.monotonic() - started
    assert direct.exit_code == 255, direct.dump()
    assert "no ssh answer within ConnectTimeout" in direct.error_reason, direct.dump()
    # ConnectTimeout=3 (KEEPALIVE), then the room a loaded machine needs
    assert direct_took < 3 + 9, direct.dump()
    hop = shlex.join(["ssh", "-F", bed.ssh_config, "-o", "ConnectTimeout=2", "node-5", "true"])
    started = time.monotonic()
    relayed = SshProcess(hop + "; echo exit=$?", "node-6",
                         connection_params=bed.connection_params).run(60)
    assert relayed.ok and "exit=255" in relayed.stdout, relayed.dump()
    assert time.monotonic() - started < 2 + 9, relayed.dump()


@pytest.fixture
def payload():
    with tempfile.TemporaryDirectory(prefix="netbed-") as directory:
        source = os.path.join(directory, "payload")
        with open(source, "wb") as payload_file:
            payload_file.write(os.urandom(6 << 20))
        yield directory, source


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def test_a_host_partitioned_in_the_middle_of_a_put_fails_the_others_get_the_file(healed,
                                                                                 payload):
    bed, (directory, source) = healed, payload
    for host in bed.hosts:
        os.makedirs(os.path.join(directory, host))
    action = Put(bed.hosts, [source], directory + "/{{{host}}}/",
                 connection_params=bed.connection_params).start()
    target = os.path.join(directory, "node-12", "payload")
    partitioned_at = _partition_when(bed, "node-12", lambda: _size(target) > (1 << 20), action)
    action.wait(90)
    _assert_only_victim_failed(action, "node-12", partitioned_at,
                               ("connection lost",))
    for host in bed.hosts:
        if host != "node-12":
            assert _size(os.path.join(directory, host, "payload")) == 6 << 20


def test_a_host_partitioned_in_the_middle_of_a_get_fails_the_others_are_fetched(healed,
                                                                               payload):
    bed, (directory, source) = healed, payload
    local = os.path.join(directory, "fetched")
    for host in bed.hosts:
        os.makedirs(os.path.join(local, host))
    action = Get(bed.hosts, [source], local + "/{{{host}}}/",
                 connection_params=bed.connection_params).start()
    target = os.path.join(local, "node-3", "payload")
    partitioned_at = _partition_when(bed, "node-3", lambda: _size(target) > (1 << 20), action)
    action.wait(90)
    _assert_only_victim_failed(action, "node-3", partitioned_at,
                               ("connection lost",))


def test_a_host_partitioned_in_the_middle_of_a_taktukremote_is_lost_the_others_succeed(
        healed):
    bed = healed
    action = TaktukRemote("echo $SSH_CONNECTION; sleep 7", bed.hosts,
                          connection_params=bed.connection_params).start()
    for process, index, _ in action.expect(r"198\.\S+ ", timeout=60):
        assert index == 0, process.dump()
    # a leaf of taktuk's tree: cutting a relay host loses its subtree too
    sources = {process.stdout.split()[0] for process in action.processes}
    victim = next(host for host in reversed(bed.hosts) if bed.addresses[host] not in sources)
    partitioned_at = time.time()
    bed.partition(victim)
    action.wait(60)
    _assert_only_victim_failed(action, victim, partitioned_at, ("connection", "keepalive"))


def test_a_chainput_cut_in_the_middle_gives_up_the_victim_and_delivers_after_it(healed,
                                                                                payload):
    """The hosts after the break get the files in a new chain, built of the
    hosts still missing with the silent one at its end."""
    bed, (directory, source) = healed, payload
    for host in bed.hosts:
        os.makedirs(os.path.join(directory, host))
    action = ChainPut(bed.hosts, [source], directory + "/{{{host}}}",
                      connection_params=bed.connection_params).start()
    target = os.path.join(directory, "node-8", "payload")
    _partition_when(bed, "node-8", lambda: _size(target) > (1 << 20), action)
    assert action.wait(120).ended
    by_host = hosts_of(action)
    assert not by_host["node-8"].ok and by_host["node-8"].error_reason
    assert all(by_host[host].ok for host in bed.hosts if host != "node-8"), \
        {h: p.error_reason for h, p in by_host.items() if not p.ok}
    for host in bed.hosts:
        if host != "node-8":
            assert _size(os.path.join(directory, host, "payload")) == 6 << 20


def test_a_frozen_host_ends_by_timeout_the_others_succeed(healed):
    bed = healed
    # keepalives long enough that the action's own timeout comes first
    patient = dict(bed.connection_params)
    patient["ssh_options"] = ("-o", "ServerAliveInterval=60") + patient["ssh_options"]
    action = Remote("echo started; sleep 2", bed.hosts[:5], connection_params=patient,
                    timeout=8).start()
    for process, index, _ in action.expect("started", timeout=60):
        assert index == 0, process.dump()
    bed.freeze("node-2")
    action.wait(60)
    by_host = hosts_of(action)
    assert by_host["node-2"].timeouted and not by_host["node-2"].ok
    assert all(by_host[h].ok for h in bed.hosts[:5] if h != "node-2")


def test_a_lossy_link_still_delivers_but_slower(healed, payload):
    bed, (directory, source) = healed, payload
    os.makedirs(os.path.join(directory, "node-4"))

    # a lossy line delays keepalive answers too: patient ones here
    patient = dict(bed.connection_params)
    patient["scp_options"] = ("-o", "ServerAliveInterval=20", "-o", "ConnectTimeout=20"
                              ) + patient["scp_options"]

    def copy_time():
        start = time.monotonic()
        put = Put(["node-4"], [source], directory + "/node-4/",
                  connection_params=patient).run(timeout=120)
        assert put.ok, put.processes[0].dump()
        return time.monotonic() - start

    clean = copy_time()
    bed.degrade("node-4", loss=12)
    # on a sub-millisecond RTT, TCP repairs most losses at once: the cost
    # is in its retransmission timeouts, whose number varies from run to
    # run; a lucky run is retried, twice at most
    lossy = [copy_time() for _ in range(1)]
    while lossy[-1] <= 1.3 * clean and len(lossy) < 3:
        lossy.append(copy_time())
    assert lossy[-1] > 1.3 * clean, (clean, lossy)
    assert _size(os.path.join(directory, "node-4", "payload")) == 6 << 20


_ECHO_SERVER = r"""
import socket, sys
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 7007)); server.listen(5)
print("listening", flush=True)
connection, _ = server.accept()
while True:
    data = connection.recv(4096)
    if not data:
        break
    connection.sendall(data)
"""

_RTT_CLIENT = r"""
import socket, statistics, sys, time
sock = socket.create_connection((sys.argv[1], 7007), timeout=10)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter(); sock.sendall(b"x"); assert sock.recv(1) == b"x"
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def measure_rtt(bed, host, rounds=20):
    """Median of TCP round trips from the frontend to ``host``'s port 7007
    (through the relay, as ssh's are). The echo server and the client are
    the measuring apparatus: at the relay's low real-time priority, so
    that a loaded machine's scheduling delays count as little as possible."""
    nice = ["chrt", "-f", "1"]
    server = subprocess.Popen(bed.netns_command(host, nice + [sys.executable, "-c",
                                                              _ECHO_SERVER]),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline() == "listening\n"
        client = subprocess.run(bed.netns_command("frontend", nice + [
            sys.executable, "-c", _RTT_CLIENT, bed.addresses[host], str(rounds)]),
            capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
        return float(client.stdout)
    finally:
        server.kill()
        server.wait()


def assert_rtt(bed, host, expected, attempts=5):
    """The median of 20 round trips is within 10 % of ``expected``, in one
    of a few attempts: a loaded machine only ever adds to a round trip
    (every process on the path must be woken up), so the quietest attempt
    is the one that shows the emulation; none may be faster than asked."""
    medians = []
    for _ in range(attempts):
        medians.append(measure_rtt(bed, host))
        assert medians[-1] > 0.9 * expected, medians
        if medians[-1] < 1.1 * expected:
            return
    pytest.fail("RTT to %s: medians %s, expected %.4f s +-10 %%" % (host, medians, expected))


def test_emulated_latency_is_the_rtt_asked_for_and_can_be_changed():
    require_emulation()
    topology = {"sites": {"a": {"hosts": 1, "link": {"delay": "4ms"}},
                          "b": {"hosts": 1, "link": {"delay": "2ms"}}},
                "backbone": {"delay": "1ms"}, "frontend": {"link": {"delay": "0.5ms"}}}
    with EmulatedTestbed(topology, relayed_ports=(7007,)) as bed:
        # frontend -> node-1: 0.5 + 1 (site a's uplink) + 4 ms, each way
        assert_rtt(bed, "node-1", 0.011)
        assert_rtt(bed, "node-2", 0.007)
        bed.degrade("node-2", delay="24ms")
        assert_rtt(bed, "node-2", 0.051)
        start = time.monotonic()
        assert SshProcess("true", "node-2", connection_params=bed.connection_params
                          ).run(timeout=30).ok
        assert time.monotonic() - start > 3 * 0.051  # ssh's handshake: several round trips
        assert bed.relay_cpu_seconds() > 0


def test_leaving_the_bed_removes_namespaces_links_qdiscs_processes_and_files():
    require_emulation()
    before = machine_state()
    with EmulatedTestbed(num_hosts=3, num_sites=2, rate="50mbit", delay="1ms",
                         loss=1) as bed:
        namespaces = list(bed.namespaces.values()) + [bed.frontend_namespace]
        pids = [sshd.pid for sshd in bed._sshds.values()] + [bed._relay.pid]
        process = SshProcess("nohup sleep 300 >/dev/null 2>&1 & echo $!", "node-2",
                             connection_params=bed.connection_params).run(timeout=30)
        assert process.ok, process.dump()
        in_namespace = netns.netns_pids(bed.namespaces["node-2"])
        workdir = bed.workdir
        assert "tbf" in subprocess.run(["tc", "-n", bed.namespaces["node-1"], "qdisc"],
                                       capture_output=True, text=True).stdout
    assert_nothing_left(namespaces, pids + in_namespace, workdir)
    # the owner's record goes with its last bed (the module's may still run)
    assert (os.path.exists(os.path.join(netns.OWNER_DIR, str(os.getpid())))
            == bool(netns.bed_namespaces(os.getpid())))
    assert machine_state() == before


_KILLED_OWNER = r"""
import os, signal, sys
sys.path.insert(0, %r)
from execo.testbed.emulated import EmulatedTestbed
bed = EmulatedTestbed(num_hosts=2, delay="1ms").start()
print(" ".join(bed.namespaces.values()), bed.workdir, bed._relay.pid,
      " ".join(str(s.pid) for s in bed._sshds.values()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_bed_left_by_a_killed_owner_is_detected_and_removed_at_the_next_start():
    require_emulation()
    result = subprocess.run([sys.executable, "-c", _KILLED_OWNER % REPO], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    words = result.stdout.split()
    namespaces, workdir, pids = words[:2], words[2], [int(pid) for pid in words[3:]]
    assert set(namespaces) <= set(netns.bed_namespaces())
    with EmulatedTestbed(num_hosts=1) as bed:
        assert bed.hosts == ["node-1"]
        assert_nothing_left(namespaces, pids, workdir)


def test_python_m_execo_testbed_emulated_takes_fault_commands_from_another_shell():
    require_emulation()
    child = subprocess.Popen([sys.executable, "-m", "execo.testbed", "--emulated", "-n", "2",
                              "--sites", "2", "--rate", "100mbit"],
                             stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                             cwd=REPO)
    try:
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            lines.append(child.stdout.readline())
            assert lines[-1], "".join(lines)
        output = "".join(lines)
        control = next(line.split()[-2] for line in lines if "--control" in line)
        config = next(line.split()[2] for line in lines if line.strip().startswith("ssh -F"))

        def ssh(host):
            return subprocess.run(["ssh", "-F", config, "-o", "ConnectTimeout=2", host,
                                   "hostname"], capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL)

        assert ssh("node-2").stdout == "node-2\n", output

        def send(*command):
            return subprocess.run([sys.executable, "-m", "execo.testbed", "--control", control]
                                  + list(command), capture_output=True, text=True, timeout=30,
                                  cwd=REPO).stdout

        assert send("partition", "site-2") == "ok partition site-2\n"
        assert ssh("node-2").returncode == 255
        assert ssh("node-1").returncode == 0
        assert send("heal") == "ok heal\n"
        assert ssh("node-2").returncode == 0
        assert send("degrade", "node-1", "rate=5mbit").startswith("ok node-1: 5 Mbit/s")
        assert send("freeze", "nowhere").startswith("error:")
        child.send_signal(signal.SIGINT)
        assert child.wait(60) == 0
        assert not netns.bed_namespaces(child.pid)
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait(60)
