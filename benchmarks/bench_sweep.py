#!/usr/bin/env python3
"""ParamSweeper: cost of one combination (``get_next`` then ``done``, fsync'ed).

    python3 benchmarks/bench_sweep.py [--sizes 1000,30000,100000] [--procs 1,8]
                                      [--rounds 3] [--dir DIR] [--old-deadline 120]

For each sweep size and number of processes, a sweep of that many
combinations is saved in a fresh directory, then that many processes
(fresh interpreters, imports not timed) take combinations and mark them
done until none is left; the figure is the wall time from the moment all
are ready to the last exit, divided by the number of combinations. This
tree and execo 2.8.2 (its own virtualenv) are measured in the same run,
rounds interleaved; medians are printed.

The directory must be on a disk-backed filesystem (an fsync on tmpfs
costs nothing): the filesystem type is printed, and tmpfs refused.
2.8.2 can be very slow on big sweeps: its processes stop after
``--old-deadline`` seconds and the cost is taken over what they did (said
so in the table).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import REPO, median, old_execo_python, print_table  # noqa: E402

IMPLEMENTATIONS = ("this tree", "execo 2.8.2")


def worker(directory: str, create: int, deadline: float, no_fsync: bool) -> None:
    """Runs in a fresh interpreter, under whichever execo_engine it imports."""
    if no_fsync:
        os.fsync = lambda fd: None   # both implementations call os.fsync
    from execo_engine import ParamSweeper, sweep
    if create:
        ParamSweeper(directory, sweep({"i": list(range(create))}), save_sweeps=True)
        print(json.dumps({"created": create}))
        return
    sweeper = ParamSweeper(directory)
    print("ready", flush=True)
    sys.stdin.readline()
    count, start = 0, time.monotonic()
    while True:
        combination = sweeper.get_next()
        if combination is None:
            break
        sweeper.done(combination)
        count += 1
        if deadline and count % 64 == 0 and time.monotonic() - start > deadline:
            break
    print(json.dumps({"count": count, "seconds": time.monotonic() - start}))


def _command(implementation: str, old_python: str, *args):
    if implementation == "this tree":
        return [sys.executable, __file__, "--worker"] + list(args), dict(os.environ,
                                                                          PYTHONPATH=REPO)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return [old_python, __file__, "--worker"] + list(args), env


def measure(implementation, old_python, base, size, procs, deadline, no_fsync):
    """Seconds per combination, and whether the run was cut by the deadline."""
    directory = tempfile.mkdtemp(prefix="sweep-", dir=base)
    try:
        command, env = _command(implementation, old_python, directory, "--create", str(size))
        subprocess.run(command, env=env, check=True, capture_output=True, cwd="/")
        command, env = _command(implementation, old_python, directory, "--deadline",
                                str(deadline), *(["--no-fsync"] if no_fsync else []))
        workers = [subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, cwd="/")
                   for _ in range(procs)]
        for w in workers:
            assert w.stdout.readline() == "ready\n"
        start = time.monotonic()
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        results = [json.loads(w.communicate()[0].splitlines()[-1]) for w in workers]
        elapsed = time.monotonic() - start
        count = sum(r["count"] for r in results)
        return elapsed / count, count < size
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def filesystem(path):
    try:
        return subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", path],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("directory", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--create", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1000,30000,100000")
    parser.add_argument("--procs", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=REPO, help="where the sweep directories go "
                        "(default: the repository, on disk)")
    parser.add_argument("--old-deadline", type=float, default=120.0,
                        help="seconds after which 2.8.2's processes stop (0: never)")
    parser.add_argument("--no-fsync", action="store_true",
                        help="replace os.fsync by a no-op in both: the CPU part of the cost, "
                             "without the disk's noise (not the real cost)")
    options = parser.parse_args()
    if options.worker:
        worker(options.directory, options.create, options.deadline, options.no_fsync)
        return 0
    fs = filesystem(options.dir)
    print("sweep directories under %s: %s" % (options.dir, fs))
    if fs.startswith("tmpfs"):
        print("refusing tmpfs: fsync costs nothing there; pass --dir on a disk", file=sys.stderr)
        return 2
    old_python = old_execo_python()
    base = tempfile.mkdtemp(prefix=".bench-sweep-", dir=options.dir)
    cases = [(size, procs) for size in map(int, options.sizes.split(","))
             for procs in map(int, options.procs.split(","))]
    figures = {(impl, case): [] for impl in IMPLEMENTATIONS for case in cases}
    cut = set()
    try:
        for round_number in range(options.rounds):
            for case in cases:
                for impl in IMPLEMENTATIONS:
                    deadline = options.old_deadline if impl == "execo 2.8.2" else 0
                    per_combination, was_cut = measure(impl, old_python, base, *case, deadline,
                                                       options.no_fsync)
                    figures[impl, case].append(per_combination)
                    if was_cut:
                        cut.add((impl, case))
                    print("round %d, %d combinations, %d process(es), %s: %.3f ms%s" % (
                        round_number + 1, case[0], case[1], impl, per_combination * 1e3,
                        " (stopped at the deadline)" if was_cut else ""), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rows = []
    for case in cases:
        ours, old = (median(figures[impl, case]) for impl in IMPLEMENTATIONS)
        first = median(figures["this tree", (cases[0][0], case[1])])
        rows.append(["%d" % case[0], "%d" % case[1], "%.3f" % (ours * 1e3),
                     "%.3f%s" % (old * 1e3, "*" if ("execo 2.8.2", case) in cut else ""),
                     "%.2fx" % (ours / old), "%.2fx" % (ours / first)])
    print_table("ms per combination (get_next + done%s), median of %d rounds; * = 2.8.2 stopped "
                "after %gs, cost over what it did" % (
                    ", os.fsync a no-op" if options.no_fsync else ", fsync'ed", options.rounds,
                    options.old_deadline),
                ["combinations", "processes", "this tree", "execo 2.8.2", "ours/2.8.2",
                 "ours/ours at %d" % cases[0][0]], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
