"""``execo`` (or ``python -m execo``): try a command on 50 nodes before
writing the script.

    execo run -w 'node-[1-10]' -b 'uname -r'
    execo put -w 'node-[1-10]' results.csv /tmp/
    execo get -w 'node-[1-10]' /tmp/out.log 'logs/{{{host}}}/'

Each subcommand is one action of the library (`Remote`, `Put`, `Get`, or
their taktuk twins with ``--tool taktuk``), run once; hosts are node sets
(`execo.nodeset`), as they are everywhere in execo. The connection params
are the user's (``~/.execo.conf.py``) with the command line's options over
them. Hosts are checked before anything runs (`execo.cli_hosts`).

Output: each host's lines as they arrive, prefixed with its name, or
gathered by identical output at the end (``-b``, `execo.gather`), or the
action as JSON in the results format (``--json``). stdin is forwarded to
every host when it is not a terminal (`execo.cli_stream`). ``get`` from
several hosts needs ``{{{host}}}`` in its destination (or in each
source's file name): one path for all would keep one host's files and
lose the others'. The exit status is 0
when every host was ok, 1 when any failed (each failure reason is said on
stderr, hosts folded), 2 for a bad command line, 130 when interrupted
(Ctrl-C: the remote commands are killed first).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


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
    run.add_argument("--no-stdin", action="store_true",
                     help="give the remote commands an empty stdin (default when stdin is "
                          "a terminal; otherwise stdin is forwarded to every host)")
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
        "2 bad usage, 130 interrupted.")
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
                         "its own directory (created if missing), and is required with "
                         "several hosts: no host's file may overwrite another's.")
    get.add_argument("paths", nargs="+", metavar="PATH",
                     help="remote files, then the local destination")
    return parser


def _hosts(args: argparse.Namespace) -> List[str]:
    from execo.cli_hosts import hosts_of
    return hosts_of(args.hosts, args.hostfile, args.exclude)


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


def _feedable(action: Any) -> bool:
    """Whether each process of ``action`` has a stdin of ours (taktuk's
    remote commands do not: taktuk holds theirs)."""
    return all(callable(getattr(p, "close_stdin", None)) for p in action.processes)


def _kept_apart(sources: List[str], destination: str) -> bool:
    """Whether the files ``get`` copies from different hosts land on
    different paths: the destination, or each source's file name, holds
    ``{{{host}}}``."""
    return "{{{host}}}" in destination or all(
        "{{{host}}}" in os.path.basename(source.rstrip("/")) for source in sources)


def _is_dev_null(fd: int) -> bool:
    try:
        info, null = os.fstat(fd), os.stat(os.devnull)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (null.st_dev, null.st_ino)


def _make_action(args: argparse.Namespace, hosts: List[str], kwargs: Dict[str, Any],
                 stdin_fd: Optional[int] = None) -> Any:
    from execo.substitution import has_expressions
    for text in getattr(args, "command", None) or args.paths:
        if has_expressions(text):  # a template is code: Python run here
            raise _UsageError("%r: only {{{host}}} is replaced on the command line; "
                              "{{expression}} is Python, which only scripts may run" % (text,))
    if args.subcommand == "run":
        command = " ".join(args.command)
        action = _action_class(args, "remote")(command, hosts, **kwargs)
        if _feedable(action):
            return action
        if stdin_fd is not None and not _is_dev_null(stdin_fd):
            raise _UsageError("stdin cannot be forwarded through taktuk: use --tool ssh, "
                              "or --no-stdin")
        # the remote commands must not wait on a stdin nobody feeds
        return _action_class(args, "remote")("{ %s\n} </dev/null" % (command,), hosts,
                                             **kwargs)
    if len(args.paths) < 2:
        raise _UsageError("%s needs at least one source and a destination" % args.subcommand)
    sources, destination = args.paths[:-1], args.paths[-1]
    if args.subcommand == "get" and len(hosts) > 1 and not _kept_apart(sources, destination):
        raise _UsageError(
            "get: %d hosts would copy into the one destination %r, and each host's files "
            "would overwrite the previous host's; put {{{host}}} in it to keep each host's "
            "apart, e.g. %r" % (len(hosts), destination,
                                os.path.join(destination, "{{{host}}}", "")))
    if args.subcommand == "get" and "{{{host}}}" in destination:
        for host in hosts:
            os.makedirs(destination.replace("{{{host}}}", host), exist_ok=True)
    return _action_class(args, args.subcommand)(hosts, sources, destination, **kwargs)


class _UsageError(Exception):
    pass


def _print_gathered(action: Any) -> None:
    """stdout gathered on stdout, stderr gathered on stderr; failures below."""
    from execo.gather import Gathered, gather
    for stream, out in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        groups = [(n, o) for n, o in gather(action, stream) if o or stream == "stdout"]
        if groups:
            out.write("%s\n" % (Gathered(groups),))
            out.flush()


def _failure_groups(action: Any, copies: bool) -> List[Any]:
    """``[(hosts folded, count, reason)]``, the largest group first. A
    copy's bare ``exit 1`` says nothing: scp's own words (``No such file or
    directory``) are added to it."""
    from execo.gather import failure_reason, result_fields
    from execo.nodeset import fold_hosts
    by_reason: Dict[str, List[str]] = {}
    for process in action.processes:
        if process.ok:
            continue
        fields = result_fields(process)
        reason = failure_reason(process) or "failed"
        said = [line.strip() for line in fields.stderr.splitlines() if line.strip()]
        if copies and said and reason.startswith("exit "):
            # scp's cause comes first ("dest open ...: No such file or
            # directory"), then a summary ("failed to upload file ...")
            reason = "%s: %s" % (reason, "; ".join(dict.fromkeys(said)))
        by_reason.setdefault(reason, []).append(fields.host)
    groups = sorted(by_reason.items(), key=lambda item: -len(item[1]))
    return [(fold_hosts(hosts), len(hosts), reason) for reason, hosts in groups]


def _report_failures(action: Any, copies: bool) -> None:
    if action.processes and not copies:
        from execo.gather import gather
        from execo.nodeset import count_hosts
        groups = [(nodes, count_hosts(nodes), reason)
                  for nodes, reason in gather(action).failures]
    else:
        groups = _failure_groups(action, copies)
    for nodes, count, reason in groups:
        sys.stderr.write("execo: %s (%d): %s\n" % (nodes, count, reason))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``execo`` command; returns its exit status (a bad command line
    raises SystemExit(2), as argparse does). Called from python, ``run``
    forwards the interpreter's stdin as the command does, unless it is a
    terminal: give ``--no-stdin`` where that stdin is not for the hosts.

    >>> main(["run", "-w", "node-[1-2]", "--json", "true"])  # doctest: +SKIP
    """
    parser = _parser()
    args = parser.parse_args(argv)
    from execo.config import configuration
    log_level = configuration["log_level"]
    if not args.verbose:
        configuration["log_level"] = logging.ERROR
    started: List[Any] = []
    try:
        return _run(parser, args, started)
    except KeyboardInterrupt:
        return _interrupted(started)
    finally:  # main() may be called from a python session too
        configuration["log_level"] = log_level


