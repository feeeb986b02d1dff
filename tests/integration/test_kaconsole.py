"""KaconsoleProcess against a stand-in for kaconsole3.

kaconsole3 cannot be installed here (it needs a kadeploy server and the
nodes' serial lines), so ``kaconsole3_standin.py`` stands in for it: a
real program reached through ``ssh -tt`` on the frontend alias ``nancy``
of a loopback test bed, behaving as kaconsole3 connected to a node's
serial console (banner, raw terminal, echo, a root prompt, commands run
by a shell, leave on four ESC).

All traffic stays on 127.0.0.1: the frontend ``lille`` and any other
name hit a closed loopback port through the test's ssh config.
"""

import os
import stat
import sys

import pytest

from execo import Process, SshProcess
from g5k_frontend_bed import closed_port, frontend_testbed
from execo_g5k.config import g5k_configuration
from execo_g5k.kaconsole import KaconsoleProcess, kaconsole_command

pytestmark = pytest.mark.timeout(60)

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kaconsole3_standin.py")
NODE = "griffon-1.nancy.grid5000.fr"
SILENT_NODE = "griffon-2.nancy.grid5000.fr"
LILLE_NODE = "chifflet-1.lille.grid5000.fr"  # behind the unreachable frontend


@pytest.fixture(scope="module")
def console_bed(tmp_path_factory):
    """A test bed whose alias ``nancy`` is a frontend, plus an ssh config
    where ``lille`` and anything unknown hit a closed port."""
    with frontend_testbed(["nancy"], tmp_path_factory.mktemp("kaconsole-ssh")) as bed:
        yield bed


