#!/usr/bin/env python3
"""Local processes: execo against raw subprocess and execo 2.8.2, one run.

    python3 benchmarks/bench_local.py [--rounds 5]

Cases (issue #2 targets in brackets):
  spawn1000  start 1000 concurrent `true`, then wait them all  [<= 1.3x raw]
  capture64  capture 64 MiB of stdout, as bytes                 [>= 0.8x raw throughput]
  text64     the same, read as text (p.stdout; raw: text=True)  [no target; also vs raw bytes]
  roundtrip  one `Process("true").run()`, 200 times in a row    [<= 1.5x raw]

spawn1000 and roundtrip are run twice in each worker: the second run is the
figure (warmed up, as any long experiment is), the first one is shown as
"-cold": the first thousand children of a fresh interpreter, which also pay
for first touching the memory the interpreter grows into.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CAPTURE_BYTES = 64 * 1024 * 1024
ROUNDTRIPS = 200


def case_raw(case):
    if case == "spawn1000":
        start = time.perf_counter()
        children = [subprocess.Popen(["true"]) for _ in range(1000)]
        for child in children:
            child.wait()
        return time.perf_counter() - start
    if case in ("capture64", "text64"):
        start = time.perf_counter()
        result = subprocess.run(["head", "-c", str(CAPTURE_BYTES), "/dev/zero"],
                                capture_output=True, text=case == "text64")
        elapsed = time.perf_counter() - start
        assert len(result.stdout) == CAPTURE_BYTES
        return elapsed
    if case == "roundtrip":
        start = time.perf_counter()
        for _ in range(ROUNDTRIPS):
            subprocess.run(["true"])
        return time.perf_counter() - start
    raise ValueError(case)


def case_execo(case):
    from execo import Process, configuration
    configuration["log_level"] = 40
    Process("true").run()  # the conductor thread exists before timing
    if case == "spawn1000":
        start = time.perf_counter()
        processes = [Process("true").start() for _ in range(1000)]
        for process in processes:
            process.wait()
        elapsed = time.perf_counter() - start
        assert all(p.exit_code == 0 for p in processes)
        return elapsed
    if case in ("capture64", "text64"):
        start = time.perf_counter()
        process = Process(["head", "-c", str(CAPTURE_BYTES), "/dev/zero"]).run()
        if case == "capture64" and hasattr(process, "stdout_bytes"):
            output = process.stdout_bytes
        else:  # execo 2.8.2 keeps text only
            output = process.stdout
        elapsed = time.perf_counter() - start
        assert len(output) == CAPTURE_BYTES
        return elapsed
    if case == "roundtrip":
        start = time.perf_counter()
        for _ in range(ROUNDTRIPS):
            Process("true").run()
        return time.perf_counter() - start
    raise ValueError(case)


REPEATED_CASES = ("spawn1000", "roundtrip")


def worker(impl, case):
    runs = 2 if case in REPEATED_CASES else 1
    if impl == "raw":
        return [case_raw(case) for _ in range(runs)]
    return [case_execo(case) for _ in range(runs)]  # ours, or 2.8.2 by its interpreter


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--no-old", action="store_true", help="skip execo 2.8.2")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"seconds": worker(*args.worker)}))
        return
    impls = {"raw": sys.executable, "execo": sys.executable}
    if not args.no_old:
        impls["execo282"] = common.old_execo_python()
    cases = ["spawn1000", "capture64", "text64", "roundtrip"]
    times = {(impl, case): [] for impl in impls
             for case in cases + [c + "-cold" for c in REPEATED_CASES]}
    for _ in range(args.rounds):
        for case in cases:
            for impl, python in impls.items():
                if impl == "execo282" and case == "text64":
                    continue  # its capture64 already is text, at 2 MiB/s
                result = common.run_worker(python, __file__, ["--worker", impl, case])
                times[(impl, case)].append(result["seconds"][-1])
                if case in REPEATED_CASES:
                    times[(impl, case + "-cold")].append(result["seconds"][0])
    rows = []
    for case in ["spawn1000", "spawn1000-cold", "capture64", "text64", "roundtrip",
                 "roundtrip-cold"]:
        raw = common.median(times[("raw", case)])
        for impl in impls:
            if not times[(impl, case)]:
                continue
            value = common.median(times[(impl, case)])
            if case in ("capture64", "text64"):
                rate = CAPTURE_BYTES / value / 2**20
                ratio = "%.2fx raw throughput" % (raw / value)
                if case == "text64" and impl != "raw":
                    raw_bytes = common.median(times[("raw", "capture64")])
                    ratio += " (%.2fx raw bytes)" % (raw_bytes / value)
                rows.append([case, impl, "%.3f s" % value, "%.0f MiB/s" % rate, ratio])
            else:
                rows.append([case, impl, "%.3f s" % value, "",
                             "%.2fx raw time" % (value / raw)])
    common.print_table("local processes (median of %d rounds, python %s)"
                       % (args.rounds, sys.version.split()[0]),
                       ["case", "impl", "time", "rate", "ratio"], rows)


if __name__ == "__main__":
    main()