def _interrupted(started: List[Any]) -> int:
    """Ctrl-C: every remote command killed, one line said, 130. A second
    Ctrl-C during the clean-up is ignored (it would leave hosts running and
    print a traceback)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # main() called from a thread other than the main one
        previous = None
    try:
        killed = 0
        for action in started:
            killed = sum(1 for p in action.processes if p.running)
            action.kill().wait(timeout=10)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    sys.stdout.flush()
    sys.stderr.write("execo: interrupted%s\n" % (
        ", %d running host%s killed" % (killed, "s" if killed != 1 else "") if killed else ""))
    return EXIT_INTERRUPTED


def _stdin_fd(args: argparse.Namespace) -> Optional[int]:
    """The fd the remote commands read from: our stdin when it is no
    terminal, else None (they get an empty stdin)."""
    if args.subcommand != "run" or args.no_stdin or sys.stdin is None:
        return None
    try:
        fd = sys.stdin.fileno()
        return None if os.isatty(fd) else fd
    except (OSError, ValueError, AttributeError):  # fd 0 closed, or no real file (pytest)
        return None


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, started: List[Any]) -> int:
    from execo.cli_hosts import HostsError
    from execo.cli_stream import LinePrinter, StdinFeeder
    from execo.exception import ExecoError
    streamed = args.subcommand == "run" and not (args.json or args.gather)
    printer = LinePrinter() if streamed else None
    try:
        hosts = _hosts(args)
        if not hosts:
            raise _UsageError("no host: give some with -w NODESET or -f FILE")
        kwargs = _action_kwargs(args, _connection_params(args))
        if printer is not None:
            kwargs.update(stdout_handlers=[printer], stderr_handlers=[printer],
                          lifecycle_handlers=[printer])
        stdin_fd = _stdin_fd(args)
        action = _make_action(args, hosts, kwargs, stdin_fd)
    except (_UsageError, HostsError, ExecoError, ValueError, OSError) as exc:
        parser.error(str(exc))
    feeder = StdinFeeder()
    for process in action.processes:
        process.lifecycle_handlers.append(feeder)
        if stdin_fd is not None:  # a command that ends without reading it all is no failure
            process.ignore_write_error = process.nolog_write_error = True
    if stdin_fd is not None and _feedable(action):
        feeder.read_from(stdin_fd)
    started.append(action)
    action.start()
    if printer is not None:
        printer.print_until_end(sys.stdout, sys.stderr)
    action.wait()
    if args.json:
        sys.stdout.write(action.to_json() + "\n")
    elif args.gather:
        _print_gathered(action)
    sys.stdout.flush()
    _report_failures(action, copies=args.subcommand != "run")
    return EXIT_OK if action.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
