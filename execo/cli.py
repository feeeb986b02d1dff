"""``execo`` (or ``python -m execo``): try a command on 50 nodes before
writing the script.

    execo run -w 'node-[1-10]' -b 'uname -r'
    execo put -w 'node-[1-10]' results.csv /tmp/
    execo get -w 'node-[1-10]' /tmp/out.log 'logs/{{{host}}}/'

Each subcommand is one action of the library (`Remote`, `Put`, `Get`, or
their taktuk twins with ``--tool taktuk``), run once; hosts are node sets
(`execo.nodeset`), as they are everywhere in execo. The connection params
are the user's (``~/.execo.conf.py``) with the command line's options over
them. Output: each host's lines prefixed with its name, or gathered by
identical output (``-b``, `execo.gather`), or the action as JSON in the
results format (``--json``). The exit status is 0 when every host was ok,
1 when any failed (each failure reason is said on stderr, hosts folded),
2 for a bad command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    hosts = common.add_argument_group("hosts")
    hosts.add_argument("-w", "--hosts", action="append", default=[], metavar="NODESET",
                       help="hosts, in node-set notation (node-[1-10],host1); repeatable")
    hosts.add_argument("-f", "--hostfile", action="append", default=[], metavar="FILE",
                       help="a file of hosts, one a line (an OAR node file...); repeatable")
    hosts.add_argument("-x", "--exclude", action="append", default=[], metavar="NODESET",
                       help="hosts to leave out")
    conn = common.add_argument_group("connection")
    conn.add_argument("-l", "--user", help="remote login")
    conn.add_argument("-p", "--port", type=int, help="ssh port")
    conn.add_argument("-i", "--keyfile", help="ssh private key")
    conn.add_argument("-F", "--ssh-config", metavar="FILE",
                      help="ssh client configuration file (ssh -F)")
    conn.add_argument("-o", "--ssh-option", action="append", default=[], metavar="OPTION",
                      help="an ssh option (-o 'ConnectTimeout=5'); repeatable")
    conn.add_argument("--tool", choices=("ssh", "taktuk"),
                      help="transport (default: configuration['remote_tool'] and "
                           "'fileput_tool'/'fileget_tool')")
    run = common.add_argument_group("running")
    run.add_argument("-t", "--timeout", type=float, metavar="SECONDS",
                     help="kill each host's process after SECONDS")
    run.add_argument("--fanout", type=int, metavar="N",
                     help="at most N hosts at once (the library's fan-out limit)")
    run.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: when stderr is a terminal)")
    run.add_argument("--no-progress", dest="progress", action="store_false")
    out = common.add_argument_group("output")
    out.add_argument("-b", "--gather", action="store_true",
                     help="gather identical outputs, hosts folded (as clubak -b)")
    out.add_argument("--json", action="store_true",
                     help="print the action's results as JSON (execo's results format)")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="let execo log each failed process")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="execo", description="Run a command on many hosts, or copy files to or from "
        "them, with execo.", epilog="Exit status: 0 all hosts ok, 1 a host failed, "
        "2 bad usage.")
    sub = parser.add_subparsers(dest="subcommand", metavar="{run,put,get}")
    sub.required = True
    run = sub.add_parser("run", parents=[common], help="run a command on every host",
                         description="Run COMMAND on every host (a shell command line; "
                         "{{{host}}} is replaced by each host's name).")
    run.add_argument("command", nargs="+", metavar="COMMAND")
    put = sub.add_parser("put", parents=[common], help="copy local files to every host")
    put.add_argument("paths", nargs="+", metavar="PATH",
                     help="local files, then the remote destination")
    get = sub.add_parser("get", parents=[common], help="copy files of every host here",
                         description="Copy remote files of every host to a local "
                         "destination; a destination holding {{{host}}} gives each host "
                         "its own directory (created if missing).")
    get.add_argument("paths", nargs="+", metavar="PATH",
                     help="remote files, then the local destination")
    return parser


def _hosts(args: argparse.Namespace) -> List[str]:
    from execo.host import get_hosts_list
    names: List[str] = [h.address for spec in args.hosts for h in get_hosts_list(spec)]
    for path in args.hostfile:
        with open(path) as hostfile:
            names += [line.strip() for line in hostfile
                      if line.strip() and not line.lstrip().startswith("#")]
    excluded = {h.address for spec in args.exclude for h in get_hosts_list(spec)}
    return list(dict.fromkeys(n for n in names if n not in excluded))


def _connection_params(args: argparse.Namespace) -> Dict[str, Any]:
    from execo.config import default_connection_params
    params: Dict[str, Any] = {}
    for key in ("user", "port", "keyfile"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    extra: List[str] = []
    if args.ssh_config:
        extra += ["-F", args.ssh_config]
    for option in args.ssh_option:
        extra += ["-o", option]
    if extra:
        for key in ("ssh_options", "scp_options", "taktuk_connector_options"):
            params[key] = tuple(extra) + tuple(default_connection_params[key])
    return params


def _action_kwargs(args: argparse.Namespace, params: Dict[str, Any]) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {"connection_params": params, "progress": args.progress}
    if args.timeout is not None:
        kwargs["timeout"] = args.timeout
    if args.fanout is not None:
        kwargs["fanout"] = args.fanout
    return kwargs


_TOOLS = {  # --tool: the transport of each role
    "ssh": {"remote": "ssh", "put": "scp", "get": "scp"},
    "taktuk": {"remote": "taktuk", "put": "taktuk", "get": "taktuk"},
}
_CONFIG_KEYS = {"remote": "remote_tool", "put": "fileput_tool", "get": "fileget_tool"}


def _action_class(args: argparse.Namespace, role: str) -> Any:
    import execo  # noqa: F401  (every transport registers itself)
    from execo.config import configuration
    from execo.transports import transport_for
    tool = _TOOLS[args.tool][role] if args.tool else configuration[_CONFIG_KEYS[role]]
    return transport_for(tool, role)


def _make_action(args: argparse.Namespace, hosts: List[str], kwargs: Dict[str, Any]) -> Any:
    from execo.substitution import has_expressions
    for text in getattr(args, "command", None) or args.paths:
        if has_expressions(text):  # a template is code: Python run here
            raise _UsageError("%r: only {{{host}}} is replaced on the command line; "
                              "{{expression}} is Python, which only scripts may run" % (text,))
    if args.subcommand == "run":
        return _action_class(args, "remote")(" ".join(args.command), hosts, **kwargs)
    if len(args.paths) < 2:
        raise _UsageError("%s needs at least one source and a destination" % args.subcommand)
    sources, destination = args.paths[:-1], args.paths[-1]
    if args.subcommand == "get" and "{{{host}}}" in destination:
        for host in hosts:
            os.makedirs(destination.replace("{{{host}}}", host), exist_ok=True)
    return _action_class(args, args.subcommand)(hosts, sources, destination, **kwargs)


class _UsageError(Exception):
    pass


def _print_lines(action: Any) -> None:
    for process in action.processes:
        host = getattr(getattr(process, "host", None), "address", "localhost")
        for text, stream in ((process.stdout, sys.stdout), (process.stderr, sys.stderr)):
            for line in str(text).splitlines():
                stream.write("%s: %s\n" % (host, line))


def _print_gathered(action: Any) -> None:
    """stdout gathered on stdout, stderr gathered on stderr; failures below."""
    from execo.gather import Gathered, gather
    for stream, out in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        groups = [(n, o) for n, o in gather(action, stream) if o or stream == "stdout"]
        if groups:
            out.write("%s\n" % (Gathered(groups),))
            out.flush()


def _report_failures(gathered: Any) -> None:
    from execo.nodeset import count_hosts
    for nodes, reason in gathered.failures:
        sys.stderr.write("execo: %s (%d): %s\n" % (nodes, count_hosts(nodes), reason))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``execo`` command; returns its exit status (a bad command line
    raises SystemExit(2), as argparse does).

    >>> main(["run", "-w", "node-[1-2]", "--json", "true"])  # doctest: +SKIP
    """
    parser = _parser()
    args = parser.parse_args(argv)
    from execo.config import configuration
    log_level = configuration["log_level"]
    if not args.verbose:
        configuration["log_level"] = logging.ERROR
    try:
        return _run(parser, args)
    finally:  # main() may be called from a python session too
        configuration["log_level"] = log_level


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from execo.exception import ExecoError
    from execo.gather import gather
    try:
        hosts = _hosts(args)
        if not hosts:
            raise _UsageError("no host: give some with -w NODESET or -f FILE")
        action = _make_action(args, hosts, _action_kwargs(args, _connection_params(args)))
    except (_UsageError, ExecoError, ValueError, OSError) as exc:
        parser.error(str(exc))
    action.run()
    gathered = gather(action)
    if args.json:
        sys.stdout.write(action.to_json() + "\n")
    elif args.gather:
        _print_gathered(action)
    elif args.subcommand == "run":
        _print_lines(action)
    sys.stdout.flush()
    _report_failures(gathered)
    return EXIT_OK if action.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
