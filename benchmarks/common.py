"""Shared plumbing of the benchmarks: workers in fresh interpreters, medians.

Every figure is measured inside a fresh worker interpreter (imports are
not timed), several rounds interleaved between implementations so that a
noisy neighbour hurts all of them alike; the median of the rounds is kept.
"""

import json
import os
import statistics
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OLD_EXECO_VERSION = "2.8.2"
OLD_VENV = os.environ.get("EXECO_BENCH_OLD_VENV",
                          os.path.join(os.path.expanduser("~"), ".cache", "execo-bench",
                                       "execo-%s" % OLD_EXECO_VERSION))


def old_execo_python():
    """The interpreter of a virtualenv holding execo 2.8.2 (created once)."""
    python = os.path.join(OLD_VENV, "bin", "python")
    if not os.path.exists(python):
        print("creating %s with execo==%s ..." % (OLD_VENV, OLD_EXECO_VERSION), file=sys.stderr)
        venv.create(OLD_VENV, with_pip=True)
    check = subprocess.run([python, "-c", "import execo; print(execo.__version__)"],
                           capture_output=True, text=True, cwd="/", env={"PATH": os.environ["PATH"]})
    if check.stdout.strip() != OLD_EXECO_VERSION:
        subprocess.run([python, "-m", "pip", "install", "-q", "execo==%s" % OLD_EXECO_VERSION],
                       check=True)
    return python


def run_worker(python, script, args, env=None, timeout=900):
    """Run ``script`` as a worker and return the JSON it prints last."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = REPO if "execo282" not in args else ""
    result = subprocess.run([python, script] + list(args), capture_output=True, text=True,
                            env=full_env, timeout=timeout, cwd=HERE)
    if result.returncode != 0:
        raise RuntimeError("worker %s %s failed:\n%s" % (script, args, result.stderr[-3000:]))
    return json.loads(result.stdout.strip().splitlines()[-1])


def median(values):
    return statistics.median(values)


def print_table(title, header, rows):
    print()
    print(title)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
