#!/usr/bin/env python3
"""Run every benchmark in turn: ``make bench`` or ``python3 benchmarks/run_all.py``.

Each one prints its own table of ratios (against raw subprocess, raw
taktuk, other parallel-ssh tools and execo 2.8.2, all measured in the same
run). Extra arguments are not forwarded: run a benchmark script alone to
tune it (see its --help).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["bench_local.py", "bench_remote.py", "bench_taktuk.py", "bench_netbed.py",
           "bench_planning.py"]


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print("=" * 20, script, "=" * 20, flush=True)
        if subprocess.run([sys.executable, os.path.join(HERE, script)]).returncode != 0:
            failed.append(script)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
