"""Results as data for every remote action type, on the loopback sshd; and
the one-line failure logs of a fan-out.

``load(save(x)).to_dict() == x.to_dict()`` for Remote, Put, Get and their
taktuk and ChainPut counterparts, with a host that fails among them.
"""

import logging
import os

import pytest

from execo import (ChainPut, Get, Put, Remote, Report, TaktukGet, TaktukPut, TaktukRemote,
                   load_results)
from execo.retry import RETRY_PARAMS
from tests.quick_retries import QUICK_RETRIES

pytestmark = pytest.mark.timeout(300)


def round_trip(action, tmp_path):
    path = str(tmp_path / "results.json")
    Report([action]).save(path)
    loaded = load_results(path)
    assert loaded.to_dict() == Report([action]).to_dict()
    loaded_action = loaded.entries[0]
    assert loaded_action.to_dict() == action.to_dict()
    for live, back in zip(action.processes, loaded_action.processes):
        for attribute in ("host", "stdout", "stderr", "ok", "exit_code", "timeouted"):
            assert getattr(back, attribute) == getattr(live, attribute), attribute
        assert back.error_reason == live.failure_reason
    return loaded_action


@pytest.mark.parametrize("kind", [Remote, TaktukRemote])
def test_remote_commands_round_trip(kind, testbed, tmp_path):
    hosts = testbed.hosts[:3]
    action = kind("echo {{{host}}}; [ {{{host}}} != %s ]" % hosts[1], hosts,
                  nolog_exit_code=True).run()
    loaded = round_trip(action, tmp_path)
    saved = [p.to_dict() for p in loaded.processes]
    assert [p["host"] for p in saved] == [str(h) for h in hosts]
    assert [p["stdout"] for p in saved] == ["%s\n" % h for h in hosts]
    assert [p["error_reason"] for p in saved] == [None, "exit 1", None]
    # the user's command, not ssh's argv
    assert all(p["command"].startswith("echo %s;" % h) for p, h in zip(saved, hosts))


@pytest.mark.parametrize("kind", [Put, TaktukPut, ChainPut])
def test_puts_round_trip(kind, testbed, tmp_path):
    source = tmp_path / "payload"
    source.write_text("data\n")
    target = tmp_path / "dest"
    target.mkdir()
    action = kind(testbed.hosts[:2], [str(source)], str(target)).run()
    assert action.ok
    round_trip(action, tmp_path)


@pytest.mark.parametrize("kind", [Get, TaktukGet])
def test_gets_round_trip(kind, testbed, tmp_path):
    source = tmp_path / "remote-file"
    source.write_text("data\n")
    hosts = testbed.hosts[:2]
    for host in hosts:
        (tmp_path / str(host)).mkdir()
    action = kind(hosts, [str(source)], str(tmp_path / "{{{host}}}")).run()
    assert action.ok
    round_trip(action, tmp_path)
    assert all(os.path.exists(str(tmp_path / str(h) / "remote-file")) for h in hosts)


def test_a_failed_fan_out_logs_one_line_per_host_and_one_summary(testbed, caplog_execo):
    hosts = testbed.hosts[:4]
    Remote("echo 'no such thing' >&2; exit 1", hosts, name="probe").run()
    lines = [r.getMessage() for r in caplog_execo.records if r.name == "execo"]
    # the hosts' lines come as they end, the summary in host order
    assert sorted(lines[:-1]) == ["%s: exit 1 (stderr: no such thing)" % h for h in hosts]
    # the hosts folded into a node set (issue 21)
    assert hosts == ["node-1", "node-2", "node-3", "node-4"]
    assert lines[-1] == "probe: 4 of 4 processes failed: exit 1 on 4 (node-[1-4])"
    # no ssh option, no command line, at WARNING
    assert all("-o" not in line and "BatchMode" not in line for line in lines)


def test_connection_failures_are_grouped_apart_from_exit_codes(testbed, caplog_execo):
    hosts = testbed.hosts[:3]
    action = Remote("exit 2", hosts[:2], name="mixed")
    action.processes[1].connection_params = dict(QUICK_RETRIES, port=1)  # nothing listens
    action.run()
    summary = caplog_execo.records[-1].getMessage()
    assert summary == ("mixed: 2 of 2 processes failed: exit 2 on 1 (%s); ssh could not "
                       "connect: nothing listens on the ssh port (%d connection attempts) "
                       "on 1 (%s)" % (hosts[0], RETRY_PARAMS['connect_attempts'], hosts[1]))
    assert caplog_execo.records[-1].levelno == logging.WARNING
