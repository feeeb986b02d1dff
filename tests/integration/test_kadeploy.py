"""Kadeployer and deploy() against a stand-in for kadeploy3.

kadeploy3 cannot be installed here (it needs Grid5000's servers), so
``kadeploy3_standin.py`` stands in for it: a real program, reached through
ssh on the frontend aliases of a loopback test bed (``nancy``,
``rennes``), printing kadeploy3's report, "deploying" a node by leaving a
marker file that the check command then looks for through ssh on the
node, and failing the hosts a test chooses. The skip, retry and "enough"
logic of deploy() thus runs on real processes end to end.

All traffic stays on 127.0.0.1: every name, including the frontend
``lille`` whose ssh port is closed and a catch-all, is an alias in the
test's ssh config; the API is pointed at a closed loopback port so that a
stray site lookup fails at once instead of leaving the machine.
"""

import json
import os
import stat
import sys

import pytest

from execo import Process, ProcessOutputHandler, SshProcess
from g5k_frontend_bed import closed_port, frontend_testbed
from execo_g5k.config import g5k_configuration
from execo_g5k.hostnames import get_host_site_from_name
from execo_g5k.kadeploy import Deployment, Kadeployer, deploy, parse_kadeploy_output
from tests.quick_retries import QUICK_RETRIES

pytestmark = pytest.mark.timeout(120)

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kadeploy3_standin.py")
NANCY = ["griffon-1.nancy.grid5000.fr", "griffon-2.nancy.grid5000.fr",
         "griffon-3.nancy.grid5000.fr"]
RENNES = ["paravance-1.rennes.grid5000.fr", "paravance-2.rennes.grid5000.fr"]
LILLE = ["chifflet-1.lille.grid5000.fr"]  # behind the unreachable frontend
# the names of NANCY[:2] once moved to kavlan 4
KAVLAN = ["griffon-1-kavlan-4.nancy.grid5000.fr", "griffon-2-kavlan-4.nancy.grid5000.fr"]


@pytest.fixture(scope="module")
def g5k_bed(tmp_path_factory):
    """A test bed whose aliases are two frontends and their nodes, plus an
    ssh config where ``lille`` and anything unknown hit a closed port."""
    names = ["nancy", "rennes"] + NANCY + RENNES + KAVLAN
    with frontend_testbed(names, tmp_path_factory.mktemp("kadeploy-ssh")) as bed:
        yield bed


class StandinState:
    """The stand-in's files, as a test sets them up and reads them back."""

    def __init__(self, path):
        self.path = path

    def fail(self, host, times=-1, reason=None):
        failures = self._load("failures.json", {})
        failures[host] = times
        if reason:
            failures.setdefault("reasons", {})[host] = reason
        (self.path / "failures.json").write_text(json.dumps(failures))

    def _load(self, name, default):
        path = self.path / name
        return json.loads(path.read_text()) if path.exists() else default

    def mark_deployed(self, host):
        (self.path / "markers").mkdir(exist_ok=True)
        (self.path / "markers" / host).write_text("debian12-min\n")

    def set(self, name, value):
        (self.path / name).write_text(str(value))

    @property
    def calls(self):
        path = self.path / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    @property
    def check_command(self):
        return "test -e %s/markers/{{{host}}}" % (self.path,)


@pytest.fixture
def standin(g5k_bed, tmp_path, monkeypatch):
    """g5k_configuration pointing kadeploy3 at the stand-in, with its own state."""
    state = tmp_path / "state"
    state.mkdir()
    wrapper = tmp_path / "kadeploy3"
    wrapper.write_text('#!/bin/sh\nexec %s %s --state-dir %s "$@"\n'
                       % (sys.executable, STANDIN, state))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setitem(g5k_configuration, 'kadeploy3', str(wrapper))
    monkeypatch.setitem(g5k_configuration, 'kadeploy3_options', '-k -d')
    monkeypatch.setitem(g5k_configuration, 'default_frontend', None)
    monkeypatch.setitem(g5k_configuration, 'no_ssh_for_local_frontend', False)
    monkeypatch.setitem(g5k_configuration, 'api_uri', "http://127.0.0.1:%d/" % closed_port())
    monkeypatch.setitem(g5k_configuration, 'api_cache_dir', None)
    return StandinState(state)


@pytest.fixture
def frontend_params(g5k_bed):
    # the frontends are aliases: no ".grid5000.fr" appended
    return dict({'host_rewrite_func': None, 'ssh_options': g5k_bed.g5k_ssh_options},
                **QUICK_RETRIES)  # lille refuses: its failure is the subject, not the retries


