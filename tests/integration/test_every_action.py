"""One timeout/kill policy for every kind of action (issue 13).

The same checks run over Local and every action class of every registered
transport (`execo.transports.registered_actions`): ssh, scp, taktuk,
chainput, and `ExecRemote`, a transport defined here, in the tests, which
the checks pick up from its one registration line. For each:

- ``timeout`` ends it in under 0.25x its untimed duration, ``timeouted``;
- ``kill()`` ends it within ``kill_timeout`` + 1 s;
- afterwards none of its processes is left, here or on the sshd side.

Transfers are made long by a ProxyCommand that relays ssh's bytes at a
bounded rate (real ssh, real sshd; only the link is slow), so that a copy
of a small file lasts seconds, as over a slow network.
"""

import os
import sys
import textwrap
import time

import pytest

from execo import Local, Process, configuration
from execo.host_action import HostCommand
from execo.testbed.procs import descendants as _descendants, marked as _marked
from execo.transports import register_transport, registered_actions

pytestmark = pytest.mark.timeout(300)

DURATION = 6.0        # seconds a command runs untimed
RATE = 128 * 1024     # bytes per second through the slow link
FILE_SIZE = 640 * 1024
KILL_TIMEOUT = 2.0
HOSTS = 2


class ExecRemote(HostCommand):
    """A test-only transport: each host's command run locally through sh,
    with ``{{{host}}}`` substituted (ClusterShell's Exec worker)."""

    def _new_process(self, cmd, host, args):
        process = Process(cmd, shell=True, **args)
        process.host = host
        return process


register_transport("test-exec", remote=ExecRemote)

_RELAY = textwrap.dedent("""\
    import os, select, socket, sys, time
    rate = int(sys.argv[3])
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    sources = {0: sock.fileno(), sock.fileno(): 1}
    step = 0.05
    while sources:
        readable, _, _ = select.select(list(sources), [], [])
        for fd in readable:
            data = os.read(fd, max(1, int(rate * step)))
            if not data:
                sys.exit(0)
            target = sources[fd]
            while data:
                data = data[os.write(target, data):]
            time.sleep(step)
    """)


@pytest.fixture(scope="module")
def slow_link(testbed, tmp_path_factory):
    """Connection params whose every ssh connection crawls at RATE."""
    directory = tmp_path_factory.mktemp("every-action")
    relay = directory / "relay.py"
    relay.write_text(_RELAY)
    proxy = ("-o", "ProxyCommand=%s %s %%h %%p %d" % (sys.executable, relay, RATE))
    return {key: tuple(testbed.connection_params[key]) + proxy
            for key in ("ssh_options", "scp_options", "taktuk_connector_options")}


def _build(role, cls, testbed, params, workdir, tag, **kwargs):
    """An action of ``cls`` for ``role``, reaching HOSTS hosts."""
    hosts = testbed.hosts[:HOSTS]
    if cls is Local:
        return Local("sleep %s" % DURATION, **kwargs)
    if role == "remote":
        return cls("sleep %s" % DURATION, hosts, connection_params=params, **kwargs)
    source = workdir / "payload.bin"
    if not source.exists():
        source.write_bytes(os.urandom(FILE_SIZE))
    target = workdir / tag
    for host in hosts:
        (target / host).mkdir(parents=True, exist_ok=True)
    if role == "put":
        return cls(hosts, [str(source)], str(target / "{{{host}}}"),
                   connection_params=params, **kwargs)
    return cls(hosts, [str(source)], str(target / "{{{host}}}"), connection_params=params,
               **kwargs)


def _cases():
    cases = [("local", "local", Local)]
    cases += [(name, role, cls) for name, role, cls in registered_actions()
              if not name.startswith("doc-")]
    return cases


CASES = _cases()
IDS = ["%s-%s" % (name, role) for name, role, _ in CASES]


@pytest.fixture(scope="module")
def untimed(testbed, slow_link, tmp_path_factory):
    """Each case's untimed duration, all measured at once (the link, not
    the CPU, sets a transfer's pace)."""
    workdir = tmp_path_factory.mktemp("untimed")
    actions = {}
    for name, role, cls in CASES:
        actions[(name, role)] = _build(role, cls, testbed, slow_link, workdir,
                                       "%s-%s" % (name, role))
    started = time.monotonic()
    for action in actions.values():
        action.start()
    durations = {}
    for key, action in actions.items():
        action.wait(timeout=120)
        durations[key] = time.monotonic() - started
        assert action.ok, action
    return durations


def _leftovers(testbed, before):
    """Our processes started since ``before`` and still there, local or remote."""
    sshd = testbed.sshd_pid
    local = set(_descendants(os.getpid())) - before
    if sshd is not None:
        local -= {sshd} | set(_descendants(sshd))
    return sorted(local) + sorted(_marked(testbed._marker))


def _assert_nothing_left(testbed, before, action):
    deadline = time.monotonic() + 5
    left = _leftovers(testbed, before)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _leftovers(testbed, before)
    assert not left, "%s left processes behind: %s" % (action.name, left)


@pytest.mark.parametrize("name,role,cls", CASES, ids=IDS)
def test_timeout_ends_every_action_early_and_marks_it(name, role, cls, testbed, slow_link,
                                                      untimed, tmp_path, monkeypatch):
    monkeypatch.setitem(configuration, "kill_timeout", KILL_TIMEOUT)
    before = set(_descendants(os.getpid()))
    timeout = 0.1 * untimed[(name, role)]
    action = _build(role, cls, testbed, slow_link, tmp_path, "timed", timeout=timeout,
                    nolog_timeout=True)
    started = time.monotonic()
    action.run(timeout=120)
    elapsed = time.monotonic() - started
    assert action.ended
    assert elapsed < 0.25 * untimed[(name, role)], (elapsed, untimed[(name, role)])
    assert all(p.timeouted for p in action.processes), action
    assert not action.ok
    _assert_nothing_left(testbed, before, action)


@pytest.mark.parametrize("name,role,cls", CASES, ids=IDS)
def test_kill_ends_every_action_within_kill_timeout(name, role, cls, testbed, slow_link,
                                                    untimed, tmp_path, monkeypatch):
    monkeypatch.setitem(configuration, "kill_timeout", KILL_TIMEOUT)
    before = set(_descendants(os.getpid()))
    action = _build(role, cls, testbed, slow_link, tmp_path, "killed").start()
    # well under way, not over: the kill is what must end it
    assert not action.wait(timeout=0.15 * untimed[(name, role)]).ended
    killed_at = time.monotonic()
    action.kill().wait(timeout=120)
    elapsed = time.monotonic() - killed_at
    assert action.ended
    assert elapsed < KILL_TIMEOUT + 1, elapsed
    assert all(p.killed for p in action.processes), action
    _assert_nothing_left(testbed, before, action)
