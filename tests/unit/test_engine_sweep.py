"""execo_engine.sweep: the expansion, the names, and the sweeper's files.

What 2.x hands users as data (the order of `sweep`'s list and keys, the
`slugify` names, `geom`'s floats) is compared with execo 2.8.2 run on the
same inputs in its own virtualenv (tests/old_execo.py).
"""

import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from execo_engine import (HashableDict, ParamSweeper, SweepStateError, geom, igeom, slugify,
                          sweep, sweep_stats)
from execo_engine.sweep_state import PICKLE_PROTOCOL

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
from old_execo import run_old_execo  # noqa: E402

# inputs given to both implementations, as python source
PARAMETER_SETS = [
    '{"param 1": ["a", "b"], "param 2": [1, 2]}',
    '{"param 1": ["a", "b"], "param 2": {1: {"param 1 1": ["x", "y"], "param 1 2": [0.0, 1.0]},'
    ' 2: {"param 2 1": [-10, 10]}}}',
    '{"z": [3, 1, 2], "empty": [], "a": ("t", None, True), "m": {"x": {}, "y": {"n": [1]}}}',
    '{"algo": {"fast": {"depth": [1, 2], "algo": ["over"]}, "slow": {}}, "n": range(3)}',
    '{"size": [1.5, 2e10, -0.0], "name": ["Élan vital", "a/b c", "x__y--z"]}',
]
SLUG_VALUES = ['"Hello World"', '" Élan  Vital -- déjà_vu "', '"a/b\\\\c:d*e?f"', '3.25',
               '("t", 1, None)', '{"k": "v", "n": 2}', '"ﬁ ligature ½"', '"__x__"', '""',
               '"tab\\there\\nnewline"']
SEPARATORS = ["-", "_", "."]
GEOM_ARGS = [(1, 100, 3), (1, 1000, 4), (2, 3, 7), (1, 1024, 11), (0.5, 7, 5), (5, 5, 1),
             (1, 10, 0), (3, 1, 4), (1, 2, 2), (1, 50, 20)]


COMPARE_CODE = textwrap.dedent("""\
    import json
    from execo_engine import sweep, slugify, geom, igeom, HashableDict, sweep_stats
    PARAMETER_SETS, SLUG_VALUES, SEPARATORS, GEOM_ARGS = %r, %r, %r, %r
    out = {"sweeps": [], "slugs": [], "geom": [], "igeom": []}
    for source in PARAMETER_SETS:
        combinations = sweep(eval(source))
        out["sweeps"].append([[[repr(k), repr(v)] for k, v in c.items()] for c in combinations])
        out["slugs"].append([slugify(c) for c in combinations])
    for source in SLUG_VALUES:
        out["slugs"].append([slugify(eval(source), s) for s in SEPARATORS])
    for args in GEOM_ARGS:
        out["geom"].append([repr(x) for x in geom(*args)])
        out["igeom"].append(igeom(*args))
    out["hashes"] = [hash(HashableDict({1: 2.5, 3: 4})), hash(HashableDict()),
                     hash(HashableDict({(1, 2): 3}))]
    combinations = sweep({"a": [1, 2, 3], "b": [4, 5]})
    stats = (combinations, combinations[:2], combinations[2:3], combinations[3:4], combinations[4:])
    out["stats"] = sorted((state, repr(sorted(v.items()))) for state, v in sweep_stats(stats).items())
    print(json.dumps(out))
""") % (PARAMETER_SETS, SLUG_VALUES, SEPARATORS, GEOM_ARGS)


@pytest.fixture(scope="module")
def as_in_2_8_2():
    return run_old_execo(COMPARE_CODE)


@pytest.fixture(scope="module")
def as_here():
    result = subprocess.run([sys.executable, "-c", COMPARE_CODE], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO), cwd="/", timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(600)   # the first use may create 2.8.2's virtualenv
def test_sweep_lists_combinations_and_keys_in_2_8_2_order(as_in_2_8_2, as_here):
    assert as_here["sweeps"] == as_in_2_8_2["sweeps"]
    assert len(as_here["sweeps"][1]) == 12


