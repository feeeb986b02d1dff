"""PortForwarder and get_port against the loopback sshd and a real web server.

The service behind the forwards is ``python3 -m http.server`` bound to
127.0.0.2 only, so a page can come through the forward and nowhere else
(the local end listens on 127.0.0.1).
"""

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from execo import PortForwarder, configuration
from execo.action import ProcessesFailed
from execo.utils import get_port

SERVICE_ADDRESS = "127.0.0.2"
PAGE = "served from behind the forward\n"


def _free_port(address="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _listening(port):
    """A socket listening on 127.0.0.1:``port``, or None if it is taken."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


def _free_block(size):
    """``size`` consecutive ports on 127.0.0.1 that can be bound now, below
    the kernel's ephemeral range: a port of that range can be the source
    port of any outgoing connection (the suite opens thousands to its
    sshd), which keeps it unbindable for a minute after, in TIME_WAIT."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral_low = int(ranges.read().split()[0])
    for base in range(ephemeral_low - 4000, ephemeral_low - size, size):
        sockets = [_listening(port) for port in range(base, base + size)]
        for sock in sockets:
            if sock is not None:
                sock.close()
        if all(sockets):
            return base
    pytest.fail("no %d consecutive free ports below %d" % (size, ephemeral_low))


@pytest.fixture(scope="module")
def web_service(tmp_path_factory):
    """A real http.server on 127.0.0.2 serving ``page.txt``; yields its port."""
    root = tmp_path_factory.mktemp("www")
    (root / "page.txt").write_text(PAGE)
    for _ in range(5):
        port = _free_port(SERVICE_ADDRESS)
        server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind",
                                   SERVICE_ADDRESS, "--directory", str(root), str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # it prints "Serving HTTP on ..." once listening, or dies on a bind error
        line = server.stdout.readline()
        if "Serving HTTP" in line:
            break
        server.wait()
    else:
        pytest.fail("http.server did not start: %r" % line)
    try:
        yield port
    finally:
        server.kill()
        server.wait()


def _fetch(port, timeout=20):
    url = "http://127.0.0.1:%d/page.txt" % port
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


@pytest.fixture
def port_range():
    saved = configuration['port_range']
    yield
    configuration['port_range'] = saved


def test_get_port_round_robins_inside_the_configured_range(port_range):
    configuration['port_range'] = (41000, 41004)
    ports = [get_port() for _ in range(8)]
    assert all(41000 <= port < 41004 for port in ports)
    assert sorted(ports[:4]) == [41000, 41001, 41002, 41003]
    assert ports[4:] == ports[:4]


def test_get_port_refuses_an_empty_range(port_range):
    configuration['port_range'] = (5000, 5000)
    with pytest.raises(ValueError, match="port_range"):
        get_port()


def test_twenty_forwarders_opened_at_once_all_reach_the_service(testbed, web_service):
    def open_and_fetch(index):
        with PortForwarder(testbed.hosts[index % len(testbed.hosts)], SERVICE_ADDRESS,
                           web_service) as forward:
            # no retry, no sleep: the port must work as soon as the body starts
            return forward.local_port, _fetch(forward.local_port)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(open_and_fetch, range(20)))
    assert [page for _, page in results] == [PAGE] * 20
    assert len({port for port, _ in results}) == 20
    low, high = configuration['port_range']
    assert all(low <= port < high for port, _ in results)


def test_the_forward_is_closed_when_the_with_statement_ends(testbed, web_service):
    with PortForwarder("node-1", SERVICE_ADDRESS, web_service) as forward:
        assert forward.forwarding.is_set()
        port = forward.local_port
        assert _fetch(port) == PAGE
    assert forward.ended and forward.killed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# ssh as a shell that ignores SIGTERM and stays after its ssh: what an ssh
# that misses the SIGTERM looks like (OpenSSH 9.2 did, 3 kills in 100 under
# two busy loops: asleep in poll with no signal pending, until the SIGKILL)
_SSH_DEAF_TO_SIGTERM = ["sh", "-c", "trap '' TERM; ssh \"$@\"; sleep 60", "ssh"]


