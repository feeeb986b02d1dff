#!/usr/bin/env python3
"""compute_slots + find_max_slot on a Grid5000-sized planning, against execo 2.8.2.

The planning is generated from a fixed seed (tests/integration/planning_data):
8 sites, 40 clusters, 800 hosts, 2 000 jobs over one week, job starts on a
one-minute grid; and at 4x: 3 200 hosts and 8 000 jobs on the same clusters,
then also 4x the sites and clusters (each slot then counts 4x the elements,
so the answer itself is ~14x larger). Both implementations run in fresh
worker interpreters in the same run, on the same JSON planning, and the
digest of their answers (every slot, the chosen slot) is compared: a faster
answer that differs is reported as a failure.

    python3 benchmarks/bench_planning.py [--rounds N] [--old-at-4x]

The topology reaches our execo_g5k through the API stand-in, and 2.8.2
through its API cache (as in the tests); lookups are warmed before timing.
"""

import argparse
import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import REPO, median, old_execo_python, print_table, run_worker  # noqa: E402

TESTS_INTEGRATION = os.path.join(REPO, "tests", "integration")
START = 1924300800
WALLTIME = "2:00:00"
# 4x: four times the hosts and jobs on the same clusters; 4x-sites: four
# times everything, so each slot also counts four times as many elements
SIZES = {"1x": (8, 40, 800, 2000), "4x": (8, 40, 3200, 8000),
         "4x-sites": (32, 160, 3200, 8000)}


def _digest(slots, chosen):
    text = json.dumps([slots, chosen], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def worker(impl, data_file, rounds):
    with open(data_file) as f:
        data = json.load(f)
    if impl == "execo282":
        import execo_g5k.api_utils as api
        topo = data["topology"]
        api._data = {
            "version": "bench", "network": {s: {} for s in topo["hierarchy"]},
            "sites": {s: {"uid": s} for s in topo["hierarchy"]},
            "clusters": {c: {"uid": c, "queues": q} for c, q in topo["queues"].items()},
            "hosts": {h: {"uid": h} for s in topo["hierarchy"].values()
                      for hs in s.values() for h in hs},
            "hierarchy": topo["hierarchy"]}
        from execo_g5k.planning import compute_slots, find_max_slot
        server = None
    else:
        sys.path.insert(0, TESTS_INTEGRATION)
        from g5k_api_standin import G5kApiStandin
        from planning_data import standin_tree
        from execo_g5k import api_utils
        from execo_g5k.config import g5k_configuration
        from execo_g5k.planning import compute_slots, find_max_slot
        server = G5kApiStandin(tree=standin_tree(data["topology"]), page_size=10 ** 6).start()
        g5k_configuration.update({"api_uri": server.uri, "api_cache_dir": None})
        api_utils.clear_cache()
    compute_slots(copy.deepcopy(data["planning"]), WALLTIME)  # warm the topology lookups
    times = []
    for _ in range(rounds):
        planning = copy.deepcopy(data["planning"])
        t0 = time.perf_counter()
        slots = compute_slots(planning, WALLTIME)
        chosen = find_max_slot(slots, {"grid5000": 0})
        times.append(time.perf_counter() - t0)
    if server:
        server.stop()
    slots = json.loads(json.dumps(slots))
    print(json.dumps({"time": median(times), "times": times, "slots": len(slots),
                      "digest": _digest(slots, json.loads(json.dumps(chosen)))}))


def _ensure_requests(python):
    if subprocess.run([python, "-c", "import requests"], capture_output=True).returncode:
        subprocess.run([python, "-m", "pip", "install", "-q", "requests"], check=True)


def make_data(size, directory):
    sys.path.insert(0, TESTS_INTEGRATION)
    sys.path.insert(0, REPO)
    from planning_data import random_planning, topology
    sites, clusters, hosts, jobs = SIZES[size]
    topo = topology(sites, clusters, hosts, seed=18)
    planning = random_planning(topo, seed=18, n_jobs=jobs, start=START)
    path = os.path.join(directory, "planning-%s.json" % size)
    with open(path, "w") as f:
        json.dump({"topology": topo, "planning": planning}, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--old-at-4x", action="store_true",
                        help="also time 2.8.2 at 4x hosts and jobs (~15 s a round)")
    args = parser.parse_args()
    old = old_execo_python()
    _ensure_requests(old)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            path = make_data(size, tmp)
            ours = run_worker(sys.executable, __file__, ["worker", "execo", path, str(args.rounds)])
            results[(size, "execo")] = ours
            theirs = None
            if size == "1x" or (args.old_at_4x and size == "4x"):
                theirs = run_worker(old, __file__, ["worker", "execo282", path,
                                                    str(max(1, min(args.rounds, 3)))])
                results[(size, "execo282")] = theirs
            same = "-" if theirs is None else ("yes" if theirs["digest"] == ours["digest"]
                                               else "NO")
            rows.append([size, ours["slots"], "%.1f ms" % (ours["time"] * 1000),
                         "%.1f ms" % (min(ours["times"]) * 1000),
                         "-" if theirs is None else "%.0f ms" % (theirs["time"] * 1000),
                         "-" if theirs is None else "%.0fx" % (theirs["time"] / ours["time"]),
                         "-" if theirs is None else "%.0fx" % (min(theirs["times"])
                                                              / min(ours["times"])),
                         same])
    base = results[("1x", "execo")]["time"]
    growth = results[("4x", "execo")]["time"] / base
    growth_sites = results[("4x-sites", "execo")]["time"] / base
    print_table("compute_slots + find_max_slot (walltime %s), medians" % WALLTIME,
                ["size", "slots", "execo", "(best)", "execo 2.8.2", "speed-up",
                 "(best/best)", "same answer"], rows)
    print("\n4x hosts and jobs cost %.1fx the time of 1x (goal: <= 5x); "
          "4x sites, clusters, hosts and jobs %.1fx" % (growth, growth_sites))
    if any(row[-1] == "NO" for row in rows):
        print("FAILURE: the answers differ from execo 2.8.2's")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(main())