@pytest.fixture
def node_params(g5k_bed):
    return {'user': g5k_bed.user, 'ssh_options': g5k_bed.g5k_ssh_options}


def test_parse_reads_the_3_2_report_with_failure_reasons_after_debug_output():
    text = ("[nancy] Launching a deployment\n"
            "griffon-9.nancy.grid5000.fr is not in the report yet\n"
            "The deployment is successful on nodes\n"
            "griffon-1.nancy.grid5000.fr\r\n"
            "griffon-2.nancy.grid5000.fr\n"
            "\n"
            "The deployment failed on nodes\n"
            "griffon-3.nancy.grid5000.fr (SetDeploymentEnv-step: timeout)\n"
            "griffon-4.nancy.grid5000.fr\n")
    deployed, failed = parse_kadeploy_output(text)
    assert deployed == {"griffon-1.nancy.grid5000.fr", "griffon-2.nancy.grid5000.fr"}
    assert failed == {"griffon-3.nancy.grid5000.fr": "SetDeploymentEnv-step: timeout",
                      "griffon-4.nancy.grid5000.fr": None}


def test_parse_reads_the_pre_3_2_report_cluster_by_cluster():
    text = ("Nodes correctly deployed on cluster griffon\n"
            "griffon-1.nancy.grid5000.fr\n"
            "Nodes not correctly deployed on cluster griffon\n"
            "griffon-2.nancy.grid5000.fr (reboot failed)\n"
            "Nodes correctly deployed on cluster graphene\n"
            "graphene-7.nancy.grid5000.fr\n"
            "Summary: 2 deployed, 1 failed\n")
    deployed, failed = parse_kadeploy_output(text)
    assert deployed == {"griffon-1.nancy.grid5000.fr", "graphene-7.nancy.grid5000.fr"}
    assert failed == {"griffon-2.nancy.grid5000.fr": "reboot failed"}


def test_deployment_without_an_environment_raises_before_running_anything(standin,
                                                                          monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'default_env_name', None)
    monkeypatch.setitem(g5k_configuration, 'default_env_file', None)
    with pytest.raises(ValueError, match="no environment"):
        Kadeployer(Deployment(NANCY))
    with pytest.raises(ValueError, match="both env_file and env_name"):
        deploy(Deployment(NANCY, env_name="a", env_file="b"))
    assert standin.calls == []


def test_kadeployer_runs_one_kadeploy3_per_site_in_parallel_and_parses_the_report(
        standin, frontend_params):
    standin.fail(NANCY[2], reason="Too many retries")
    standin.set("barrier", 2)  # each run waits for the other: they must overlap
    kadeployer = Kadeployer(Deployment(NANCY + RENNES, env_name="debian12-min", user="me",
                                       vlan=4, other_options="--force-steps x"),
                            frontend_connection_params=frontend_params).run()
    assert kadeployer.ended
    assert sorted(p.frontend for p in kadeployer.processes) == ["nancy", "rennes"]
    assert all(isinstance(p, SshProcess) for p in kadeployer.processes)
    assert kadeployer.deployed_hosts == set(NANCY[:2] + RENNES)
    assert kadeployer.undeployed_hosts == {NANCY[2]}
    assert kadeployer.undeployed_reasons == {NANCY[2]: "Too many retries"}
    assert not kadeployer.ok
    calls = {tuple(c["hosts"]) for c in standin.calls}
    assert calls == {tuple(NANCY), tuple(RENNES)}
    call = standin.calls[0]
    assert (call["env"], call["user"], call["vlan"]) == ("debian12-min", "me", "4")
    assert {"-k", "-d", "--force-steps", "x"} <= set(call["argv"])
    assert sorted(os.listdir(standin.path / "markers")) == sorted(NANCY[:2] + RENNES)


def test_kadeployer_accepts_the_pre_3_2_report_and_is_ok_when_all_deployed(
        standin, frontend_params):
    standin.set("format", "old")
    kadeployer = Kadeployer(Deployment(NANCY, env_name="debian12-min"),
                            frontend_connection_params=frontend_params).run()
    assert "Nodes correctly deployed on cluster griffon" in kadeployer.processes[0].stdout
    assert kadeployer.deployed_hosts == set(NANCY)
    assert kadeployer.undeployed_hosts == set()
    assert kadeployer.ok


