"""execo_g5k.oar against a real OAR 2.5 server (tests/oar/setup_oar_testbed.sh).

Frontends are ssh aliases (``nancy``, ``rennes``) of a loopback sshd where
the OAR commands run as the test bed's submitting user; ``lille`` is an
alias nothing answers on. Everything is set through execo_g5k's
configuration dicts, as a user's ``~/.execo.conf.py`` would. OAR has no
job notifications, so the tests poll it, always within a bound.
"""

from __future__ import annotations

import itertools
import shlex
import threading
import time

import pytest

from execo import Remote, Report
from execo.action import ProcessesFailed
from execo_g5k.config import default_oarsh_oarcp_params, g5k_configuration
from execo_g5k.frontend import frontend_process
from execo_g5k.hostnames import g5k_host_get_cluster
from execo_g5k.oar import (OarOutputError, OarSubmission, get_current_oar_jobs,
                           get_oar_job_info, get_oar_job_kavlan, get_oar_job_nodes,
                           get_oar_job_subnets, oardel, oarsub, oarsubgrid,
                           oarsub_command_line, parse_oarstat_json, wait_oar_job_start)

from oar_frontends import OarFrontends, oar_testbed_or_skip

WAIT = 90  # seconds allowed to OAR's scheduler for any job start
WALLTIME = "0:10:00"


@pytest.fixture(scope="module")
def frontends():
    bed = oar_testbed_or_skip()
    with OarFrontends(bed, ["nancy", "rennes"], unreachable=["lille"]) as fronts:
        yield fronts


@pytest.fixture
def job_key(frontends):
    """A fresh job key: OAR lets the first matching key in ~oar/.ssh/authorized_keys
    pick the job, so a key is never shared by two live jobs."""
    with frontends.job_key() as key:
        yield key


@pytest.fixture
def jobs_to_delete(frontends):
    jobs = []
    yield jobs
    frontends.delete_jobs(jobs, timeout=WAIT)


# ---- against OAR ----------------------------------------------------------------------

def test_tutorial_oarsub_example_runs_remote_inside_the_job_through_the_job_key(
        frontends, job_key, jobs_to_delete):
    jobs = oarsub([(OarSubmission(resources="/cluster=2/nodes=2", walltime=WALLTIME),
                    "nancy")])
    jobs_to_delete.extend(jobs)
    job_id, frontend = jobs[0]
    assert job_id is not None and frontend == "nancy"
    assert wait_oar_job_start(job_id, frontend, timeout=WAIT)
    nodes = get_oar_job_nodes(job_id, frontend)
    assert len(nodes) == 4
    assert [n.address for n in nodes] == sorted((n.address for n in nodes),
                                                key=lambda a: (a.split("-")[0],
                                                               int(a.split("-")[1])))
    sources, targets = [list(n) for c, n in itertools.groupby(
        sorted(nodes, key=g5k_host_get_cluster), g5k_host_get_cluster)]
    assert {g5k_host_get_cluster(h) for h in sources} != {g5k_host_get_cluster(h)
                                                         for h in targets}
    servers = Remote("echo $OAR_JOB_ID; exec sleep 300", targets,
                     connection_params=default_oarsh_oarcp_params, ignore_exit_code=True)
    clients = Remote("echo $OAR_JOB_ID {{[t.address for t in targets]}}", sources,
                     connection_params=default_oarsh_oarcp_params)
    servers.start()
    servers.expect(r"^\d+", timeout=30)
    clients.run(timeout=60)
    servers.kill().wait(timeout=30)
    report = Report([servers, clients]).to_string()
    assert clients.ok, report
    for process, target in zip(clients.processes, targets):
        assert process.stdout.split() == [str(job_id), target.address]
    for process in servers.processes:
        assert process.stdout.split()[0] == str(job_id)
    oardel(jobs)
    assert frontends.wait_job_ended(job_id, frontend, timeout=WAIT) in ("Error", "Terminated")


