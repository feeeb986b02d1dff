"""``python -m execo.testbed`` (also installed as ``execo-testbed``): start a
test bed, print how to use it, serve until Ctrl-C, clean up."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional, Sequence

from execo.testbed.loopback import LoopbackTestbed

__all__ = ["main"]


def _usage(testbed: LoopbackTestbed) -> str:
    return """\
A loopback ssh test bed is running: sshd on 127.0.0.1 port {port}, pid {pid}.
Hosts: {first} ... {last} ({count} aliases), all this machine, user {user}.

From a shell:
    ssh -F {cfg} node-1 hostname

From python (the connection params make execo use that ssh config):
    from execo import *
    params = {{
        'ssh_options': {ssh!r},
        'scp_options': {scp!r},
        'taktuk_connector_options': {taktuk!r},
    }}
    default_connection_params.update(params)
    hosts = ["node-%d" % i for i in range(1, {count_nodes} + 1)]
    print(Report([Remote("hostname", hosts).run()]).to_string())

Press Ctrl-C to stop it and remove its files.
""".format(port=testbed.port, pid=testbed.sshd_pid, first=testbed.hosts[0],
           last=testbed.hosts[-1], count=len(testbed.hosts), user=testbed.user,
           cfg=testbed.ssh_config, ssh=testbed.connection_params['ssh_options'],
           scp=testbed.connection_params['scp_options'],
           taktuk=testbed.connection_params['taktuk_connector_options'],
           count_nodes=sum(1 for h in testbed.hosts if h.startswith("node-")))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m execo.testbed",
        description="Run a loopback ssh test bed (a real sshd on 127.0.0.1) until Ctrl-C.")
    parser.add_argument("-n", "--num-hosts", type=int, default=10,
                        help="number of node-i aliases (default: 10)")
    parser.add_argument("-e", "--extra-name", action="append", default=[],
                        help="another alias name (repeatable)")
    parser.add_argument("-d", "--workdir", help="keep keys and configs in this directory")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LoopbackTestbed(args.num_hosts, args.extra_name, args.workdir) as testbed:
        sys.stdout.write(_usage(testbed))
        sys.stdout.flush()
        while not stop.wait(3600):
            pass
    return 0
