#!/usr/bin/env python3
"""Progress bars: the cost of ``progress=True`` with stderr on a terminal.

    python3 benchmarks/bench_progress.py [--rounds 5]

Each measurement runs in a child whose stderr is a real pseudo-terminal
(drained by this process), with progress forced on, then off; rounds
interleave the two. Cases:

  actions200   200 ``Local("true").run()`` in a row: each start arms and
               each end cancels the delay timer of a bar never shown
  parallel1000 one ParallelActions of 1000 ``Local("true")``: a bar is
               shown if it lasts over half a second
  sleeping100  100 ``Local("sleep 3")`` in a ParallelActions: a bar drawn
               for 2.5 s; the figure is the child's CPU time, not the wall
               time (which is the sleep)

Ratios are progress on / progress off (1.00: no cost).
"""

import argparse
import json
import os
import pty
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = ("actions200", "parallel1000", "sleeping100")


def case(name, progress):
    from execo import Local, ParallelActions, Process, configuration
    configuration["log_level"] = 40
    Process("true").run()  # the conductor thread exists before timing
    wall, cpu = time.perf_counter(), time.process_time()
    if name == "actions200":
        for _ in range(200):
            Local("true", progress=progress).run()
    elif name == "parallel1000":
        ParallelActions([Local("true") for _ in range(1000)], progress=progress).run()
    else:
        ParallelActions([Local("sleep 3") for _ in range(100)], progress=progress).run()
    if name == "sleeping100":
        return time.process_time() - cpu
    return time.perf_counter() - wall


def _on_pty(args):
    master, slave = pty.openpty()
    drained = threading.Thread(target=_drain, args=(master,), daemon=True)
    drained.start()
    try:
        done = subprocess.run(args, stderr=slave, stdout=subprocess.PIPE, text=True,
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), timeout=600)
    finally:
        os.close(slave)
    drained.join(5)
    os.close(master)
    assert done.returncode == 0
    return json.loads(done.stdout.strip().splitlines()[-1])


def _drain(fd):
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"value": case(args.worker[0], args.worker[1] == "on")}))
        return
    values = {(c, p): [] for c in CASES for p in ("on", "off")}
    for _ in range(args.rounds):
        for name in CASES:
            for progress in ("on", "off"):
                values[(name, progress)].append(_on_pty(
                    [sys.executable, __file__, "--worker", name, progress])["value"])
    rows = []
    for name in CASES:
        on, off = (common.median(values[(name, p)]) for p in ("on", "off"))
        unit = "s cpu" if name == "sleeping100" else "s"
        rows.append([name, "%.3f %s" % (on, unit), "%.3f %s" % (off, unit),
                     "%.2fx" % (on / off)])
    common.print_table("progress bars, stderr on a pty (median of %d rounds)" % args.rounds,
                       ["case", "progress on", "progress off", "ratio"], rows)


if __name__ == "__main__":
    main()
