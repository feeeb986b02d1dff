#!/usr/bin/env python3
"""A stand-in for kadeploy3, which cannot be installed outside Grid5000.

It is a real program run by execo on the test bed's frontend aliases,
through ssh, exactly where kadeploy3 would run, and it keeps kadeploy3's
observable contract: ``-m host`` options in, some chatter, then a final
report in the >= 3.2 format (or the older per-cluster one), exit code 0
when every node was deployed. "Deploying" a node leaves a marker file
that a check command run on the node through ssh can see. Its state
lives in the directory given by ``--state-dir`` (the test's wrapper
script passes it, since ssh does not forward the environment):

- ``calls.jsonl``: one JSON record per run (hosts, environment, argv),
  so that tests see which hosts each run was asked to deploy;
- ``failures.json``: ``{host: n}``: the next n runs fail that host
  (-1: always), with ``{"reasons": {host: text}}`` for the reason shown;
- ``format``: ``old`` for the pre-3.2 report;
- ``markers/<host>``: written for each deployed host, holding the
  environment name;
- ``barrier``: a number n: each run waits (20 s at most) until n runs
  have started, which only happens if they run at the same time.

Runs on several frontends at once share the files: a lock serialises them.
"""

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time


def parse(argv):
    parser = argparse.ArgumentParser(prog="kadeploy3")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("-m", "--machine", action="append", default=[])
    parser.add_argument("-e", "--env-name")
    parser.add_argument("-a", "--env-file")
    parser.add_argument("-u", "--env-user")
    parser.add_argument("--vlan")
    parser.add_argument("-k", "--key", action="store_true")
    parser.add_argument("-d", "--debug-mode", action="store_true")
    return parser.parse_known_args(argv)


@contextlib.contextmanager
def locked(state):
    with open(os.path.join(state, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def load_json(path, default):
    try:
        with open(path) as json_file:
            return json.load(json_file)
    except FileNotFoundError:
        return default


def run(args, other, argv):
    state = args.state_dir
    markers = os.path.join(state, "markers")
    os.makedirs(markers, exist_ok=True)
    environment = args.env_name or args.env_file
    with locked(state):
        with open(os.path.join(state, "calls.jsonl"), "a") as log:
            log.write(json.dumps({"hosts": args.machine, "env": environment, "user": args.env_user,
                                  "vlan": args.vlan, "other": other, "argv": argv}) + "\n")
    in_time = wait_barrier(state)
    with locked(state):
        failures_path = os.path.join(state, "failures.json")
        failures = load_json(failures_path, {})
        reasons = failures.get("reasons", {})
        if not in_time:
            print("barrier: the other runs did not start within 20 s")
        deployed, failed = [], []
        for host in args.machine:
            remaining = failures.get(host, 0)
            if remaining or not in_time:
                failed.append(host)
                if remaining > 0:
                    failures[host] = remaining - 1
            else:
                deployed.append(host)
                with open(os.path.join(markers, host), "w") as marker:
                    marker.write("%s\n" % environment)
        with open(failures_path, "w") as failures_file:
            json.dump(failures, failures_file)
        try:
            with open(os.path.join(state, "format")) as format_file:
                old_format = format_file.read().strip() == "old"
        except FileNotFoundError:
            old_format = False
    print("Deployment #D-0000 started")
    print("Grab the key file /root/.ssh/authorized_keys")
    print("Launching a deployment on %s" % ",".join(args.machine))
    if old_format:
        report_old(deployed, failed, reasons)
    else:
        report_new(deployed, failed, reasons)
    sys.stdout.flush()
    return 1 if failed else 0


def wait_barrier(state):
    try:
        with open(os.path.join(state, "barrier")) as barrier:
            parties = int(barrier.read())
    except FileNotFoundError:
        return True
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(os.path.join(state, "calls.jsonl")) as log:
            if sum(1 for _ in log) >= parties:
                return True
        time.sleep(0.02)
    return False


def failed_line(host, reasons):
    return "%s (%s)" % (host, reasons[host]) if host in reasons else host


def report_new(deployed, failed, reasons):
    print("Deployment #D-0000 done")
    if deployed:
        print("")
        print("The deployment is successful on nodes")
        for host in deployed:
            print(host)
    if failed:
        print("")
        print("The deployment failed on nodes")
        for host in failed:
            print(failed_line(host, reasons))


def report_old(deployed, failed, reasons):
    clusters = {}
    for host in deployed + failed:
        clusters.setdefault(host.split("-")[0], []).append(host)
    for cluster, hosts in clusters.items():
        ok = [h for h in hosts if h in deployed]
        ko = [h for h in hosts if h in failed]
        if ok:
            print("Nodes correctly deployed on cluster %s" % cluster)
            for host in ok:
                print(host)
        if ko:
            print("Nodes not correctly deployed on cluster %s" % cluster)
            for host in ko:
                print(failed_line(host, reasons))
    print("Summary: %d deployed, %d failed" % (len(deployed), len(failed)))


def main(argv):
    args, other = parse(argv)
    return run(args, other, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
