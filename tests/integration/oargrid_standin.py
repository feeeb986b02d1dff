"""A stand-in for oargrid's command-line tools, which can no longer be installed.

oargrid (oargridsub, oargridstat, oargriddel) was Grid5000's multi-site
reservation layer over OAR; it was retired and no distribution ships it.
This script plays its part on the test bed's frontends for execo_g5k's
oargrid functions: it submits REAL OAR jobs (one per cluster alias, each
alias being a frontend of the same OAR here) and prints what the oargrid
tools printed, in their documented formats. Grid jobs are remembered in
``~/.oargrid-standin.json`` of the user running it.

Usage: ``oargrid_standin.py oargridsub|oargridstat|oargriddel ARGS...``
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

STATE = os.path.expanduser("~/.oargrid-standin.json")
KEYS = os.path.expanduser("~/.oargrid-standin-keys")
LIVE = ("Waiting", "Hold", "toLaunch", "toAckReservation", "Launching", "Running",
        "Suspended", "Resuming", "Finishing")


def load():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"next_id": 1, "jobs": {}}


def save(state):
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(STATE + ".tmp", STATE)


def oar_info(job_ids):
    if not job_ids:
        return {}
    out = subprocess.run(["oarstat", "-J"] + [a for i in job_ids for a in ("-fj", str(i))],
                         capture_output=True, text=True).stdout
    return {int(k): v for k, v in json.loads(out).items()} if out.strip() else {}


def date(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def split_clusters(text):
    """``alias:rdef="...":prop="...",alias2:...`` -> [(alias, {key: value})]."""
    result = []
    for match in re.finditer(r'([\w.-]+)((?::\w+="[^"]*")+)(?:,|$)', text):
        result.append((match.group(1), dict(re.findall(r':(\w+)="([^"]*)"', match.group(2)))))
    return result


def oargridsub(argv):
    parser = argparse.ArgumentParser(prog="oargridsub")
    parser.add_argument("-v", action="store_true")
    parser.add_argument("-i")
    parser.add_argument("-s")
    parser.add_argument("-q")
    parser.add_argument("-t")
    parser.add_argument("-w", default="1:00:00")
    parser.add_argument("-d")
    parser.add_argument("clusters")
    args = parser.parse_args(argv)
    state = load()
    grid_id = state["next_id"]
    key = args.i
    if key is None:
        os.makedirs(KEYS, exist_ok=True)
        key = os.path.join(KEYS, "oargrid_ssh_key_%s_%d" % (os.environ.get("USER", "u"), grid_id))
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key],
                       check=True, stdout=subprocess.DEVNULL)
    jobs = []
    for alias, fields in split_clusters(args.clusters):
        cmd = ["oarsub", "-l", "%s,walltime=%s" % (fields.get("rdef", "nodes=1"), args.w),
               "-k", "-i", key]
        if args.s:
            cmd += ["-r", args.s]
        for option, value in (("-q", args.q), ("-d", args.d), ("-p", fields.get("prop")),
                              ("-n", fields.get("name"))):
            if value:
                cmd += [option, value]
        for job_type in filter(None, [args.t, fields.get("type")]):
            for one in job_type.split(","):
                cmd += ["-t", one]
        run = subprocess.run(cmd + ["sleep 31536000"], capture_output=True, text=True)
        match = re.search(r"^OAR_JOB_ID=(\d+)$", run.stdout, re.MULTILINE)
        if run.returncode != 0 or not match:
            print("[OAR_GRIDSUB] [%s] Reservation failed: %s" % (alias, run.stdout + run.stderr))
            if jobs:
                subprocess.run(["oardel"] + [str(j["id"]) for j in jobs],
                               capture_output=True)
            print("[OAR_GRIDSUB] I delete the reservations already done")
            return 1
        jobs.append({"alias": alias, "id": int(match.group(1)), "rdef": fields.get("rdef"),
                     "prop": fields.get("prop", "")})
        print("[OAR_GRIDSUB] [%s] Reservation success on %s : batchId = %s"
              % (alias, alias, match.group(1)))
    now = time.time()
    state["jobs"][str(grid_id)] = {
        "submission": now, "start": args.s or date(now), "walltime": args.w, "key": key,
        "user": os.environ.get("USER", ""), "directory": args.d or "~", "jobs": jobs}
    state["next_id"] = grid_id + 1
    save(state)
    print("[OAR_GRIDSUB] Grid reservation id = %d" % grid_id)
    print("[OAR_GRIDSUB] SSH KEY : %s" % key)
    print("\tYou can use this key to connect directly to your OAR nodes with the oar user.")
    return 0


def print_reservation(grid_id, job, details):
    print("Reservation # %s:" % grid_id)
    if not details:
        return
    print("\tsubmission date : %s" % date(job["submission"]))
    print("\tstart date : %s" % job["start"])
    print("\twalltime : %s" % job["walltime"])
    print("\tuser : %s" % job["user"])
    print("\tinteractive : FALSE")
    print("\tcommand : sleep 31536000")
    print("\tdirectory : %s" % job["directory"])
    print("\tssh private key : %s" % job["key"])
    print("\tclusters with job id :")
    for sub in job["jobs"]:
        print("\t\t%s --> %d (name = %s, resources = %s, properties = %s, queue = default, "
              "environment = , partition = )"
              % (sub["alias"], sub["id"], sub["alias"], sub["rdef"], sub["prop"]))


def oargridstat(argv):
    parser = argparse.ArgumentParser(prog="oargridstat")
    parser.add_argument("-w", action="store_true", help="wait for the jobs to run")
    parser.add_argument("-l", action="store_true", help="list the nodes")
    parser.add_argument("grid_id", nargs="?")
    args = parser.parse_args(argv)
    state = load()
    if args.grid_id is None:
        for grid_id, job in sorted(state["jobs"].items(), key=lambda item: int(item[0])):
            infos = oar_info([sub["id"] for sub in job["jobs"]])
            if any(info.get("state") in LIVE for info in infos.values()):
                print_reservation(grid_id, job, details=False)
        return 0
    job = state["jobs"].get(args.grid_id)
    if job is None:
        print("[OARGRIDSTAT] Cannot find the reservation %s" % args.grid_id, file=sys.stderr)
        return 1
    if not args.l:
        print_reservation(args.grid_id, job, details=True)
        return 0
    ids = [sub["id"] for sub in job["jobs"]]
    deadline = time.time() + 120
    while True:
        infos = oar_info(ids)
        states = [infos.get(i, {}).get("state") for i in ids]
        if not args.w or all(s == "Running" for s in states) or time.time() > deadline \
                or any(s not in LIVE for s in states):
            break
        time.sleep(1)
    for i in ids:
        for node in infos.get(i, {}).get("assigned_network_address", []):
            print(node)
    return 0


def oargriddel(argv):
    state = load()
    status = 0
    for grid_id in argv:
        job = state["jobs"].get(grid_id)
        if job is None:
            print("[OARGRIDDEL] Cannot find the reservation %s" % grid_id, file=sys.stderr)
            status = 1
            continue
        print("[OARGRIDDEL] I am deleting the job %s ..." % grid_id)
        subprocess.run(["oardel"] + [str(sub["id"]) for sub in job["jobs"]],
                       capture_output=True)
        del state["jobs"][grid_id]
    save(state)
    return status


if __name__ == "__main__":
    tools = {"oargridsub": oargridsub, "oargridstat": oargridstat, "oargriddel": oargriddel}
    if len(sys.argv) < 2 or sys.argv[1] not in tools:
        sys.exit(__doc__)
    sys.exit(tools[sys.argv[1]](sys.argv[2:]))
