"""Benchmarks on the emulated test bed (root only): where links matter.

1. broadcast: ChainPut against Put of one file to N hosts when the
   source's (the frontend's) link is the bottleneck (kernel shaping only,
   no added latency) and the hosts' links are not. Put sends N copies
   through that link, ChainPut one. Reported: each time over the time of
   a single copy to one host, and Put / ChainPut.
2. fan-out: ``true`` on N hosts at several emulated RTTs between the
   frontend and the hosts (the latency relay), with execo's Remote and
   TaktukRemote, raw parallel ``ssh`` (N ssh processes started at once
   from python), ``clush`` and ``pdsh -R ssh``, all through the same ssh
   client config; and Remote with a warm ssh connection sharing
   (``connection_sharing``). Reported: each time over raw ssh's.

Every figure is the median of ``--repeat`` rounds, tools interleaved
within a round. The python tools (execo, raw ssh) time the operation
inside a fresh child interpreter; clush and pdsh are timed as whole
commands (their start-up included).

    sudo python3 benchmarks/bench_netbed.py [--quick] [--size-mib 200] [--hosts 10]
        [--source-rate 200mbit] [--fanout-hosts 50] [--rtts 0,10,50] [--repeat 5]
        [--skip-broadcast] [--skip-fanout] [--json FILE]

``--quick`` (~10 min on a quiet 2-core machine): Put's ten copies (90 s
a round) in 3 rounds only, the fan-out without clush and pdsh; the rest
still in 5 rounds. (A smaller file would not do: ChainPut's chain is set
up one ssh handshake after the other, ~1 s in all, which weighs on a
short copy.) The last lines printed compare each measured
ratio with the issue's goal (ChainPut <= 1.5x one copy, Put / ChainPut
>= 5, execo Remote <= 1.1x raw ssh at each RTT), with the load average
before and after: on a shared machine, say so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from execo.testbed.emulated import EmulatedTestbed, emulation_unavailable_reason  # noqa: E402

CHILD_TIMEOUT = 900

BROADCAST_CHILD = r"""
import json, logging, os, sys, time
import execo
from execo.log import logger
logger.setLevel(logging.INFO)  # a chain rebuilt after a silent hop says so
params = json.loads(os.environ["BENCH_PARAMS"])
kind, source, destination = sys.argv[1], sys.argv[2], sys.argv[3]
hosts = sys.argv[4:]
action = (execo.ChainPut if kind == "chainput" else execo.Put)(
    hosts, [source], destination + "/{{{host}}}", connection_params=params)
start = time.perf_counter()
action.run()
elapsed = time.perf_counter() - start
if not action.ok:
    sys.exit(execo.Report([action]).to_string())
print("OK %f" % elapsed)
"""

EXECO_CHILD = r"""
import json, os, sys, time
import execo
params = json.loads(os.environ["BENCH_PARAMS"])
kind, hosts = sys.argv[1], sys.argv[2:]
action = (execo.TaktukRemote if kind == "taktuk" else execo.Remote)(
    "true", hosts, connection_params=params)
start = time.perf_counter()
action.run()
elapsed = time.perf_counter() - start
if not action.ok:
    sys.exit(execo.Report([action]).to_string())
print("OK %f" % elapsed)
"""

RAW_SSH_CHILD = r"""
import subprocess, sys, time
import json, os
options = json.loads(os.environ["BENCH_SSH_OPTIONS"])
hosts = sys.argv[1:]
start = time.perf_counter()
# a session of its own for each ssh, as execo gives its children: with the
# kernel's autogroup scheduling, each session is a scheduling group of its
# own, and on a loaded machine 50 ssh in one session get a 50th of the CPU
# share of 50 ssh in 50 sessions (2.5x slower here at load 25)
children = [subprocess.Popen(["ssh"] + options + [host, "true"], stdin=subprocess.DEVNULL,
                             start_new_session=True) for host in hosts]
codes = [child.wait() for child in children]
elapsed = time.perf_counter() - start
if any(codes):
    sys.exit("raw ssh failed: %s" % codes)