def test_slugify_names_combinations_and_values_as_2_8_2(as_in_2_8_2, as_here):
    assert as_here["slugs"] == as_in_2_8_2["slugs"]


def test_geom_and_igeom_give_2_8_2_numbers_to_the_last_bit(as_in_2_8_2, as_here):
    assert as_here["geom"] == as_in_2_8_2["geom"]
    assert as_here["igeom"] == as_in_2_8_2["igeom"]


def test_hashable_dict_hashes_and_sweep_stats_as_2_8_2(as_in_2_8_2, as_here):
    assert as_here["hashes"] == as_in_2_8_2["hashes"]
    assert as_here["stats"] == as_in_2_8_2["stats"]


def test_sweep_expands_sub_parameters_only_under_their_value():
    combinations = sweep({"size": [1, 2], "algo": {"a": {}, "b": {"depth": [3, 4]}}})
    assert combinations == [{"size": 1, "algo": "a"}, {"size": 1, "algo": "b", "depth": 3},
                            {"size": 1, "algo": "b", "depth": 4}, {"size": 2, "algo": "a"},
                            {"size": 2, "algo": "b", "depth": 3},
                            {"size": 2, "algo": "b", "depth": 4}]
    assert all(isinstance(c, HashableDict) for c in combinations)
    assert len(set(combinations)) == 6


def test_hashable_dict_with_keys_of_mixed_types_is_hashable():
    assert hash(HashableDict({1: "a", "b": 2})) == hash(HashableDict({"b": 2, 1: "a"}))


def test_geom_examples_of_the_docstrings():
    assert geom(1, 100, 3) == [1.0, 10.0, 100.0]
    assert igeom(1, 1000, 4) == [1, 10, 100, 1000]
    assert slugify({'size': 10, 'algo': 'Fast B'}) == 'size-10-algo-fast-b'


# -- the sweeper, in one process ----------------------------------------

@pytest.fixture
def combinations():
    return sweep({"n": list(range(6)), "algo": ["a", "b"]})


def test_sweeper_hands_out_in_sweep_order_and_tracks_every_state(tmp_path, combinations):
    sweeper = ParamSweeper(str(tmp_path / "s"), combinations)
    first = sweeper.get_next()
    assert first == combinations[0]
    batch = sweeper.get_next_batch(3)
    assert batch == combinations[1:4]
    sweeper.done(first)
    sweeper.skip(batch[0])
    sweeper.cancel(batch[1])
    sweeps, remaining, skipped, inprogress, done = sweeper.stats()
    assert (len(sweeps), done, skipped, inprogress) == (12, {first}, {batch[0]}, {batch[2]})
    assert remaining == set(combinations[4:]) | {batch[1]}
    assert str(sweeper) == "s <12 total, 1 done, 1 skipped, 1 in progress, 9 remaining>"
    # cancelled: back at the end of the queue
    handed = [sweeper.get_next() for _ in range(9)]
    assert handed[-1] == batch[1] and sweeper.get_next() is None
    sweeper.reset()
    assert sweeper.get_next() == batch[0]
    stats = sweep_stats(sweeper.stats())
    assert stats["done"]["n"] == {0: 1} and stats["done_ratio"]["n"][0] == 0.5


def test_sweeper_filter_chooses_among_the_remaining(tmp_path, combinations):
    sweeper = ParamSweeper(str(tmp_path / "s"), combinations)
    largest_first = lambda remaining: sorted(remaining, key=lambda c: -c["n"])  # noqa: E731
    assert sweeper.get_next(largest_first)["n"] == 5
    assert [c["n"] for c in sweeper.get_next_batch(2, largest_first)] == [5, 4]
    only_b = lambda remaining: [c for c in remaining if c["algo"] == "b"]  # noqa: E731
    assert all(sweeper.get_next(only_b)["algo"] == "b" for _ in range(5))
    assert sweeper.get_next(only_b) is None and sweeper.get_next() is not None
    # filters written for 2.x, which gave them a set
    wanted = {combinations[2], combinations[4]}
    assert sweeper.get_next(lambda remaining: remaining.intersection(wanted)) in wanted
    assert sweeper.get_next(lambda remaining: remaining & wanted) in wanted
    assert sweeper.get_next(lambda remaining: remaining & wanted) is None