@pytest.fixture
def standin(console_bed, tmp_path, monkeypatch):
    """g5k_configuration pointing kaconsole3 at the stand-in; its state dir."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "silent").write_text(SILENT_NODE + "\n")
    wrapper = tmp_path / "kaconsole3"
    wrapper.write_text('#!/bin/sh\nexec %s %s --state-dir %s "$@"\n'
                       % (sys.executable, STANDIN, state))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setitem(g5k_configuration, 'kaconsole3', str(wrapper))
    monkeypatch.setitem(g5k_configuration, 'default_frontend', None)
    monkeypatch.setitem(g5k_configuration, 'no_ssh_for_local_frontend', False)
    monkeypatch.setitem(g5k_configuration, 'host_site_func', None)
    # a site lookup for an unknown name must fail at once, not leave the machine
    monkeypatch.setitem(g5k_configuration, 'api_uri', "http://127.0.0.1:%d/" % closed_port())
    monkeypatch.setitem(g5k_configuration, 'api_cache_dir', None)
    return state


@pytest.fixture
def frontend_params(console_bed):
    # the frontends are aliases: no ".grid5000.fr" appended
    return {'host_rewrite_func': None, 'ssh_options': console_bed.g5k_ssh_options}


def sessions(state):
    path = state / "sessions.log"
    return path.read_text().splitlines() if path.exists() else []


def test_command_is_kaconsole3_dash_m_node(monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'kaconsole3', None)
    assert kaconsole_command(NODE) == "kaconsole3 -m %s" % NODE


def test_console_runs_a_command_and_closes_with_the_kill_sequence(standin, frontend_params):
    console = KaconsoleProcess(NODE, frontend_connection_params=frontend_params,
                               connection_timeout=20)
    try:
        console.start().wait_connected()
        assert console.connected and console.connection_error is None
        assert console.host.address == "nancy"
        assert console.expect_prompt(timeout=20)[0] == 0
        console.write("echo answer=$((6*7))\r")
        index, match = console.expect(r"^answer=(\d+)\r?$", timeout=20)
        assert index == 0 and match.group(1) == "42"
        assert console.expect_prompt(timeout=20)[0] == 0
    finally:
        console.close()
    assert console.ended and console.ok and console.exit_code == 0
    assert not console.killed
    assert sessions(standin) == ["%s closed" % NODE]
    assert "[Kaconsole] kill sequence" in console.stdout


def test_context_manager_starts_and_leaves_the_console_cleanly(standin, frontend_params):
    with KaconsoleProcess(NODE, frontend_connection_params=frontend_params) as console:
        assert console.started
        assert console.expect_prompt(timeout=20)[0] == 0  # connects on the way
        console.write("uname -s\r")
        assert console.expect(r"Linux", timeout=20)[0] == 0
    assert console.ended and console.ok and not console.killed
    assert sessions(standin) == ["%s closed" % NODE]


def test_silent_console_fails_wait_connected_within_its_timeout(standin, frontend_params):
    console = KaconsoleProcess(SILENT_NODE, frontend_connection_params=frontend_params,
                               connection_timeout=2)
    assert console.start().wait_connected() is console
    assert not console.connected
    assert console.ended and console.error and not console.ok
    assert console.connection_error == ("console of %s via frontend nancy: no answer from "
                                        "kaconsole3 within 2.0 s" % SILENT_NODE)
    assert console.error_reason == console.connection_error
    assert console.expect_prompt(timeout=1) == (None, None)
    assert console.close() is console  # already ended: nothing to do


def test_unreachable_frontend_is_recorded_not_raised(standin, frontend_params):
    console = KaconsoleProcess(LILLE_NODE, frontend_connection_params=frontend_params)
    assert console.frontend == "lille"
    console.start().wait_connected(timeout=30)
    assert not console.connected and console.ended
    assert console.error and not console.ok and not console.killed
    assert "lille" in console.error_reason and "Connection refused" in console.error_reason
    assert console.connection_error.startswith("console of %s via frontend lille: "
                                               % LILLE_NODE)
    assert "Connection refused" in console.connection_error


def test_kaconsole3_failing_before_connecting_reports_its_message(standin, frontend_params,
                                                                  monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'kaconsole3',
                        "sh -c 'echo Node griffon-1 is not reserved; exit 3' --")
    console = KaconsoleProcess(NODE, frontend_connection_params=frontend_params)
    console.start().wait_connected()
    assert not console.connected and console.exit_code == 3 and not console.ok
    assert console.connection_error == (
        "console of %s via frontend nancy: kaconsole3 exited with code 3 before connecting: "
        "Node griffon-1 is not reserved" % NODE)


def test_local_frontend_runs_kaconsole3_without_ssh(standin, frontend_params, monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'no_ssh_for_local_frontend', True)
    monkeypatch.setitem(g5k_configuration, 'default_frontend', "nancy")
    with KaconsoleProcess(NODE, frontend_connection_params=frontend_params) as console:
        assert console.expect_prompt(timeout=20)[0] == 0
        console.write("echo local\r")
        assert console.expect(r"^local\r?$", timeout=20)[0] == 0
    assert console._carrier is not None and not isinstance(console._carrier, SshProcess)
    assert isinstance(console._carrier, Process) and console.host is None
    assert console.ok and sessions(standin) == ["%s closed" % NODE]


def test_node_without_a_known_site_raises_at_creation(standin):
    with pytest.raises(ValueError, match="no site known for 'mystery'"):
        KaconsoleProcess("mystery")


# ---- 2.x's automatic login (KaconsoleProcessLifecycleHandler) --------------------------

GETTY_NODE = "griffon-3.nancy.grid5000.fr"


def test_lifecycle_handler_logs_in_on_a_getty_console(standin, frontend_params):
    from execo_g5k.kadeploy import KaconsoleProcessLifecycleHandler
    (standin / "getty").write_text(GETTY_NODE + "\n")
    console = KaconsoleProcess(GETTY_NODE, frontend_connection_params=frontend_params,
                               connection_timeout=20,
                               lifecycle_handlers=[KaconsoleProcessLifecycleHandler()])
    with console:
        assert console.logged_in.wait(20), console.login_error
        console.write("echo logged-in-as-$(whoami)-ok\r")
        assert console.expect(r"logged-in-as-\S+-ok\r\n", timeout=10)[0] == 0
    assert "Password: " in console.stdout and "Login incorrect" not in console.stdout
    # the password is not echoed
    assert "grid5000" not in console.stdout
    assert sessions(standin) == ["%s closed" % GETTY_NODE]


def test_lifecycle_handler_reports_a_refused_login(standin, frontend_params, caplog_execo):
    from execo_g5k.kadeploy import KaconsoleProcessLifecycleHandler
    (standin / "getty").write_text(GETTY_NODE + "\n")
    console = KaconsoleProcess(GETTY_NODE, frontend_connection_params=frontend_params,
                               connection_timeout=5, prompt=r"root@[^#]*# ",
                               lifecycle_handlers=[
                                   KaconsoleProcessLifecycleHandler(password="wrong")])
    with console:
        assert console.login_finished.wait(20)
        assert not console.logged_in.is_set()
        assert "refused" in console.login_error
    assert "refused" in caplog_execo.text
    assert sessions(standin) == ["%s closed" % GETTY_NODE]
