"""Fan-out benchmark: ``true`` on N hosts of a loopback test bed, per tool.

Side by side in one run, on the same sshd and the same ssh client config:
execo (this tree) `Remote`, execo 2.8.2 `Remote`, ClusterShell ``clush``,
``pdsh -R ssh`` and parallel-ssh's ``ParallelSSHClient`` (libssh2, so no
ssh binary and no ssh config: it gets the address, port and key directly).

Each measurement runs in a child process of its own, under GNU time, so
that the peak memory of the tool (``%M``: the largest resident size of
one process of its tree) is its alone. Times are medians of ``--repeat`` runs: "wall" is
the whole child, interpreter start included; "op" is the fan-out alone as
measured inside the child (for the command-line tools, op = wall). Ratios
are to the fastest op time at that N. execo of this tree runs twice: with
its defaults, and with its per-sshd gate told the bed's raised MaxStartups
(the aliases are one sshd standing for many hosts; see `build_tools`).

    python benchmarks/bench_remote.py [--sizes 10,50,200] [--repeat 3]

execo 2.8.2 and parallel-ssh are installed into venvs of their own if
missing (``python3 -m venv`` + ``pip install``), with their paths given by
``--venv282`` and ``--venv-pssh``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from execo.testbed import LoopbackTestbed  # noqa: E402
from execo.testbed.sshd import RAISED_MAX_STARTUPS  # noqa: E402

CHILD_TIMEOUT = 600

# Child programs for the python tools. Each prints "OK <op seconds>" and
# exits 0 only if every host ran the command successfully.
EXECO_CHILD = r"""
import json, os, sys, time
import execo
params = json.loads(os.environ["BENCH_PARAMS"])
if "{controldir}" in os.environ["BENCH_PARAMS"]:  # a cold ControlMaster run
    import tempfile
    fresh = tempfile.mkdtemp(prefix="cm-", dir=os.environ["BENCH_SCRATCH"])
    params["ssh_options"] = [o.replace("{controldir}", fresh) for o in params["ssh_options"]]
hosts = ["node-%d" % i for i in range(1, int(sys.argv[1]) + 1)]
start = time.perf_counter()
remote = execo.Remote("true", hosts, connection_params=params).run()
elapsed = time.perf_counter() - start
if not remote.ok:
    sys.exit(execo.Report([remote]).to_string())
print("OK %f" % elapsed)
"""

EXECO282_CHILD = r"""
import json, os, sys, time
import execo
assert execo.__version__.startswith("2.8"), "not execo 2.8.2: %s" % execo.__file__
from execo.config import default_connection_params
cfg = os.environ["BENCH_SSH_CONFIG"]
params = {"ssh_options": ("-F", cfg) + tuple(default_connection_params["ssh_options"])}
hosts = ["node-%d" % i for i in range(1, int(sys.argv[1]) + 1)]
start = time.perf_counter()
remote = execo.Remote("true", hosts, connection_params=params).run()
elapsed = time.perf_counter() - start
if not remote.ok:
    sys.exit(execo.Report([remote]).to_string())
print("OK %f" % elapsed)
"""

PSSH_CHILD = r"""
import json, os, sys, time
from pssh.clients import ParallelSSHClient
bed = json.loads(os.environ["BENCH_TESTBED"])
count = int(sys.argv[1])
start = time.perf_counter()
client = ParallelSSHClient(["127.0.0.1"] * count, user=bed["user"], port=bed["port"],
                           pkey=bed["keyfile"], pool_size=count, num_retries=1, timeout=60)
output = client.run_command("true")
client.join(output)
elapsed = time.perf_counter() - start
bad = [o for o in output if o.exception is not None or o.exit_code != 0]
if bad:
    sys.exit("parallel-ssh failures: %r" % ([(o.exit_code, o.exception) for o in bad],))
