#!/usr/bin/env python3
"""A stand-in for Grid5000's ``kavlan`` and ``g5k-subnets`` frontend tools,
which cannot exist outside Grid5000 (they read OAR's kavlan and subnet
resources, which this OAR test bed does not have).

Installed in a directory put first on the frontend's PATH, under both
names (``make_tools``), it is run by execo exactly where the real tools
run: on a frontend alias, through ssh, as the job's owner. Like them it
asks the real OAR whether the job runs (``oarstat -s -j``) and prints,
in their documented formats:

- ``kavlan -V -j JOB``: the job's VLAN ids, one a line; exit 1 with a
  message on stderr for a job without VLAN;
- ``g5k-subnets -i -m -j JOB``: one line per address of the job's
  subnets, ``IP<TAB>MAC`` (MACs derived from the IP, as the site's DHCP
  plan does);
- ``g5k-subnets -a -j JOB``: one line, tab-separated: ip prefix,
  broadcast, netmask, gateway, network, DNS host name, DNS IP.

What OAR would have reserved for the job is read from
``<state-dir>/<job id>.json``, else ``<state-dir>/default.json``:
``{"kavlan": [4], "subnets": ["10.158.4.0/22"]}``, written by the test.
"""

import ipaddress
import json
import os
import subprocess
import sys

TOOLS = ("kavlan", "g5k-subnets")


def make_tools(bin_dir: str, state_dir: str) -> None:
    """Put ``kavlan`` and ``g5k-subnets`` in ``bin_dir``, both running this
    file with ``state_dir``; readable by every user."""
    for tool in TOOLS:
        path = os.path.join(bin_dir, tool)
        with open(path, "w") as script:
            # the system's python3: the frontend user may not reach ours
            script.write("#!/bin/sh\nexec /usr/bin/python3 %s --tool %s --state-dir %s \"$@\"\n"
                         % (os.path.abspath(__file__), tool, state_dir))
        os.chmod(path, 0o755)


def _option(args, flag):
    return args[args.index(flag) + 1] if flag in args else None


def _fail(message):
    sys.stderr.write(message + "\n")
    return 1


def main(argv):
    tool = _option(argv, "--tool")
    state_dir = _option(argv, "--state-dir")
    job = _option(argv, "-j")
    if job is None or not job.isdigit():
        return _fail("%s: give the job with -j JOB" % (tool,))
    state = subprocess.run(["oarstat", "-s", "-j", job], capture_output=True, text=True)
    if "Running" not in state.stdout:
        return _fail("%s: job %s is not running" % (tool, job))
    resources = {}
    for name in ("%s.json" % job, "default.json"):
        try:
            with open(os.path.join(state_dir, name)) as reserved:
                resources = json.load(reserved)
            break
        except FileNotFoundError:
            continue
    if tool == "kavlan":
        if "-V" not in argv:
            return _fail("kavlan: only -V is played here")
        if not resources.get("kavlan"):
            return _fail("kavlan: no vlan reserved by job %s" % (job,))
        print("\n".join(str(vlan) for vlan in resources["kavlan"]))
        return 0
    subnets = [ipaddress.IPv4Network(s) for s in resources.get("subnets", [])]
    if "-a" in argv:
        if subnets:
            first = subnets[0]
            print("\t".join([str(first), str(first.broadcast_address), str(first.netmask),
                             str(first.network_address + 254 if first.prefixlen < 24
                                 else first.broadcast_address - 1),
                             str(first.network_address), "dns.standin.grid5000.fr",
                             "172.16.0.53"]))
        return 0
    if "-i" in argv:
        for subnet in subnets:
            for address in subnet:
                mac = "00:16:3e:%02x:%02x:%02x" % tuple(address.packed[1:])
                print("%s\t%s" % (address, mac) if "-m" in argv else address)
        return 0
    return _fail("g5k-subnets: give -i [-m] or -a")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
