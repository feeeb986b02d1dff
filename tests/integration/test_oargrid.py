"""execo_g5k.oargrid against a stand-in for oargrid's tools over the real OAR.

oargrid can no longer be installed anywhere: ``oargrid_standin.py`` stands
in for oargridsub/oargridstat/oargriddel (printing their documented
formats) and makes real OAR jobs underneath, one per cluster alias; the
aliases ``nancy`` and ``rennes`` are frontends of the test bed's OAR.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time

import pytest

from execo import Remote
from execo_g5k.config import default_oarsh_oarcp_params, g5k_configuration
from execo_g5k.hostnames import g5k_host_get_cluster
from execo_g5k.oar import OarSubmission, get_current_oar_jobs, wait_oar_job_start
from execo_g5k.oargrid import (_oargridsub_command, get_current_oargrid_jobs,
                               get_oargrid_job_info, get_oargrid_job_nodes,
                               get_oargrid_job_oar_jobs, oargriddel, oargridsub,
                               wait_oargrid_job_start)

from oar_frontends import OarFrontends, oar_testbed_or_skip

WAIT = 90
WALLTIME = "0:10:00"
STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oargrid_standin.py")


@pytest.fixture(scope="module")
def frontends():
    bed = oar_testbed_or_skip()
    with OarFrontends(bed, ["nancy", "rennes"]) as fronts:
        # the OAR user must be able to read the stand-in: copy it next to
        # the frontends' files
        shutil.copy(STANDIN, fronts.workdir)
        yield fronts


@pytest.fixture
def oargrid_tools(frontends, monkeypatch):
    """The stand-in configured as the oargrid tools, run from frontend nancy."""
    script = os.path.join(frontends.workdir, os.path.basename(STANDIN))
    for tool in ("oargridsub", "oargridstat", "oargriddel"):
        monkeypatch.setitem(g5k_configuration, tool, "python3 %s %s" % (script, tool))
    monkeypatch.setitem(g5k_configuration, "default_frontend", "nancy")
    with frontends.job_key() as key:
        yield key


def test_oargrid_job_spans_two_sites_and_its_nodes_run_inside_its_jobs(frontends,
                                                                      oargrid_tools):
    grid_id, key = oargridsub([(OarSubmission("{cluster='griffon'}/nodes=1"), "nancy"),
                               (OarSubmission("{cluster='graphene'}/nodes=1"), "rennes")],
                              walltime=WALLTIME)
    assert grid_id is not None
    oar_jobs = get_oargrid_job_oar_jobs(grid_id)
    try:
        assert key == oargrid_tools
        assert [alias for _, alias in oar_jobs] == ["nancy", "rennes"]
        for oar_job_id, alias in oar_jobs:
            assert wait_oar_job_start(oar_job_id, alias, timeout=WAIT)
        assert wait_oargrid_job_start(grid_id, timeout=30)
        nodes = get_oargrid_job_nodes(grid_id, timeout=WAIT)
        assert sorted(g5k_host_get_cluster(n) for n in nodes) == ["graphene", "griffon"]
        inside = Remote("echo $OAR_JOB_ID", nodes,
                        connection_params=default_oarsh_oarcp_params).run(timeout=60)
        assert inside.ok
        # one key for both jobs: OAR picks the first job it was given to
        assert {int(p.stdout.strip()) for p in inside.processes} <= {i for i, _ in oar_jobs}
        info = get_oargrid_job_info(grid_id)
        assert info["walltime"] == 600 and abs(info["start_date"] - time.time()) < 600
        assert grid_id in get_current_oargrid_jobs()
        assert grid_id in get_current_oargrid_jobs(
            start_between=(time.time() - 600, time.time() + 60))
        assert grid_id not in get_current_oargrid_jobs(
            start_between=(time.time() + 3600, None))
    finally:
        oargriddel([grid_id])
    assert grid_id not in get_current_oargrid_jobs()
    for oar_job_id, alias in oar_jobs:
        assert frontends.wait_job_ended(oar_job_id, alias, timeout=WAIT) in ("Error",
                                                                             "Terminated")


def test_failed_oargridsub_returns_none_and_leaves_no_job(frontends, oargrid_tools):
    before = set(get_current_oar_jobs(["nancy"]))
    result = oargridsub([(OarSubmission("{cluster='griffon'}/nodes=1"), "nancy"),
                         (OarSubmission("{cluster='nosuchcluster'}/nodes=1"), "rennes")],
                        walltime=WALLTIME)
    assert result == (None, None)
    leftovers = [job for job in get_current_oar_jobs(["nancy"]) if job not in before]
    # deleted by the stand-in, maybe not gone yet (or the deletion was lost
    # during the job's launch: a known OAR quirk)
    assert all(frontends.delete_jobs(leftovers, timeout=WAIT).values())


def test_oargriddel_ignores_unknown_grid_jobs(oargrid_tools):
    oargriddel([987654])


def test_oargridsub_command_speaks_oargrid_syntax(monkeypatch):
    monkeypatch.setitem(g5k_configuration, "oar_job_key_file", "/k/key")
    command = _oargridsub_command(
        [(OarSubmission("nodes=2", job_type="deploy", sql_properties="wattmeter='YES'"),
          "lyon"), (OarSubmission(["nodes=1", "slash_22=1"]), "rennes")],
        reservation_date="2030-01-02 03:04:05", walltime=3600, job_type=None, queue=None,
        directory=None, additional_options=None)
    assert shlex.split(command) == [
        "oargridsub", "-v", "-i", "/k/key", "-s", "2030-01-02 03:04:05", "-w", "1:0:0",
        'lyon:rdef="nodes=2":type="deploy":prop="wattmeter=\'YES\'",'
        'rennes:rdef="nodes=1+slash_22=1"']
