"""A short tour of execo on a loopback test bed: ``python -m execo.demo``.

It starts a real sshd on 127.0.0.1 with ten host aliases, then does what an
experiment script does on a cluster: run a command everywhere, push a file,
fetch results back, and print a report. Nothing leaves this machine.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

from execo import Get, Process, Put, Remote, Report
from execo.testbed import LoopbackTestbed

__all__ = ["main"]


def main() -> int:
    print("execo demo: a local process")
    uname = Process("uname -sr").run()
    print("  uname -sr ->", uname.stdout().strip())
    with LoopbackTestbed(num_hosts=10) as testbed, tempfile.TemporaryDirectory() as work:
        testbed.install()
        hosts = testbed.hosts
        print("execo demo: loopback test bed with %d hosts: %s ... %s (sshd on 127.0.0.1:%d)"
              % (len(hosts), hosts[0], hosts[-1], testbed.port))
        ranks = list(range(len(hosts)))
        hello = Remote("echo hello from {{{host}}}, rank {{ranks}}", hosts).run()
        for process in hello.processes[:3]:
            print("  %s: %s" % (process.host.address, process.stdout().strip()))
        print("  ... %d hosts answered" % sum(p.finished_ok for p in hello.processes))

        payload = os.path.join(work, "payload.bin")
        with open(payload, "wb") as f:
            f.write(os.urandom(1 << 20))
        remote_dirs = os.path.join(work, "remote", "{{{host}}}")
        mkdir = Remote("mkdir -p " + remote_dirs, hosts).run()
        put = Put(hosts, [payload], remote_dirs).run()
        checksum = Remote("sha256sum %s/payload.bin > %s/sum.txt" % (remote_dirs, remote_dirs),
                          hosts).run()
        results = os.path.join(work, "results", "{{{host}}}")
        for host in hosts:
            os.makedirs(os.path.join(work, "results", host))
        get = Get(hosts, [os.path.join(remote_dirs, "sum.txt")], results).run()
        expected = hashlib.sha256(open(payload, "rb").read()).hexdigest()
        same = sum(open(os.path.join(work, "results", h, "sum.txt")).read().split()[0] == expected
                   for h in hosts)
        print("execo demo: pushed 1 MiB to %d hosts, fetched back %d matching checksums"
              % (len(hosts), same))
        print()
        print(Report([hello, mkdir, put, checksum, get]).to_string())
        ok = all(a.finished_ok for a in (hello, mkdir, put, checksum, get)) and same == len(hosts)
    print("execo demo: %s" % ("everything went fine" if ok else "something FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
