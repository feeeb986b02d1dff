"""ParamSweeper across real processes: SIGKILL at random instants, many
processes on one directory, execo 2.8.2 and this tree on one directory.

Workers are ``sweep_worker.py`` processes; each logs "got NAME" before
working on a combination and "done NAME" once ``done()`` has returned,
in one append-only log, so the log's order is the real order of events.
"""

import collections
import json
import os
import random
import signal
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sweep_worker.py")
sys.path.insert(0, TESTS)
from old_execo import _clean_env, old_execo_python  # noqa: E402


def _start(directory, log, *options, old=False):
    """A worker under this tree, or under 2.8.2 (its interpreter, its
    execo_engine: this tree is not on its path)."""
    if old:
        command, env = [old_execo_python(), WORKER], _clean_env()
    else:
        command, env = [sys.executable, WORKER], dict(os.environ, PYTHONPATH=REPO)
    return subprocess.Popen(command + [directory, log] + [str(o) for o in options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd="/")


def _finish(worker, timeout=120):
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def _events(log):
    with open(log) as f:
        return [line.split() for line in f.read().splitlines() if line]


def _never_handed_out_after_done(events):
    finished = set()
    for kind, name in events:
        if kind == "got":
            assert name not in finished, "%s handed out again after done() returned" % name
        else:
            finished.add(name)
    return finished


@pytest.mark.timeout(300)
def test_sigkill_at_random_instants_loses_nothing_done_and_the_sweep_completes(tmp_path):
    directory, log = str(tmp_path / "sweep"), str(tmp_path / "log")
    _finish(_start(directory, str(tmp_path / "creation"), "--create", 2000, "--limit", -1))
    rng = random.Random(1717)
    kills = 0
    while kills < 25:
        worker = _start(directory, log, "--reset", "--work", 0.001)
        assert worker.stdout.readline() == "ready\n"   # sweeping from now on
        try:
            worker.wait(timeout=rng.uniform(0.0, 0.12))
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGKILL)
            kills += 1
        worker.communicate()
        if worker.returncode == 0:
            break
    assert kills >= 20, "the sweep ended before 20 kills: give the workers more to do"
    result = _finish(_start(directory, log, "--reset"))
    assert (result["total"], result["done"], result["remaining"], result["inprogress"]) == (
        2000, 2000, 0, 0)
    events = _events(log)
    _never_handed_out_after_done(events)
    # (a kill between done() and its log line leaves a combination done, unlogged)
    handed = collections.Counter(name for kind, name in events if kind == "got")
    assert len(handed) == 2000
    # the kills did land mid-combination: some were handed out twice
    assert any(count > 1 for count in handed.values())


@pytest.mark.timeout(300)
def test_eight_processes_share_5000_combinations_each_handed_out_once(tmp_path):
    directory, log = str(tmp_path / "sweep"), str(tmp_path / "log")
    _finish(_start(directory, str(tmp_path / "creation"), "--create", 5000, "--limit", -1))
    workers = [_start(directory, log) for _ in range(8)]
    results = [_finish(w, timeout=240) for w in workers]
    handed = collections.Counter(name for kind, name in _events(log) if kind == "got")
    assert len(handed) == 5000 and set(handed.values()) == {1}
    assert sum(r["count"] for r in results) == 5000
    assert sum(1 for r in results if r["count"] > 0) >= 2, results   # they did share
    check = _finish(_start(directory, log, "--limit", -1))
    assert (check["done"], check["remaining"], check["inprogress"]) == (5000, 0, 0)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("first_old", [True, False], ids=["2.8.2-then-ours", "ours-then-2.8.2"])
def test_a_sweep_half_done_by_one_version_is_finished_by_the_other(tmp_path, first_old):
    directory, log = str(tmp_path / "sweep"), str(tmp_path / "log")
    first = _finish(_start(directory, log, "--create", 300, "--limit", 120, "--leave-one",
                           old=first_old))
    assert (first["done"], first["inprogress"]) == (120, 1)
    # the other version sees exactly that, and finishes, the in-progress one after a reset
    second = _finish(_start(directory, log, old=not first_old))
    assert (second["count"], second["inprogress"]) == (179, 1)
    # (2.8.2's reset() frees them on disk, its next instance hands them out)
    _finish(_start(directory, log, "--reset", "--limit", -1, old=not first_old))
    third = _finish(_start(directory, log, old=not first_old))
    assert third["count"] == 1
    # and the first version reads the result back: all done
    check = _finish(_start(directory, log, old=first_old))
    assert (check["count"], check["done"], check["remaining"], check["inprogress"]) == (
        0, 300, 0, 0)
    events = _events(log)
    assert len(_never_handed_out_after_done(events)) == 300
    handed = collections.Counter(name for kind, name in events if kind == "got")
    assert sorted(handed.values()) == [1] * 299 + [2]   # only the abandoned one twice


@pytest.mark.timeout(600)
def test_2_8_2_and_ours_work_on_one_directory_at_the_same_time(tmp_path):
    directory, log = str(tmp_path / "sweep"), str(tmp_path / "log")
    _finish(_start(directory, str(tmp_path / "creation"), "--create", 600, "--limit", -1))
    workers = [_start(directory, log, old=(i % 2 == 0)) for i in range(4)]
    results = [_finish(w, timeout=300) for w in workers]
    handed = collections.Counter(name for kind, name in _events(log) if kind == "got")
    assert set(handed.values()) == {1}
    old_count = results[0]["count"] + results[2]["count"]
    new_count = results[1]["count"] + results[3]["count"]
    assert old_count > 0 and new_count > 0, results
    assert old_count + new_count == len(handed)
    check_old = _finish(_start(directory, log, old=True))
    check_new = _finish(_start(directory, log))
    for check in (check_old, check_new):
        assert (check["done"], check["remaining"], check["inprogress"]) == (600, 0, 0)
