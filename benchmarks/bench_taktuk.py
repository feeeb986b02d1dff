#!/usr/bin/env python3
"""TaktukRemote against the raw taktuk command line and ssh Remote; ChainPut against Put.

Runs standalone on its own loopback test bed (a real sshd on 127.0.0.1):

    python benchmarks/bench_taktuk.py [--hosts 200] [--rounds 3] [--mib 200] [--copies 10]

Fan-out: ``true`` on N aliases, three ways, rounds interleaved so that a
noisy machine hurts all of them alike; the median is kept. The raw taktuk
line is the one a user would type (same connector, same taktuk options,
``broadcast exec [ true ]``); the goal is TaktukRemote <= 1.2x raw taktuk.
Copy: one file of the given size to a few hosts, ChainPut and Put (scp),
each host into its own directory.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from execo import Put, Remote  # noqa: E402
from execo.chainput import ChainPut  # noqa: E402
from execo.connection import resolve_connection_params  # noqa: E402
from execo.taktuk import TaktukRemote  # noqa: E402
from execo.argv import option_words  # noqa: E402
from execo.taktuk.driver import connector_command  # noqa: E402
from execo.testbed import LoopbackTestbed  # noqa: E402


def raw_taktuk_argv(hosts):
    params = resolve_connection_params(None)
    argv = option_words(params['taktuk']) + option_words(params['taktuk_options'])
    argv += ["-c", connector_command(params, None, None)]
    for host in hosts:
        argv += ["-m", host]
    return argv + ["broadcast", "exec", "[", "true", "]"]


def time_raw_taktuk(hosts):
    start = time.monotonic()
    result = subprocess.run(raw_taktuk_argv(hosts), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
    elapsed = time.monotonic() - start
    statuses = result.stdout.count("status > Exited with status 0")
    if statuses != len(hosts):
        raise RuntimeError("raw taktuk: %d/%d hosts ran: %s" % (statuses, len(hosts),
                                                                result.stderr[-500:]))
    return elapsed


def time_action(factory):
    start = time.monotonic()
    action = factory().run()
    elapsed = time.monotonic() - start
    if not action.ok:
        bad = [p for p in action.processes if not p.ok][:3]
        raise RuntimeError("%s not ok: %s" % (action.name, [p.dump() for p in bad]))
    return elapsed


def fan_out(hosts, rounds):
    timings = {"raw taktuk": [], "TaktukRemote": [], "ssh Remote": []}
    for _ in range(rounds):
        timings["raw taktuk"].append(time_raw_taktuk(hosts))
        timings["TaktukRemote"].append(time_action(lambda: TaktukRemote("true", hosts)))
        timings["ssh Remote"].append(time_action(lambda: Remote("true", hosts)))
    return {name: statistics.median(values) for name, values in timings.items()}


def copies(testbed, mib, count, rounds):
    workdir = tempfile.mkdtemp(prefix="execo-bench-copy-")
    try:
        source = os.path.join(workdir, "payload.bin")
        with open(source, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        hosts = testbed.hosts[:count]
        timings = {"ChainPut": [], "Put (scp)": []}
        for _ in range(rounds):
            for name, cls in (("ChainPut", ChainPut), ("Put (scp)", Put)):
                target = os.path.join(workdir, name.split()[0])
                for host in hosts:
                    os.makedirs(os.path.join(target, host), exist_ok=True)
                timings[name].append(time_action(
                    lambda: cls(hosts, [source], os.path.join(target, "{{{host}}}"))))
                shutil.rmtree(target)
        return {name: statistics.median(values) for name, values in timings.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--copy-rounds", type=int, default=1)
    args = parser.parse_args()
    with LoopbackTestbed(num_hosts=max(args.hosts, args.copies)) as testbed:
        testbed.install()
        hosts = testbed.hosts[:args.hosts]
        fan = fan_out(hosts, args.rounds)
        print("\n`true` on %d aliases (median of %d rounds, %d CPUs, load %.1f)"
              % (args.hosts, args.rounds, os.cpu_count(), os.getloadavg()[0]))
        for name, seconds in fan.items():
            print("  %-14s %7.2fs  %.2fx raw taktuk" % (name, seconds,
                                                        seconds / fan["raw taktuk"]))
        copy = copies(testbed, args.mib, args.copies, args.copy_rounds)
        print("\n%d MiB to %d hosts (median of %d rounds)" % (args.mib, args.copies,
                                                            args.copy_rounds))
        for name, seconds in copy.items():
            print("  %-14s %7.2fs  %.2fx Put" % (name, seconds, seconds / copy["Put (scp)"]))


if __name__ == "__main__":
    main()