print("OK %f" % elapsed)
"""


def ensure_venv(path: str, requirement: str, module: str) -> str:
    """The python of a venv at ``path`` that can import ``module``,
    creating it with ``requirement`` if needed."""
    python = os.path.join(path, "bin", "python")
    check = [python, "-c", "import %s" % module]
    # cwd "/": from the repository, "import execo" would find this tree
    if os.path.exists(python) and subprocess.run(check, capture_output=True,
                                                 cwd="/").returncode == 0:
        return python
    print("installing %s into %s ..." % (requirement, path), flush=True)
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", requirement], check=True)
    subprocess.run(check, check=True, cwd="/")
    return python


class Tool:
    def __init__(self, name: str, argv_for, env: Optional[Dict[str, str]] = None,
                 reports_op: bool = True) -> None:
        self.name = name
        self.argv_for = argv_for
        self.env = env or {}
        self.reports_op = reports_op


GNU_TIME = "/usr/bin/time"


def run_child(tool: Tool, count: int, scratch: str) -> Tuple[float, float, int]:
    """(wall seconds, op seconds, peak RSS in KiB) of one measurement.

    The peak comes from GNU time (``%M``), not from our own wait4: a child
    forked from this python process inherits its memory high-water mark
    through exec, so only a small launcher gives the tool's true figure.
    """
    env = dict(os.environ, **tool.env)
    rss_file = os.path.join(scratch, "maxrss")
    argv = tool.argv_for(count)
    if os.path.exists(GNU_TIME):
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file] + argv
    start = time.perf_counter()
    try:
        # cwd: the scratch dir, never the repository, where "python -c
        # 'import execo'" would load this tree whatever the interpreter
        child = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               cwd=scratch, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError("%s on %d hosts: no end within %ss" % (tool.name, count,
                                                                   CHILD_TIMEOUT)) from None
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError("%s on %d hosts failed (exit %s):\n%s\n%s" % (
            tool.name, count, child.returncode, child.stdout.decode(errors="replace")[-2000:],
            child.stderr.decode(errors="replace")[-2000:]))
    peak = -1
    if os.path.exists(rss_file):
        with open(rss_file) as rss:
            peak = int(rss.read().split()[-1])
    op = wall
    if tool.reports_op:
        line = [l for l in child.stdout.decode().splitlines() if l.startswith("OK ")][-1]
        op = float(line.split()[1])
    return wall, op, peak


def build_tools(bed: LoopbackTestbed, args: argparse.Namespace) -> List[Tool]:
    tools = []
    params = json.dumps(bed.connection_params)
    nodes = lambda n: "node-[1-%d]" % n  # noqa: E731
    tools.append(Tool("execo (this tree)",
                      lambda n: [sys.executable, "-c", EXECO_CHILD, str(n)],
                      {"BENCH_PARAMS": params, "PYTHONPATH": REPO}))
    # The aliases stand for as many hosts, but they are one sshd, which the
    # per-endpoint gate holds to 8 set-ups at a time (below a stock sshd's
    # MaxStartups). This bed's sshd takes 1000: told so, as a user of such
    # an sshd would tell it, the gate measures what a fan-out to distinct
    # hosts costs, the figure the other tools (which never hold back) give.
    told = dict(bed.connection_params, max_setups_per_endpoint=RAISED_MAX_STARTUPS)
    tools.append(Tool("execo, gate told the sshd's limit",
                      lambda n: [sys.executable, "-c", EXECO_CHILD, str(n)],
                      {"BENCH_PARAMS": json.dumps(told), "PYTHONPATH": REPO}))
    if args.controlmaster:
        # what connection_sharing=True does, but with one master per alias
        # (%n) rather than per address/port/user (%C): on the test bed all
        # aliases are one sshd, and sharing one connection would flatter us.
        for label, directory, persist in (("warm", bed.workdir, 60),
                                          ("cold", "{controldir}", 2)):
            sharing = dict(bed.connection_params, ssh_options=(
                ("-o", "ControlMaster=auto", "-o", "ControlPersist=%d" % persist,
                 "-o", "ControlPath=%s/cm-%%n" % directory)
                + tuple(bed.connection_params['ssh_options'])))
            tools.append(Tool("execo + ControlMaster (%s)" % label,
                              lambda n: [sys.executable, "-c", EXECO_CHILD, str(n)],
                              {"BENCH_PARAMS": json.dumps(sharing), "PYTHONPATH": REPO,
                               "BENCH_SCRATCH": bed.workdir}))
    python282 = ensure_venv(args.venv282, "execo==2.8.2", "execo")
    tools.append(Tool("execo 2.8.2",
                      lambda n: [python282, "-c", EXECO282_CHILD, str(n)],
                      {"BENCH_SSH_CONFIG": bed.ssh_config, "PYTHONPATH": ""}))
    if shutil.which("clush"):
        tools.append(Tool("clush", lambda n: ["clush", "-S", "-f", str(n), "-w", nodes(n),
                                              "-o", "-F %s" % bed.ssh_config, "true"],
                          reports_op=False))
    if shutil.which("pdsh"):
        tools.append(Tool("pdsh -R ssh", lambda n: ["pdsh", "-S", "-R", "ssh", "-f", str(n),
                                                    "-w", nodes(n), "true"],
                          {"PDSH_SSH_ARGS_APPEND": "-F %s" % bed.ssh_config},
                          reports_op=False))
    python_pssh = ensure_venv(args.venv_pssh, "parallel-ssh", "pssh.clients")
    tools.append(Tool("parallel-ssh",
                      lambda n: [python_pssh, "-c", PSSH_CHILD, str(n)],
                      {"BENCH_TESTBED": json.dumps({"user": bed.user, "port": bed.port,
                                                    "keyfile": bed.keyfile}),
                       "PYTHONPATH": ""}))
    return tools


KEX_MODES = {"default": {}, "curve25519": {"KexAlgorithms": "curve25519-sha256"}}
KEX_DESCRIPTIONS = {
    "default": "each tool's own (OpenSSH 9: sntrup761x25519, libssh2: curve25519)",
    "curve25519": "curve25519-sha256 for every tool (ssh config pinned)",
}


def measure(tools: List[Tool], count: int, repeat: int, scratch: str,
            mode: str) -> List[Dict]:
    rows = []
    for tool in tools:
        if "warm" in tool.name:
            run_child(tool, count, scratch)  # opens the masters, not measured
        runs = [run_child(tool, count, scratch) for _ in range(repeat)]
        rows.append((tool.name, statistics.median(r[0] for r in runs),
                     statistics.median(r[1] for r in runs), max(r[2] for r in runs)))
    fastest = min(row[2] for row in rows)
    print("\nN = %d hosts" % count)
    print("  %-30s %9s %9s %8s %12s" % ("tool", "op (s)", "wall (s)", "op/best",
                                        "peak RSS MB"))
    results = []
    for name, wall, op, peak in sorted(rows, key=lambda row: row[2]):
        print("  %-30s %9.3f %9.3f %8.2f %12.1f" % (name, op, wall, op / fastest,
                                                      peak / 1024.0))
        results.append({"kex": mode, "n": count, "tool": name, "op": op, "wall": wall,
                        "ratio": op / fastest, "peak_rss_kib": peak})
    sys.stdout.flush()
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--venv282", default="/tmp/venv282")
    parser.add_argument("--venv-pssh", default="/tmp/venv-pssh")
    parser.add_argument("--controlmaster", action="store_true",
                        help="also measure execo with ssh ControlMaster connection "
                             "sharing: cold (masters opened by the measured run) and warm "
                             "(masters kept from a previous run)")
    parser.add_argument("--kex", choices=["default", "curve25519", "both"], default="both",
                        help="key exchange: each tool's default, pinned to what libssh2 "
                             "(parallel-ssh) uses, or both in turn (default)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    modes = ["default", "curve25519"] if args.kex == "both" else [args.kex]
    for mode in modes:
        client_options = KEX_MODES[mode]
        with LoopbackTestbed(num_hosts=max(sizes), client_options=client_options) as bed:
            tools = build_tools(bed, args)
            print("\n=== kex: %s; loopback sshd on 127.0.0.1:%d, %d cpus, median of %d"
                  % (KEX_DESCRIPTIONS[mode], bed.port, os.cpu_count(), args.repeat))
            for count in sizes:
                results += measure(tools, count, args.repeat, bed.workdir, mode)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
