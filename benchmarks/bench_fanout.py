#!/usr/bin/env python3
"""The fan-out limit: ``Remote(command)`` on N aliases of one loopback sshd,
with the default limit (``configuration['fanout'] = 'auto'``) and with none,
under a given fd limit, in one run.

    python3 benchmarks/bench_fanout.py [--hosts 2000] [--nofile 1024,20000] [--repeat 1]
                                       [--command true]

Each run is a fresh interpreter under ``prlimit --nofile=N:N``; it prints
the hosts ok and failed, the time of the fan-out alone, and the limit in
force. Ratios are to the default limit's time under the same fd limit.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from execo.testbed import LoopbackTestbed  # noqa: E402

CHILD = r"""
import json, os, sys, time
import execo
from execo.fanout import fanout_limit
params = json.loads(os.environ["BENCH_PARAMS"])
if sys.argv[2] == "none":
    execo.configuration["fanout"] = None
hosts = ["node-%d" % i for i in range(1, int(sys.argv[1]) + 1)]
start = time.perf_counter()
remote = execo.Remote(sys.argv[3], hosts, connection_params=params).run()
elapsed = time.perf_counter() - start
failed = [p for p in remote.processes if not p.ok]
print(json.dumps({"ok": len(hosts) - len(failed), "failed": len(failed), "seconds": elapsed,
                  "limit": fanout_limit(),
                  "first_failure": failed[0].error_reason if failed else None}))
"""


def run(bed, hosts, nofile, mode, command):
    result = subprocess.run(
        ["prlimit", "--nofile=%d:%d" % (nofile, nofile), sys.executable, "-c", CHILD,
         str(hosts), mode, command], cwd=REPO, capture_output=True, timeout=1800,
        env=dict(os.environ, PYTHONPATH=REPO, BENCH_PARAMS=json.dumps(bed.connection_params)))
    if result.returncode != 0:
        return {"ok": 0, "failed": hosts, "seconds": float("nan"), "limit": None,
                "first_failure": result.stderr.decode()[-300:]}
    return json.loads(result.stdout.decode().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--nofile", default="1024,20000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--command", default="true",
                        help="remote command (one lasting a while, e.g. 'sleep 1', keeps "
                             "more connections open at once)")
    args = parser.parse_args()
    print("`%s` on %d hosts" % (args.command, args.hosts))
    print("| fd limit | fan-out limit | hosts ok | failed | seconds (median of %d) | ratio |"
          % args.repeat)
    print("|---|---|---|---|---|---|")
    with LoopbackTestbed(num_hosts=args.hosts) as bed:
        for nofile in [int(n) for n in args.nofile.split(",")]:
            base = None
            for mode in ("auto", "none"):
                runs = [run(bed, args.hosts, nofile, mode, args.command) for _ in range(args.repeat)]
                seconds = statistics.median(r["seconds"] for r in runs)
                last = runs[-1]
                base = seconds if base is None else base
                label = "default (%s)" % last["limit"] if mode == "auto" else "none"
                print("| %d | %s | %d | %d | %.1f | %.2f |"
                      % (nofile, label, last["ok"], last["failed"], seconds, seconds / base))
                if last["first_failure"]:
                    print("|  | first failure: %s |" % last["first_failure"][:120].replace("|", "/"))


if __name__ == "__main__":
    main()
