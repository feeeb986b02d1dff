"""A worker of a shared sweep, run as a process by the sweeper tests.

It runs unchanged under execo 2.8.2 and under this tree (whichever
``execo_engine`` the interpreter imports): that is the point, the tests
mix both on one directory. Each combination is logged to LOG before it
is worked on ("got NAME") and after ``done()`` returned ("done NAME"),
with one O_APPEND write per line so that lines of concurrent workers
never mix and a SIGKILL loses at most the line being written.

    sweep_worker.py DIR LOG [--create N] [--reset] [--limit K] [--leave-one] [--work S]
"""

import argparse
import json
import os
import sys
import time

from execo_engine import ParamSweeper, slugify, sweep


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("log")
    parser.add_argument("--create", type=int, default=0, help="save a sweep of N combinations")
    parser.add_argument("--reset", action="store_true", help="reset(True) first")
    parser.add_argument("--limit", type=int, default=0, help="stop after K combinations (0: none; -1: at once)")
    parser.add_argument("--leave-one", action="store_true",
                        help="then take one more and never finish it")
    parser.add_argument("--work", type=float, default=0.0, help="seconds per combination")
    options = parser.parse_args()
    if options.create:
        sweeper = ParamSweeper(options.directory, sweep({"i": list(range(options.create))}),
                               save_sweeps=True)
    else:
        sweeper = ParamSweeper(options.directory)
    if options.reset:
        sweeper.reset(True)
    log = os.open(options.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    count = 0
    while options.limit == 0 or count < options.limit:
        combination = sweeper.get_next()
        if combination is None:
            break
        os.write(log, ("got %s\n" % slugify(combination)).encode())
        if options.work:
            time.sleep(options.work)
        sweeper.done(combination)
        os.write(log, ("done %s\n" % slugify(combination)).encode())
        count += 1
    if options.leave_one:
        combination = sweeper.get_next()
        if combination is not None:
            os.write(log, ("got %s\n" % slugify(combination)).encode())
    sweeper.update()
    sweeps, remaining, skipped, inprogress, done = sweeper.stats()
    print(json.dumps({"count": count, "total": len(sweeps), "remaining": len(remaining),
                      "inprogress": len(inprogress), "done": len(done)}))


if __name__ == "__main__":
    main()