def test_future_reservation_is_selected_by_start_between_and_not_started(
        frontends, jobs_to_delete):
    start = int(time.time()) + 3600
    jobs = oarsub([(OarSubmission(resources="nodes=1", walltime="0:30:00",
                                  reservation_date=start, name="execo-future"), "nancy")])
    jobs_to_delete.extend(jobs)
    job_id = jobs[0][0]
    assert job_id is not None
    info = get_oar_job_info(job_id, "nancy")
    assert info["state"] == "Waiting"
    assert info["start_date"] == start and info["walltime"] == 1800
    assert info["name"] == "execo-future"
    around_start = (start - 600, start + 600)
    assert (job_id, "nancy") in get_current_oar_jobs(["nancy"], start_between=around_start)
    assert (job_id, "nancy") in get_current_oar_jobs(
        ["nancy"], end_between=(start + 1700, start + 1900))
    assert (job_id, "nancy") not in get_current_oar_jobs(
        ["nancy"], start_between=(time.time() - 60, time.time() + 600))
    predictions = []
    assert wait_oar_job_start(job_id, "nancy", timeout=2,
                              prediction_callback=predictions.append) is False
    assert predictions == [start]


def test_waiting_on_a_job_that_goes_to_error_returns_false(frontends, jobs_to_delete):
    # a reservation deleted before its start goes from Waiting to Error
    jobs = oarsub([(OarSubmission(resources="nodes=1", walltime="0:05:00",
                                  reservation_date=time.time() + 3600), "nancy")])
    jobs_to_delete.extend(jobs)
    job_id = jobs[0][0]
    assert job_id is not None
    polling = threading.Event()
    outcome = []
    waiter = threading.Thread(target=lambda: outcome.append(wait_oar_job_start(
        job_id, "nancy", timeout=WAIT, prediction_callback=lambda date: polling.set())))
    waiter.start()
    try:
        assert polling.wait(30), "wait_oar_job_start never got the job's prediction"
        oardel(jobs)
    finally:
        waiter.join(WAIT + 30)
    assert outcome == [False]
    assert get_oar_job_info(job_id, "nancy")["state"] == "Error"


def test_unreachable_frontend_is_recorded_and_the_others_submitted(
        frontends, jobs_to_delete, caplog_execo):
    jobs = oarsub([(OarSubmission(resources="nodes=1", walltime=WALLTIME), "lille"),
                   (OarSubmission(resources="nodes=1", walltime=WALLTIME), "rennes")])
    jobs_to_delete.extend(jobs)
    assert jobs[0] == (None, "lille")
    assert jobs[1][0] is not None and jobs[1][1] == "rennes"
    assert "lille" in caplog_execo.text and "Connection refused" in caplog_execo.text
    assert get_current_oar_jobs(["lille", "rennes"]).count(jobs[1]) == 1
    with pytest.raises(ProcessesFailed):
        get_current_oar_jobs(["lille"], abort_on_error=True)


def test_request_refused_by_oar_gives_none_and_abort_on_error_raises(frontends):
    too_many = OarSubmission(resources="nodes=50", walltime=WALLTIME)
    assert oarsub([(too_many, "nancy")]) == [(None, "nancy")]
    with pytest.raises(ProcessesFailed) as failure:
        oarsub([(too_many, "nancy")], abort_on_error=True)
    assert "oarsub" in str(failure.value)


def test_oarsubgrid_is_all_or_nothing_across_frontends(frontends, jobs_to_delete):
    ok_specs = [(OarSubmission("{cluster='griffon'}/nodes=1"), "nancy"),
                (OarSubmission("{cluster='graphene'}/nodes=1"), "rennes")]
    jobs = oarsubgrid(ok_specs, walltime=WALLTIME)
    jobs_to_delete.extend(jobs)
    assert [frontend for _, frontend in jobs] == ["nancy", "rennes"]
    assert all(job_id is not None for job_id, _ in jobs)
    assert ok_specs[0][0].walltime is None  # the caller's submissions are untouched
    before = set(get_current_oar_jobs(["nancy"]))
    failing = [(OarSubmission("{cluster='griffon'}/nodes=1"), "nancy"),
               (OarSubmission("{cluster='nosuchcluster'}/nodes=1"), "rennes")]
    assert oarsubgrid(failing, walltime=WALLTIME) == []
    leftovers = set(get_current_oar_jobs(["nancy"])) - before
    # deleted by oarsubgrid, possibly not gone yet (or the deletion was lost
    # during the job's launch: a known OAR quirk)
    assert all(frontends.delete_jobs(leftovers, timeout=WAIT).values())


def test_oardel_ignores_jobs_already_gone_or_unknown(frontends, jobs_to_delete):
    jobs = oarsub([(OarSubmission("nodes=1", walltime=WALLTIME), "nancy")])
    jobs_to_delete.extend(jobs)
    job_id = jobs[0][0]
    assert wait_oar_job_start(job_id, "nancy", timeout=WAIT)
    oardel(jobs)
    assert frontends.wait_job_ended(job_id, "nancy", timeout=WAIT)
    oardel(jobs + [(99999999, "nancy"), (None, "nancy")])
    assert get_oar_job_info(99999999, "nancy") == {}
    assert wait_oar_job_start(99999999, "nancy", timeout=10) is False


