"""Stock sshd limits and a gateway: hosts lost, and wall time, per tool.

Two scenes, each run against sshds at Debian's stock settings
(``MaxStartups 10:30:100``, ``MaxSessions 10``) and, for comparison,
against raised limits (``MaxStartups 1000:30:1000``), in alternated
rounds so that a noisy neighbour hurts both alike:

- one sshd: ``true`` on N aliases of a loopback test bed (one sshd);
- a gateway: ``true`` on the H hosts of an emulated bed (root needed)
  reached only through its frontend's sshd.

Tools: execo (this tree) ``Remote("true", hosts)`` with its defaults (the
per-endpoint gate on), execo with the gate off
(``max_setups_per_endpoint=None``), raw parallel ssh (a Popen loop, then
wait), ``clush -f N`` and ``pdsh -f N``; the gateway scene gives the
others ``-J frontend``. "lost" is the number of hosts where the command
did not run (ssh exit 255), for execo "lost+retried" (connection attempts
retried: refused at first); "wall" the median of the rounds. The
execo variants: the per-endpoint gate off, the retries off
(``connect_attempts=1``), or neither.

    python benchmarks/bench_stock.py [--hosts 200] [--gateway-hosts 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import execo  # noqa: E402
from execo.testbed import LoopbackTestbed  # noqa: E402
from execo.testbed.emulated import EmulatedTestbed, emulation_unavailable_reason  # noqa: E402

TIMEOUT = 300


def execo_run(params: Dict, hosts: List[str]) -> Tuple[int, int]:
    """(hosts lost, connection attempts retried)"""
    remote = execo.Remote("true", hosts, connection_params=params, nolog_error=True,
                          nolog_exit_code=True).run(TIMEOUT)
    return (sum(1 for p in remote.processes if not p.ok),
            sum(getattr(p, "connect_attempts", 1) - 1 for p in remote.processes))


def raw_ssh(options: List[str], hosts: List[str]) -> int:
    children = [subprocess.Popen(["ssh"] + options + [host, "true"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for host in hosts]
    return sum(1 for child in children if child.wait() != 0)


def clush(options: List[str], hosts: List[str]) -> int:
    result = subprocess.run(["clush", "-S", "-f", str(len(hosts)), "-w", ",".join(hosts),
                             "-o", " ".join(options), "true"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=TIMEOUT)
    return sum(1 for line in result.stderr.splitlines() if "exited with exit code" in line)


def pdsh(options: List[str], hosts: List[str]) -> int:
    env = dict(os.environ, PDSH_SSH_ARGS_APPEND=" ".join(options))
    result = subprocess.run(["pdsh", "-S", "-R", "ssh", "-f", str(len(hosts)),
                             "-w", ",".join(hosts), "true"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, env=env, timeout=TIMEOUT)
    return sum(1 for line in result.stderr.splitlines() if "exited with exit code" in line)


def tools(params: Dict, hosts: List[str], gateway: Optional[str]
          ) -> List[Tuple[str, Callable[[], int]]]:
    options = ["-F", dict(params)["ssh_options"][1], "-o", "BatchMode=yes",
               "-o", "LogLevel=ERROR"]
    if gateway:
        options += ["-J", gateway]
    found = [("execo", lambda: execo_run(params, hosts)),
             ("execo, gate off", lambda: execo_run(dict(params, max_setups_per_endpoint=None),
                                                   hosts)),
             ("execo, no retry", lambda: execo_run(dict(params, connect_attempts=1), hosts)),
             ("execo, neither", lambda: execo_run(dict(params, max_setups_per_endpoint=None,
                                                       connect_attempts=1), hosts)),
             ("raw ssh", lambda: raw_ssh(options, hosts))]
    if shutil.which("clush"):
        found.append(("clush", lambda: clush(options, hosts)))
    if shutil.which("pdsh"):
        found.append(("pdsh", lambda: pdsh(options, hosts)))
    return found


def measure(beds: Dict[str, object], hosts_of: Callable, rounds: int,
            gateway: Optional[str]) -> Dict[Tuple[str, str], List[Tuple[object, float]]]:
    """{(limits, tool): [(lost, wall)...]}, rounds alternated between beds;
    execo's "lost" is "lost+retried"."""
    results: Dict[Tuple[str, str], List[Tuple[object, float]]] = {}
    for _ in range(rounds):
        for limits, bed in beds.items():
            for name, run in tools(bed.connection_params, hosts_of(bed), gateway):
                start = time.perf_counter()
                lost = run()
                if isinstance(lost, tuple):
                    lost = "%d+%d" % lost
                results.setdefault((limits, name), []).append(
                    (lost, time.perf_counter() - start))
    return results


def report(title: str, results: Dict, count: int) -> None:
    print("\n%s (%d hosts; lost: per round; wall: median, s)" % (title, count))
    print("  %-8s %-16s %-16s %8s %10s" % ("limits", "tool", "lost", "wall", "vs raised"))
    for (limits, name), runs in sorted(results.items(), key=lambda item: (item[0][1],
                                                                          item[0][0])):
        wall = statistics.median(w for _, w in runs)
        raised = statistics.median(w for _, w in results[("raised", name)])
        print("  %-8s %-16s %-16s %8.2f %10.2f" % (limits, name,
                                                  ",".join(str(l) for l, _ in runs), wall,
                                                  wall / raised))
    sys.stdout.flush()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--gateway-hosts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print("load average before: %s" % (os.getloadavg(),))
    with LoopbackTestbed(num_hosts=args.hosts, stock_limits=True) as stock, \
            LoopbackTestbed(num_hosts=args.hosts) as raised:
        results = measure({"stock": stock, "raised": raised}, lambda bed: bed.hosts,
                          args.rounds, None)
    report("one sshd", results, args.hosts)
    reason = emulation_unavailable_reason()
    if reason is not None:
        print("\ngateway scene skipped: %s" % reason)
        return 0
    with EmulatedTestbed(num_hosts=args.gateway_hosts, stock_limits=True,
                         gateway=True) as stock, \
            EmulatedTestbed(num_hosts=args.gateway_hosts, gateway=True) as raised:
        results = measure({"stock": stock, "raised": raised}, lambda bed: bed.hosts,
                          args.rounds, "frontend")
    report("through a gateway", results, args.gateway_hosts)
    print("load average after: %s" % (os.getloadavg(),))
    return 0


if __name__ == "__main__":
    sys.exit(main())
