"""The control machine's CPU per host: execo's Remote against raw parallel ssh.

``true`` on N aliases of a loopback test bed (raised sshd limits: the
sshd is not what is measured), each run in a fresh worker interpreter,
imports excluded; CPU is ``getrusage`` of the worker (RUSAGE_SELF: our
process, conductor thread included) plus its reaped children
(RUSAGE_CHILDREN: ssh and anything ssh starts). Variants are alternated
round by round, and the median of the rounds is kept:

- raw ssh: a Popen loop of ``ssh -F config host true``, then a wait loop;
- raw ssh + execo's options: the same with execo's default ssh options and
  its remote command (the watchdog prelude), to tell what the options and
  the prelude cost from what execo's process costs;
- execo: ``Remote("true", hosts)`` with its defaults (the per-endpoint
  gate on: the test bed's 300 aliases are one sshd);
- execo, gate told the limit: the gate given the bed's raised MaxStartups,
  so that it holds nothing back, as with as many hosts as aliases (one sshd
  each); its bookkeeping is still paid;
- execo, gate off: ``'max_setups_per_endpoint': None``;
- execo, no prelude: ``'kill_remote_on_disconnect': False``.

    python benchmarks/bench_cpu_per_host.py [--hosts 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from execo.testbed import LoopbackTestbed  # noqa: E402
from execo.testbed.sshd import RAISED_MAX_STARTUPS  # noqa: E402

WORKER = r"""
import json, os, resource, subprocess, sys, time
mode, count = sys.argv[1], int(sys.argv[2])
bed = json.loads(os.environ["BENCH_BED"])
hosts = ["node-%d" % i for i in range(1, count + 1)]
import execo
from execo.ssh import remote_command, ssh_command
params = dict(bed["params"])
if mode == "execo, no prelude":
    params["kill_remote_on_disconnect"] = False
from execo.config import default_connection_params
if mode == "execo, gate off" and "max_setups_per_endpoint" in default_connection_params:
    params["max_setups_per_endpoint"] = None  # (a tree without the gate: same as execo)
if mode == "execo, gate told the limit" and "max_setups_per_endpoint" in default_connection_params:
    params["max_setups_per_endpoint"] = bed["max_startups"]
def usage():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime
if mode.startswith("raw"):
    if mode == "raw ssh":
        argvs = [["ssh", "-F", bed["config"], host, "true"] for host in hosts]
    else:
        argvs = [ssh_command(host, params) + [remote_command("true", params)] for host in hosts]
    before, start = usage(), time.perf_counter()
    children = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for argv in argvs]
    failed = sum(1 for child in children if child.wait() != 0)
else:
    before, start = usage(), time.perf_counter()
    remote = execo.Remote("true", hosts, connection_params=params).run()
    failed = sum(1 for p in remote.processes if not p.ok)
wall = time.perf_counter() - start
after = usage()
print(json.dumps({"self": after[0] - before[0], "children": after[1] - before[1],
                  "wall": wall, "failed": failed}))
"""

MODES = ("raw ssh", "raw ssh + execo's options", "execo", "execo, gate told the limit",
         "execo, gate off", "execo, no prelude")


def run(mode: str, count: int, bed: LoopbackTestbed) -> Dict:
    env = dict(os.environ, PYTHONPATH=REPO,
               BENCH_BED=json.dumps({"params": bed.connection_params, "config": bed.ssh_config,
                                    "max_startups": RAISED_MAX_STARTUPS}))
    result = subprocess.run([sys.executable, "-c", WORKER, mode, str(count)], env=env,
                            capture_output=True, text=True, timeout=600, cwd=bed.workdir)
    if result.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (mode, result.stderr[-3000:]))
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print("load average before: %s" % (os.getloadavg(),))
    runs: Dict[str, List[Dict]] = {mode: [] for mode in MODES}
    with LoopbackTestbed(num_hosts=args.hosts) as bed:
        for _ in range(args.rounds):
            for mode in MODES:
                runs[mode].append(run(mode, args.hosts, bed))
    print("load average after: %s" % (os.getloadavg(),))
    per_host = lambda values: 1000.0 * statistics.median(values) / args.hosts  # noqa: E731
    raw_total = per_host([r["self"] + r["children"] for r in runs["raw ssh"]])
    same_argv = per_host([r["self"] + r["children"] for r in runs["raw ssh + execo's options"]])
    print("\n%d hosts, median of %d alternated rounds, CPU in ms per host"
          % (args.hosts, args.rounds))
    print("  %-28s %8s %9s %8s %8s %9s %7s %6s" % ("variant", "process", "children", "total",
                                                    "vs raw", "vs +opts", "wall s", "failed"))
    for mode in MODES:
        rows = runs[mode]
        total = per_host([r["self"] + r["children"] for r in rows])
        print("  %-28s %8.2f %9.2f %8.2f %8.3f %9.3f %7.2f %6d" % (
            mode, per_host([r["self"] for r in rows]), per_host([r["children"] for r in rows]),
            total, total / raw_total, total / same_argv, statistics.median(r["wall"] for r in rows),
            max(r["failed"] for r in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