print("OK %f" % elapsed)
"""


def run_timed(argv: List[str], env: Dict[str, str]) -> float:
    """The child's own "OK <seconds>" if it prints one, else its wall time."""
    start = time.perf_counter()
    child = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                           env=dict(os.environ, PYTHONPATH=REPO, **env),
                           stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (argv[:4], child.stdout[-2000:],
                                                child.stderr[-2000:]))
    for line in child.stderr.splitlines():
        if "retrying" in line or "WARNING" in line or "ERROR" in line:
            print("    (%s) %s" % (argv[2] if len(argv) > 2 else argv[0], line.strip()[:300]))
    reported = [line for line in child.stdout.splitlines() if line.startswith("OK ")]
    return float(reported[-1].split()[1]) if reported else wall


def table(title: str, header: List[str], rows: List[List[str]]) -> None:
    print("\n" + title)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))


def broadcast(args: argparse.Namespace) -> Dict:
    topology = {"sites": {"site-1": {"hosts": args.hosts}},
                "frontend": {"link": {"rate": args.source_rate}}}
    # in memory: the hosts share this machine's disk, and 2 GiB written
    # by each Put or ChainPut then stalled the next run in writeback (a
    # ChainPut of 200 MiB took 32 and 45 s instead of 11)
    needed = (args.hosts + 2) * args.size_mib << 20
    memory = "/dev/shm"
    in_memory = os.path.isdir(memory) and shutil.disk_usage(memory).free > 2 * needed
    scratch = tempfile.mkdtemp(prefix="bench-netbed-", dir=memory if in_memory else None)
    print("  files in %s" % scratch)
    try:
        source = os.path.join(scratch, "payload")
        with open(source, "wb") as payload:
            for _ in range(args.size_mib):
                payload.write(os.urandom(1 << 20))
        with EmulatedTestbed(topology) as bed:
            env = {"BENCH_PARAMS": json.dumps(bed.connection_params)}
            for host in bed.hosts:
                os.makedirs(os.path.join(scratch, host))
            runs: Dict[str, List[float]] = {"one copy": [], "Put": [], "ChainPut": []}
            for round_number in range(args.repeat):
                for label, kind, hosts in (("one copy", "put", bed.hosts[:1]),
                                           ("Put", "put", bed.hosts),
                                           ("ChainPut", "chainput", bed.hosts)):
                    if label == "Put" and round_number >= args.put_repeat:
                        continue
                    for host in bed.hosts:
                        target = os.path.join(scratch, host, "payload")
                        if os.path.exists(target):
                            os.unlink(target)
                    runs[label].append(run_timed(
                        [sys.executable, "-c", BROADCAST_CHILD, kind, source, scratch] + hosts,
                        env))
                    print("  %s: %.2f s" % (label, runs[label][-1]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {label: statistics.median(times) for label, times in runs.items()}
    rows = [[label, "%.2f" % medians[label], "%.2f" % (medians[label] / medians["one copy"])]
            for label in runs]
    table("broadcast of %d MiB to %d hosts, source link %s (median of %d, Put of %d)"
          % (args.size_mib, args.hosts, args.source_rate, args.repeat,
             min(args.put_repeat, args.repeat)),
          ["", "seconds", "x one copy"], rows)
    print("Put / ChainPut: %.2f" % (medians["Put"] / medians["ChainPut"]))
    return medians


def fanout(args: argparse.Namespace) -> Dict:
    results = {}
    for rtt in [float(value) for value in args.rtts.split(",")]:
        topology = {"sites": {"site-1": {"hosts": args.fanout_hosts,
                                         "link": {"delay": "%gms" % (rtt / 2)}}}}
        with EmulatedTestbed(topology, relay=True) as bed:
            hosts = bed.hosts
            params = bed.connection_params
            sharing = dict(params, connection_sharing=120)
            # every tool gets execo's ssh options (the bed's config, and
            # curve25519 key exchange: OpenSSH 9's default costs ~3x the CPU)
            options = list(params["ssh_options"])
            joined = " ".join(options)
            tools = [
                ("raw ssh", [sys.executable, "-c", RAW_SSH_CHILD] + hosts,
                 {"BENCH_SSH_OPTIONS": json.dumps(options)}),
                ("execo Remote", [sys.executable, "-c", EXECO_CHILD, "remote"] + hosts,
                 {"BENCH_PARAMS": json.dumps(params)}),
                ("execo TaktukRemote", [sys.executable, "-c", EXECO_CHILD, "taktuk"] + hosts,
                 {"BENCH_PARAMS": json.dumps(params)}),
                ("execo Remote, shared conn. (warm)",
                 [sys.executable, "-c", EXECO_CHILD, "remote"] + hosts,
                 {"BENCH_PARAMS": json.dumps(sharing)}),
            ]
            if shutil.which("clush") and not args.quick:
                tools.append(("clush", ["clush", "-S", "-f", str(len(hosts)), "-w",
                                        ",".join(hosts), "-o", joined,
                                        "true"], {}))
            if shutil.which("pdsh") and not args.quick:
                tools.append(("pdsh -R ssh", ["pdsh", "-S", "-R", "ssh", "-f", str(len(hosts)),
                                              "-w", ",".join(hosts), "true"],
                              {"PDSH_SSH_ARGS_APPEND": joined}))
            # opens the shared connections: the warm runs reuse them
            run_timed(tools[3][1], tools[3][2])
            cpu_before = bed.relay_cpu_seconds()
            runs: Dict[str, List[float]] = {name: [] for name, _, _ in tools}
            for round_number in range(args.repeat):
                # each round starts with another tool: no tool always runs
                # just after the same other one (its sockets in TIME_WAIT,
                # its sshds exiting)
                start = round_number % len(tools)
                for name, argv, env in tools[start:] + tools[:start]:
                    runs[name].append(run_timed(argv, env))
            relay_cpu = bed.relay_cpu_seconds() - cpu_before
        medians = {name: statistics.median(times) for name, times in runs.items()}
        raw = medians["raw ssh"]
        table("true on %d hosts, %g ms RTT (median of %d; relay CPU %.2f s for %d runs)"
              % (len(hosts), rtt, args.repeat, relay_cpu, args.repeat * len(tools)),
              ["", "seconds", "x raw ssh"],
              [[name, "%.3f" % value, "%.2f" % (value / raw)] for name, value in medians.items()])
        results[rtt] = medians
    return results


def load_average() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def summary(args: argparse.Namespace, results: Dict[str, Any]) -> None:
    """The issue's goals against this run's medians, one line each."""
    lines = []
    if "broadcast" in results:
        medians = results["broadcast"]
        label = "%d MiB to %d hosts @ %s" % (args.size_mib, args.hosts, args.source_rate)
        chain = medians["ChainPut"] / medians["one copy"]
        spread = medians["Put"] / medians["ChainPut"]
        lines.append("ChainPut / one copy (%s): %.3fx, goal <= 1.5x: %s"
                     % (label, chain, "met" if chain <= 1.5 else "MISSED"))
        lines.append("Put / ChainPut (%s): %.3f, goal >= 5: %s"
                     % (label, spread, "met" if spread >= 5 else "MISSED"))
    for rtt, medians in results.get("fanout", {}).items():
        ratio = medians["execo Remote"] / medians["raw ssh"]
        lines.append("execo Remote / raw ssh, %d hosts @ %g ms RTT: %.3fx, goal <= 1.1x: %s"
                     % (args.fanout_hosts, rtt, ratio, "met" if ratio <= 1.1 else "MISSED"))
    print("\nsummary (medians of %d rounds; load average %s before, %s after)"
          % (args.repeat, results["load before"], results["load after"]))
    for line in lines:
        print("  " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="Put's 10 copies in 3 rounds only, fan-out without clush and pdsh")
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--source-rate", default="200mbit")
    parser.add_argument("--fanout-hosts", type=int, default=50)
    parser.add_argument("--rtts", default="0,10,50", help="ms, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--put-repeat", type=int, default=None,
                        help="rounds of Put to all hosts (default: --repeat; quick: 3)")
    parser.add_argument("--skip-broadcast", action="store_true")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--json", help="also write the medians to this file")
    args = parser.parse_args()
    if args.put_repeat is None:
        args.put_repeat = 3 if args.quick else args.repeat
    reason = emulation_unavailable_reason()
    if reason is not None:
        print("bench_netbed: skipped: %s" % reason)
        return 0
    results: Dict[str, Any] = {"load before": load_average()}
    print("load average before: %s" % results["load before"])
    if not args.skip_broadcast:
        results["broadcast"] = broadcast(args)
    if not args.skip_fanout:
        results["fanout"] = fanout(args)
    results["load after"] = load_average()
    print("load average after: %s" % results["load after"])
    summary(args, results)
    if args.json:
        with open(args.json, "w") as output:
            json.dump(results, output, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