def test_threads_sharing_one_sweeper_and_another_instance_never_get_the_same(tmp_path):
    import threading
    combinations = sweep({"n": list(range(300))})
    directory = str(tmp_path / "s")
    sweepers = [ParamSweeper(directory, combinations), ParamSweeper(directory, combinations)]
    handed = [[] for _ in range(6)]

    def work(index):
        sweeper = sweepers[index % 2]
        while (combination := sweeper.get_next()) is not None:
            handed[index].append(slugify(combination))
            sweeper.done(combination)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    names = [name for per_thread in handed for name in per_thread]
    assert sorted(names) == sorted(slugify(c) for c in combinations)
    sweepers[0].update()
    assert len(sweepers[0].get_done()) == 300


def test_done_and_inprogress_survive_into_a_new_sweeper_and_reset_frees_inprogress(
        tmp_path, combinations):
    directory = str(tmp_path / "s")
    sweeper = ParamSweeper(directory, combinations, save_sweeps=True)
    done = sweeper.get_next()
    sweeper.done(done)
    lost = sweeper.get_next()       # handed out, its process "dies"
    again = ParamSweeper(directory)  # sweeps from disk
    assert again.get_sweeps() == set(combinations)
    assert again.get_done() == {done} and again.get_inprogress() == {lost}
    assert lost not in again.get_remaining()
    again.reset(reset_inprogress=True)
    assert lost in again.get_remaining() and not again.get_inprogress()
    sweeper.update()   # the other sweeper sees the reset at once
    assert lost in sweeper.get_remaining()


def test_two_sweepers_of_one_process_never_hand_out_the_same(tmp_path, combinations):
    directory = str(tmp_path / "s")
    first, second = ParamSweeper(directory, combinations), ParamSweeper(directory, combinations)
    handed = []
    while True:
        a, b = first.get_next(), second.get_next()
        handed += [c for c in (a, b) if c is not None]
        if a is None and b is None:
            break
    assert sorted(map(slugify, handed)) == sorted(map(slugify, combinations))


def test_sweeper_without_sweeps_in_an_empty_directory_says_what_to_do(tmp_path):
    with pytest.raises(SweepStateError, match=r"sweeps: no sweeps were saved there; give"):
        ParamSweeper(str(tmp_path / "s"))


# -- the files: durability, damage, code in pickles ---------------------

def _done_file_with(directory, combinations):
    with open(os.path.join(directory, "done"), "wb") as f:
        for c in combinations:
            f.write(pickle.dumps(c, PICKLE_PROTOCOL))


def test_a_torn_last_done_record_is_dropped_at_every_cut(tmp_path, combinations, caplog_execo):
    whole = b"".join(pickle.dumps(c, PICKLE_PROTOCOL) for c in combinations[:3])
    last = len(pickle.dumps(combinations[2], PICKLE_PROTOCOL))
    for cut in range(1, last):
        directory = str(tmp_path / ("cut%d" % cut))
        os.makedirs(directory)
        with open(os.path.join(directory, "done"), "wb") as f:
            f.write(whole[:len(whole) - cut])
        sweeper = ParamSweeper(directory, combinations)
        assert sweeper.get_done() == set(combinations[:2]), cut
        # cut off the file, so that the next record is readable after it
        assert os.path.getsize(os.path.join(directory, "done")) == len(whole) - last
        sweeper.done(combinations[5])
        assert ParamSweeper(directory, combinations).get_done() == set(combinations[:2]) | {
            combinations[5]}
    assert "dropping" in caplog_execo.text and "done" in caplog_execo.text


def test_zeros_left_by_a_power_cut_after_the_last_record_are_dropped(tmp_path, combinations):
    directory = str(tmp_path / "s")
    os.makedirs(directory)
    _done_file_with(directory, combinations[:2])
    with open(os.path.join(directory, "done"), "ab") as f:
        f.write(b"\0" * 4096)
    assert ParamSweeper(directory, combinations).get_done() == set(combinations[:2])