def test_kavlan_and_subnets_of_a_job_without_grid5000_tools(frontends, jobs_to_delete):
    jobs = oarsub([(OarSubmission("nodes=1", walltime=WALLTIME), "nancy")])
    jobs_to_delete.extend(jobs)
    job_id = jobs[0][0]
    assert get_oar_job_kavlan(job_id, "nancy", timeout=WAIT) == []
    with pytest.raises(ProcessesFailed, match="g5k-subnets"):
        get_oar_job_subnets(job_id, "nancy", timeout=WAIT)


def test_kavlan_and_subnets_after_a_wait_that_used_up_the_timeout_still_ask(
        frontends, jobs_to_delete):
    """The wait for the start ends with the timeout spent (remaining <= 0):
    the query that follows gets a short grace, never a negative timeout
    (which a Process refuses; seen once as a ValueError from kavlan)."""
    jobs = oarsub([(OarSubmission("nodes=1", walltime="0:05:00",
                                  reservation_date=time.time() + 3600), "nancy")])
    jobs_to_delete.extend(jobs)
    job_id = jobs[0][0]
    assert job_id is not None
    assert get_oar_job_kavlan(job_id, "nancy", timeout=0.5) == []
    with pytest.raises(ProcessesFailed, match="g5k-subnets"):
        get_oar_job_subnets(job_id, "nancy", timeout=0.5)


def test_local_frontend_runs_oar_commands_without_ssh(frontends, monkeypatch):
    monkeypatch.setitem(g5k_configuration, "default_frontend", "nancy")
    monkeypatch.setitem(g5k_configuration, "no_ssh_for_local_frontend", True)
    process = frontend_process("oarstat -J -u", "nancy")
    assert type(process).__name__ == "Process"
    assert process.run().ok, process.dump()
    assert get_current_oar_jobs(["nancy"]) == []  # we are root here: no job of ours
    assert type(frontend_process("true", "rennes")).__name__ == "SshProcess"


# ---- without OAR ----------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("resources", "", "resources is empty"),
    ("resources", 4, "resources must be a string"),
    ("resources", [], "empty list"),
    ("walltime", "one hour", "walltime='one hour' is not a duration"),
    ("walltime", 0, "at least one second"),
    ("reservation_date", "tomorrow", "reservation_date='tomorrow' is not a date"),
    ("job_type", "deploy destructive", "give several job types as a list"),
    ("name", 12, "name must be a string"),
    ("queue", " ", "queue is empty"),
])
def test_bad_oarsubmission_values_raise_errors_naming_the_field(field, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        OarSubmission(**{field: value})
    submission = OarSubmission("nodes=1")
    with pytest.raises((TypeError, ValueError), match=message):
        setattr(submission, field, value)


def test_oarsub_command_line_quotes_values_and_adds_key_and_origin(monkeypatch):
    monkeypatch.setitem(g5k_configuration, "oar_job_key_file", "/home/u/my key")
    line = oarsub_command_line(OarSubmission(
        ["{cluster='a'}/nodes=1", "{cluster='b'}/nodes=2"], walltime=5400,
        job_type=["deploy", "destructive"], sql_properties="memnode > 1000",
        reservation_date="2030-01-02 03:04:05", name="my job", command="echo 'hi'"))
    assert shlex.split(line) == [
        "oarsub", "-l", "{cluster='a'}/nodes=1+{cluster='b'}/nodes=2,walltime=1:30:0",
        "-k", "-i", "/home/u/my key", "-t", "deploy", "-t", "destructive", "-t", "origin=execo",
        "-p", "memnode > 1000", "-n", "my job", "-r", "2030-01-02 03:04:05", "echo 'hi'"]


def test_unparsable_oarstat_output_raises_an_error_quoting_it():
    with pytest.raises(OarOutputError, match="cannot parse the output of oarstat.*truncated"):
        parse_oarstat_json('{"12": {"state": truncated')
    with pytest.raises(OarOutputError, match="printed no JSON object: 'Permission denied"):
        parse_oarstat_json("Permission denied\n")
    assert parse_oarstat_json("Welcome to nancy\n{}") == {}
    assert parse_oarstat_json("") == {}