def test_kadeployer_reports_the_names_the_user_gave_even_if_kadeploy3_says_fqdn(
        standin, frontend_params, monkeypatch):
    # short names need a site: a configured lookup says where they live;
    # the stand-in answers with full names, as kadeploy3 does
    monkeypatch.setitem(g5k_configuration, 'host_site_func', lambda host: "nancy")
    wrapper = g5k_configuration['kadeploy3']
    with open(wrapper) as f:
        script = f.read()
    to_fqdn = 'sed "s/^\\(griffon-[0-9]*\\)$/\\1.nancy.grid5000.fr/"'
    with open(wrapper, "w") as f:
        f.write(script.replace('"$@"', '"$@" | ' + to_fqdn))
    kadeployer = Kadeployer(Deployment(["griffon-1", "griffon-2"], env_name="debian12-min"),
                            frontend_connection_params=frontend_params).run()
    assert "griffon-1.nancy.grid5000.fr" in kadeployer.processes[0].stdout
    assert kadeployer.deployed_hosts == {"griffon-1", "griffon-2"}


def test_reset_kadeployer_runs_again_with_fresh_results(standin, frontend_params):
    standin.fail(NANCY[1], times=1, reason="first boot failed")
    kadeployer = Kadeployer(Deployment(NANCY[:2], env_name="debian12-min"),
                            frontend_connection_params=frontend_params).run()
    process = kadeployer.processes[0]
    assert (process.deployed_hosts, process.undeployed_hosts) == ({NANCY[0]}, {NANCY[1]})
    kadeployer.reset().run()
    assert kadeployer.ok and kadeployer.undeployed_reasons == {}
    assert kadeployer.deployed_hosts == process.deployed_hosts == set(NANCY[:2])
    assert process.undeployed_hosts == set()
    assert len(standin.calls) == 2


def test_user_handlers_get_every_line_prefixed_with_its_site(standin, frontend_params):
    class Lines(ProcessOutputHandler):
        def __init__(self):
            super().__init__()
            self.lines = []
            self.eofs = 0

        def read_line(self, process, stream, string):
            self.lines.append(string)

        def read(self, process, stream, string, eof, error):
            super().read(process, stream, string, eof, error)
            self.eofs += eof

    handler = Lines()
    Kadeployer(Deployment(NANCY[:1] + RENNES[:1], env_name="debian12-min"),
               frontend_connection_params=frontend_params, stdout_handlers=[handler]).run()
    assert "nancy: The deployment is successful on nodes" in handler.lines
    assert "rennes: %s" % RENNES[0] in handler.lines
    assert handler.eofs == 2


def test_unreachable_frontend_is_recorded_not_raised(standin, frontend_params, node_params):
    kadeployer = Kadeployer(Deployment(NANCY[:1] + LILLE, env_name="debian12-min"),
                            frontend_connection_params=frontend_params).run()
    assert kadeployer.deployed_hosts == set(NANCY[:1])
    assert kadeployer.undeployed_hosts == set(LILLE)
    reason = kadeployer.undeployed_reasons[LILLE[0]]
    assert "frontend lille" in reason and "Connection refused" in reason
    lille = [p for p in kadeployer.processes if p.frontend == "lille"][0]
    assert lille.error and not kadeployer.ok
    deployed, undeployed = deploy(Deployment(NANCY[:1] + LILLE, env_name="debian12-min"),
                                  check_deployed_command=standin.check_command,
                                  node_connection_params=node_params,
                                  frontend_connection_params=frontend_params, check_timeout=20)
    assert (deployed, undeployed) == (set(NANCY[:1]), set(LILLE))


def test_host_without_a_known_site_is_undeployed_with_a_reason(standin, frontend_params,
                                                                monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'host_site_func',
                        lambda host: None if host == "mystery" else get_host_site_from_name(host))
    kadeployer = Kadeployer(Deployment(["mystery", NANCY[0]], env_name="debian12-min"),
                            frontend_connection_params=frontend_params).run()
    assert kadeployer.deployed_hosts == {NANCY[0]}
    assert kadeployer.undeployed_hosts == {"mystery"}
    assert "no site" in kadeployer.undeployed_reasons["mystery"]


def test_deploy_skips_hosts_already_running_the_environment(standin, frontend_params,
                                                            node_params):
    standin.mark_deployed(NANCY[0])
    standin.mark_deployed(RENNES[0])
    deployed, undeployed = deploy(Deployment(NANCY + RENNES, env_name="debian12-min"),
                                  check_deployed_command=standin.check_command,
                                  node_connection_params=node_params,
                                  frontend_connection_params=frontend_params)
    assert (deployed, undeployed) == (set(NANCY + RENNES), set())
    asked = sorted(h for call in standin.calls for h in call["hosts"])
    assert asked == sorted(NANCY[1:] + RENNES[1:])