def test_a_damaged_done_record_is_refused_naming_the_file_and_left_as_is(tmp_path, combinations):
    directory = str(tmp_path / "s")
    os.makedirs(directory)
    _done_file_with(directory, combinations[:3])
    path = os.path.join(directory, "done")
    with open(path, "r+b") as f:
        f.seek(len(pickle.dumps(combinations[0], PICKLE_PROTOCOL)))
        f.write(b"\x07garbage")
    before = open(path, "rb").read()
    with pytest.raises(SweepStateError) as raised:
        ParamSweeper(directory, combinations)
    assert re.search(re.escape(path) + r": the record at byte \d+ cannot be read",
                     str(raised.value))
    assert open(path, "rb").read() == before


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % self.marker,))


@pytest.mark.parametrize("name", ["done", "inprogress", "sweeps"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, combinations,
                                                                    name):
    directory = str(tmp_path / "s")
    os.makedirs(directory)
    marker = tmp_path / "ran"
    payload = pickle.dumps({HashableDict(n=1), _RunsCode(marker)} if name != "done"
                           else _RunsCode(marker), PICKLE_PROTOCOL)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(payload)
    with pytest.raises(SweepStateError, match=re.escape(os.path.join(directory, name))
                       + r": .*holds a posix.system"):
        ParamSweeper(directory, combinations if name != "sweeps" else None)
    assert not marker.exists()


def test_an_inprogress_file_cut_short_counts_as_empty_with_a_warning(tmp_path, combinations,
                                                                    caplog_execo):
    directory = str(tmp_path / "s")
    os.makedirs(directory)
    data = pickle.dumps(set(combinations[:3]), PICKLE_PROTOCOL)
    with open(os.path.join(directory, "inprogress"), "wb") as f:
        f.write(data[:len(data) // 2])
    sweeper = ParamSweeper(directory, combinations)
    assert sweeper.get_inprogress() == set() and len(sweeper.get_remaining()) == 12
    assert "inprogress: unreadable" in caplog_execo.text


def test_an_inprogress_file_rewritten_shorter_and_killed_before_the_cut_reads_its_first_pickle(
        tmp_path, combinations):
    directory = str(tmp_path / "s")
    os.makedirs(directory)
    with open(os.path.join(directory, "inprogress"), "wb") as f:
        f.write(pickle.dumps({combinations[0]}, PICKLE_PROTOCOL))
        f.write(pickle.dumps(set(combinations[1:6]), PICKLE_PROTOCOL)[20:])
    sweeper = ParamSweeper(directory, combinations)
    assert sweeper.get_inprogress() == {combinations[0]}
    sweeper.cancel(combinations[0])
    assert pickle.loads(open(os.path.join(directory, "inprogress"), "rb").read()) == set()


STRACED = textwrap.dedent("""\
    import os, sys
    from execo_engine import ParamSweeper, sweep
    sweeper = ParamSweeper(sys.argv[1], sweep({"n": [1, 2, 3]}))
    combination = sweeper.get_next()
    os.write(1, b"calling done\\n")
    sweeper.done(combination)
    os.write(1, b"done returned\\n")
""")


def test_done_returns_only_after_its_record_is_written_then_fsynced(tmp_path):
    if shutil.which("strace") is None:
        if os.geteuid() == 0:
            pytest.fail("strace is missing: `make test-deps` installs it")
        pytest.skip("strace is missing (apt-get install strace)")
    directory = str(tmp_path / "s")
    script = tmp_path / "straced.py"
    script.write_text(STRACED)
    result = subprocess.run(
        ["strace", "-f", "-y", "-qq", "-e", "trace=write,pwrite64,fsync,fdatasync,rename,renameat,"
         "renameat2,ftruncate", "-o", str(tmp_path / "trace"), sys.executable, str(script),
         directory], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr
    calls = open(tmp_path / "trace").read().splitlines()
    start = next(i for i, line in enumerate(calls) if "calling done" in line)
    end = next(i for i, line in enumerate(calls) if "done returned" in line)
    done_path = os.path.realpath(os.path.join(directory, "done"))
    during = calls[start + 1:end]
    writes = [i for i, line in enumerate(during)
              if re.search(r"\bwrite\(\d+<%s>" % re.escape(done_path), line)]
    fsyncs = [i for i, line in enumerate(during)
              if re.search(r"\bfsync\(\d+<%s>" % re.escape(done_path), line)]
    inprogress = [i for i, line in enumerate(during) if re.search(
        r"\b(pwrite64|write|rename\w*)\(.*inprogress", line)]
    assert len(writes) == 1 and len(fsyncs) == 1 and inprogress, "\n".join(during)
    # the record, then its fsync, then in-progress is updated, then done() returns
    assert writes[0] < fsyncs[0] < inprogress[0], "\n".join(during)


# the names and signatures of execo 2.8.2's reference (tests/data/execo-2.8.2-modules.txt)
REFERENCE = {
    "execo_engine": ["Engine", "HashableDict", "ParamSweeper", "copy_outputs", "geom", "igeom",
                     "logger", "redirect_outputs", "slugify", "sweep", "sweep_stats"],
    "execo_engine.engine": ["Engine", "copy_outputs", "redirect_outputs",
                            "run_meth_on_engine_ancestors"],
    "execo_engine.log": ["logger"],
    "execo_engine.sweep": ["HashableDict", "ParamSweeper", "geom", "igeom", "sweep",
                           "sweep_stats"],
    "execo_engine.utils": ["copy_outputs", "redirect_outputs", "slugify"],
}
SIGNATURES = {
    "ParamSweeper": "(persistence_dir, sweeps=None, save_sweeps=False, name=None)",
    "copy_outputs": "(stdout_filename, stderr_filename, use_pty=False)",
    "geom": "(range_min, range_max, num_steps)", "igeom": "(range_min, range_max, num_steps)",
    "redirect_outputs": "(stdout_filename, stderr_filename)",
    "slugify": "(value, separator='-')", "sweep": "(parameters)", "sweep_stats": "(stats)",
    "ParamSweeper.get_next": "(self, filtr=None)",
    "ParamSweeper.get_next_batch": "(self, num_combs, filtr=None)",
    "ParamSweeper.reset": "(self, reset_inprogress=False)",
    "ParamSweeper.set_sweeps": "(self, sweeps=None, save_sweeps=False)",
    "Engine.start": "(self, engineargs=%r)" % (sys.argv[1:],),
    "run_meth_on_engine_ancestors": "(instance, method_name)",
}


@pytest.mark.parametrize("module", sorted(REFERENCE))
def test_the_2_8_2_names_import_from_each_module(module):
    import importlib
    imported = importlib.import_module(module)
    missing = [name for name in REFERENCE[module] if not hasattr(imported, name)]
    assert not missing
    assert set(REFERENCE[module]) <= set(imported.__all__)


def test_the_2_8_2_signatures():
    import inspect
    import execo_engine
    import execo_engine.engine
    for path, wanted in SIGNATURES.items():
        target = execo_engine.engine if path.startswith("run_meth") else execo_engine
        for part in path.split("."):
            target = getattr(target, part)
        signature = inspect.signature(target)
        bare = signature.replace(parameters=[p.replace(annotation=p.empty)
                                             for p in signature.parameters.values()],
                                 return_annotation=signature.empty)
        assert str(bare) == wanted, path


def test_a_filter_may_use_its_sweeper_and_one_using_another_of_the_directory_is_refused(
        tmp_path, combinations):
    directory = str(tmp_path / "s")
    sweeper, other = ParamSweeper(directory, combinations), ParamSweeper(directory, combinations)

    def least_done_algo(remaining):
        done = sweeper.get_done()
        return sorted(remaining, key=lambda c: sum(d["algo"] == c["algo"] for d in done))
    sweeper.done(sweeper.get_next(least_done_algo))
    assert sweeper.get_next(least_done_algo)["algo"] == "b"
    with pytest.raises(RuntimeError, match="already held by this thread"):
        sweeper.get_next(lambda remaining: [other.get_next()])