def test_the_with_statement_ends_after_the_forward_even_if_sigterm_is_missed(
        testbed, web_service, monkeypatch):
    monkeypatch.setitem(configuration, 'kill_timeout', 1)
    params = {'ssh': _SSH_DEAF_TO_SIGTERM}
    with PortForwarder("node-1", SERVICE_ADDRESS, web_service,
                       connection_params=params) as forward:
        assert _fetch(forward.local_port) == PAGE
    assert forward.ended and forward.forced_kill


def test_ports_in_use_are_skipped_when_the_port_is_chosen(testbed, web_service, port_range,
                                                         caplog_execo):
    base = _free_block(4)
    taken = [_listening(port) for port in (base, base + 1, base + 2)]
    try:
        assert all(taken)
        configuration['port_range'] = (base, base + 4)
        for _ in range(3):  # wherever the round-robin is, three tries lose
            with PortForwarder("node-1", SERVICE_ADDRESS, web_service) as forward:
                assert forward.local_port == base + 3
                assert _fetch(forward.local_port) == PAGE
        # losing a port to another program is no failure worth a warning
        assert caplog_execo.text == ""
    finally:
        for sock in taken:
            sock.close()


def test_a_range_with_every_port_in_use_fails_the_forward_after_its_tries(
        testbed, web_service, port_range):
    base = _free_block(2)
    taken = [_listening(port) for port in (base, base + 1)]
    try:
        assert all(taken)
        configuration['port_range'] = (base, base + 2)
        forward = PortForwarder("node-1", SERVICE_ADDRESS, web_service,
                                nolog_exit_code=True, nolog_error=True)
        with pytest.raises(ProcessesFailed):
            with forward:
                pass
        # the last try is what the caller sees: ended, and why
        assert forward.ended and not forward.ok
        assert "Address already in use" in forward.stderr
        assert forward.local_port in (base, base + 1)
    finally:
        for sock in taken:
            sock.close()


def test_a_given_port_in_use_is_a_failure_not_a_silent_change(testbed, web_service):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        forward = PortForwarder("node-1", SERVICE_ADDRESS, web_service, local_port=port,
                                nolog_exit_code=True, nolog_error=True)
        with pytest.raises(ProcessesFailed):
            with forward:
                pass
    assert forward.local_port == port
    assert "Address already in use" in forward.stderr
    assert not forward.running


def test_forwarding_timeout_bounds_the_wait_for_a_silent_ssh_server(testbed):
    # a port that accepts TCP connections but never says a word: ssh waits
    # for the banner far longer than forwarding_timeout
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        forward = PortForwarder("127.0.0.1", SERVICE_ADDRESS, 80,
                                connection_params={'port': silent.getsockname()[1],
                                                   'forwarding_timeout': 1},
                                nolog_exit_code=True, nolog_error=True)
        started = time.monotonic()
        with pytest.raises(ProcessesFailed):
            forward.__enter__()
        elapsed = time.monotonic() - started
    assert not forward.forwarding.is_set()
    assert forward.ended and forward.killed
    # ssh's own ConnectTimeout is 20 s: we must have given up long before
    assert elapsed < 10


def test_a_forward_left_open_is_closed_at_interpreter_exit(testbed, web_service, tmp_path):
    script = textwrap.dedent("""
        import sys
        from execo import PortForwarder, default_connection_params
        default_connection_params['ssh_options'] = tuple(sys.argv[1:])
        forward = PortForwarder("node-1", %r, %d).wait_forwarding()
        print(forward.local_port, forward.pid, flush=True)
    """ % (SERVICE_ADDRESS, web_service))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", script]
                          + list(testbed.connection_params['ssh_options']),
                          capture_output=True, text=True, timeout=60, cwd=root,
                          env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 0, done.stderr
    port, pid = (int(word) for word in done.stdout.split())
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