def test_deploy_does_not_call_kadeploy3_when_every_host_is_already_deployed(
        standin, frontend_params, node_params, monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'check_deployed_command', standin.check_command)
    for host in NANCY:
        standin.mark_deployed(host)
    result = deploy(Deployment(NANCY, env_name="debian12-min"),  # True: the configured check
                    node_connection_params=node_params, frontend_connection_params=frontend_params)
    assert result == (set(NANCY), set())
    assert standin.calls == []


def test_deploy_retries_failed_hosts_up_to_num_tries(standin, frontend_params, node_params):
    standin.fail(NANCY[1], times=1)
    standin.fail(NANCY[2])  # always
    deployed, undeployed = deploy(Deployment(NANCY, env_name="debian12-min"),
                                  check_deployed_command=standin.check_command,
                                  node_connection_params=node_params, num_tries=3,
                                  frontend_connection_params=frontend_params)
    assert (deployed, undeployed) == (set(NANCY[:2]), {NANCY[2]})
    assert [call["hosts"] for call in standin.calls] == [NANCY, NANCY[1:], NANCY[2:]]


def test_deploy_without_check_trusts_kadeploy3s_report(standin, frontend_params):
    standin.mark_deployed(NANCY[0])  # not looked at: no check
    standin.fail(NANCY[1], times=1)
    deployed, undeployed = deploy(Deployment(NANCY, env_name="debian12-min"),
                                  check_deployed_command=False, num_tries=2,
                                  frontend_connection_params=frontend_params)
    assert (deployed, undeployed) == (set(NANCY), set())
    assert [call["hosts"] for call in standin.calls] == [NANCY, NANCY[1:2]]


def test_check_enough_func_stops_retrying_once_it_says_enough(standin, frontend_params,
                                                              node_params):
    standin.fail(NANCY[2])
    seen = []

    def enough(deployed, undeployed):
        seen.append((set(deployed), set(undeployed)))
        return len(deployed) >= 2

    deployed, undeployed = deploy(Deployment(NANCY, env_name="debian12-min"),
                                  check_deployed_command=standin.check_command,
                                  node_connection_params=node_params, num_tries=5,
                                  check_enough_func=enough,
                                  frontend_connection_params=frontend_params)
    assert (deployed, undeployed) == (set(NANCY[:2]), {NANCY[2]})
    assert len(standin.calls) == 1
    assert seen == [(set(), set(NANCY)), (set(NANCY[:2]), {NANCY[2]})]


def test_deploy_timeout_kills_kadeploy3_and_reports_its_hosts_undeployed(
        standin, frontend_params, node_params, caplog_execo):
    standin.set("barrier", 99)  # never reached: the run would hang for 20 s
    deployed, undeployed = deploy(Deployment(NANCY[:1], env_name="debian12-min"),
                                  check_deployed_command=standin.check_command,
                                  node_connection_params=node_params, deploy_timeout=3,
                                  frontend_connection_params=frontend_params)
    assert (deployed, undeployed) == (set(), set(NANCY[:1]))
    assert "%s: kadeploy3 on nancy timed out" % NANCY[0] in caplog_execo.text


def test_deploy_in_a_kavlan_checks_the_nodes_under_their_kavlan_names(
        standin, frontend_params, node_params):
    standin.mark_deployed(NANCY[0])
    # {{{host}}} is the kavlan name; the stand-in's markers bear the plain one
    check = ("test -e %s/markers/$(echo {{{host}}} | sed s/-kavlan-4//) && "
             "echo {{{host}}} >> %s/checked" % (standin.path, standin.path))
    deployed, undeployed = deploy(Deployment(NANCY[:2], env_name="debian12-min", vlan=4),
                                  check_deployed_command=check,
                                  node_connection_params=node_params,
                                  frontend_connection_params=frontend_params)
    assert (deployed, undeployed) == (set(NANCY[:2]), set())
    assert [call["hosts"] for call in standin.calls] == [NANCY[1:2]]
    assert standin.calls[0]["vlan"] == "4"
    assert sorted((standin.path / "checked").read_text().split()) == KAVLAN


def test_local_frontend_runs_kadeploy3_without_ssh(standin, frontend_params, monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'no_ssh_for_local_frontend', True)
    monkeypatch.setitem(g5k_configuration, 'default_frontend', "nancy")
    kadeployer = Kadeployer(Deployment(NANCY[:1] + RENNES[:1], env_name="debian12-min"),
                            frontend_connection_params=frontend_params).run()
    kinds = {p.frontend: type(p) for p in kadeployer.processes}
    assert kinds == {"nancy": Process, "rennes": SshProcess}
    assert kadeployer.ok and kadeployer.deployed_hosts == set(NANCY[:1] + RENNES[:1])
