"""``python -m execo.testbed`` (also installed as ``execo-testbed``): start a
test bed, print how to use it, serve until Ctrl-C, clean up.

An emulated bed (``--emulated``) also takes fault commands while it runs,
one a line, on its stdin or, from another shell, through its control
socket (``python -m execo.testbed --control SOCKET partition node-3``)::

    partition TARGET | heal [TARGET] | freeze TARGET | thaw [TARGET]
    degrade TARGET [rate=R] [delay=D] [loss=L] | restore [TARGET] | status

TARGET is a host, a site or ``frontend``; each command answers one line,
``ok ...`` or ``error: ...``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import socketserver
import sys
import threading
from typing import Any, Optional, Sequence

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


def _emulated_usage(bed: Any, control: str) -> str:
    sites = "\n".join("    %s: %s ... %s (%d hosts, link %s)"
                       % (name, hosts[0], hosts[-1], len(hosts), _describe(bed.link_spec(hosts[0])))
                       for name, hosts in bed.sites.items())
    return """\
An emulated test bed is running: one network namespace and one sshd per host.
Sites (frontend link {frontend}, backbone {backbone}):
{sites}

From a shell:
    ssh -F {cfg} {first} hostname

From python:
    from execo import *
    default_connection_params.update({params!r})
    print(Report([Remote("hostname", {hosts!r}).run()]).to_string())

Faults, typed here or sent with
    python -m execo.testbed --control {control} COMMAND
partition TARGET | heal [TARGET] | freeze TARGET | thaw [TARGET]
degrade TARGET [rate=R] [delay=D] [loss=L] | restore [TARGET] | status
(TARGET: a host, a site, or frontend)

Press Ctrl-C to stop it and remove everything it created.
""".format(frontend=_describe(bed.link_spec("frontend")),
           backbone=_describe(bed.link_spec(bed.topology.sites[0].name)), sites=sites,
           cfg=bed.ssh_config, first=bed.hosts[0], params=bed.connection_params,
           hosts=bed.hosts, control=control)


def _describe(spec: Any) -> str:
    parts = []
    if spec.rate is not None:
        parts.append("%g Mbit/s" % (spec.rate / 1e6))
    if spec.delay:
        parts.append("%g ms one way" % (spec.delay * 1e3))
    if spec.loss:
        parts.append("%g %% loss" % spec.loss)
    return ", ".join(parts) or "unlimited"


def run_fault_command(bed: Any, line: str) -> str:
    """Carry out one fault command on ``bed``; the one-line answer."""
    try:
        words = shlex.split(line)
    except ValueError as error:
        return "error: %s" % error
    if not words:
        return ""
    verb, args = words[0], words[1:]
    try:
        if verb in ("partition", "freeze") and len(args) == 1:
            getattr(bed, verb)(args[0])
        elif verb in ("heal", "thaw", "restore") and len(args) <= 1:
            getattr(bed, verb)(args[0] if args else None)
        elif verb == "degrade" and args:
            settings = dict(arg.split("=", 1) for arg in args[1:] if "=" in arg)
            if len(settings) != len(args) - 1 or set(settings) - {"rate", "delay", "loss"}:
                return "error: degrade TARGET [rate=R] [delay=D] [loss=L]"
            bed.degrade(args[0], **settings)
            return "ok %s: %s" % (args[0], _describe(bed.link_spec(args[0])))
        elif verb == "status" and not args:
            return "ok " + "; ".join("%s %s" % (what, target) for _, what, target in bed.events)
        else:
            return "error: unknown command %r (partition, heal, freeze, thaw, degrade, " \
                   "restore, status)" % line.strip()
    except (KeyError, ValueError) as error:
        return "error: %s" % (error.args[0] if error.args else error)
    return "ok %s" % line.strip()


class _ControlHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for raw in self.rfile:
            answer = run_fault_command(self.server.bed, raw.decode("utf-8", "replace"))
            self.wfile.write((answer + "\n").encode())


class _ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _send_control(path: str, command: Sequence[str]) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall((" ".join(shlex.quote(word) for word in command) + "\n").encode())
        sock.shutdown(socket.SHUT_WR)
        answer = sock.makefile().read()
    sys.stdout.write(answer)
    return 0 if answer.startswith("ok") else 1


def _read_commands(bed: Any, stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() in ("quit", "exit"):
            break
        answer = run_fault_command(bed, line)
        if answer:
            sys.stdout.write(answer + "\n")
            sys.stdout.flush()
    else:
        return  # end of stdin: keep serving until a signal
    stop.set()


def _serve_emulated(args: Any, stop: threading.Event) -> int:
    from execo.testbed.emulated import EmulatedTestbed, TestbedUnavailable

    topology = args.topology
    try:
        bed = EmulatedTestbed(topology, num_hosts=args.num_hosts, num_sites=args.sites,
                              extra_names=args.extra_name, rate=args.rate, delay=args.delay,
                              loss=args.loss, workdir=args.workdir)
        bed.start()
    except (TestbedUnavailable, ValueError) as error:
        sys.stderr.write("execo.testbed: %s\n" % error)
        return 2
    try:
        control = os.path.join(bed.workdir, "control")
        server = _ControlServer(control, _ControlHandler)
        server.bed = bed
        threading.Thread(target=server.serve_forever, daemon=True, name="control").start()
        sys.stdout.write(_emulated_usage(bed, control))
        sys.stdout.flush()
        threading.Thread(target=_read_commands, args=(bed, stop), daemon=True,
                         name="commands").start()
        while not stop.wait(3600):
            pass
        server.shutdown()
        server.server_close()
    finally:
        bed.stop()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m execo.testbed",
        description="Run a test bed until Ctrl-C: a loopback one (a real sshd on 127.0.0.1), "
                    "or with --emulated (root) a cluster of network namespaces.")
    parser.add_argument("-n", "--num-hosts", type=int, default=10,
                        help="number of node-i aliases (default: 10)")
    parser.add_argument("-e", "--extra-name", action="append", default=[],
                        help="another alias name (repeatable)")
    parser.add_argument("-d", "--workdir", help="keep keys and configs in this directory")
    emulated = parser.add_argument_group("emulated cluster (needs root)")
    emulated.add_argument("--emulated", action="store_true",
                          help="one network namespace and sshd per host")
    emulated.add_argument("--sites", type=int, default=1, help="number of sites (default: 1)")
    emulated.add_argument("--rate", help="bandwidth of each host link, e.g. 100mbit")
    emulated.add_argument("--delay", help="one-way latency of each host link, e.g. 5ms")
    emulated.add_argument("--loss", help="packet loss of each host link, in percent")
    emulated.add_argument("--topology", help="a JSON topology file (see doc/testbed.rst)")
    parser.add_argument("--control", nargs=argparse.REMAINDER, metavar="SOCKET COMMAND",
                        help="send a fault command to a running emulated bed")
    args = parser.parse_args(argv)
    if args.control is not None:
        if len(args.control) < 2:
            parser.error("--control SOCKET COMMAND...")
        return _send_control(args.control[0], args.control[1:])
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.emulated or args.topology:
        return _serve_emulated(args, stop)
    with LoopbackTestbed(args.num_hosts, args.extra_name, args.workdir) as testbed:
        sys.stdout.write(_usage(testbed))
        sys.stdout.flush()
        while not stop.wait(3600):
            pass
    return 0
