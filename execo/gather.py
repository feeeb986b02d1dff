"""Gathered output: the 190 identical answers of 200 hosts, shown once.

`gather` groups the processes of an action (live, or loaded from a saved
report, or as plain data: `execo.results`) by identical
output, each group's hosts folded into one node set, as ClusterShell's
``clubak -b`` does; the hosts that failed are grouped by the one-line
reason of their failure. `execo.action.Action.gathered` is its usual door.

Live processes, loaded ones and the dicts of the results format are read
through one function, `result_fields`, so all give the same groups.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

from execo.nodeset import count_hosts, nodeset_of
from execo.process_base import ProcessBase

__all__ = ["Gathered", "failure_reason", "gather", "result_fields"]

STREAMS = ("stdout", "stderr", "both")


def failure_reason(process: Any) -> Optional[str]:
    """The one-line reason a process, live or loaded, is not ok (None when
    it is): a live one's ``failure_reason``, a loaded one's saved
    ``error_reason`` (the same line, see `execo.results`).

    >>> from execo import Process
    >>> failure_reason(Process("exit 3", shell=True, nolog_exit_code=True).run())
    'exit 3'
    """
    if process.ok:
        return None
    if isinstance(process, ProcessBase):
        return process.failure_reason
    return getattr(process, "error_reason", None) or "failed"


class _Fields(NamedTuple):
    host: str  # "localhost" for a local process
    remote: bool
    stdout: str
    stderr: str
    ok: bool
    reason: Optional[str]


def result_fields(process: Any) -> _Fields:
    """What gathering needs of one process, live or a dict of the format."""
    if isinstance(process, Mapping):
        ok = bool(process.get("ok"))
        reason = None if ok else (process.get("error_reason") or "failed")
        return _Fields(process.get("host") or "localhost", bool(process.get("host")),
                       process.get("stdout") or "",
                       process.get("stderr") or "", ok, reason)
    host = getattr(process, "host", None)
    return _Fields("localhost" if host is None else str(getattr(host, "address", host)),
                   host is not None, str(process.stdout), str(process.stderr), bool(process.ok),
                   failure_reason(process))


def _without_host(reason: Optional[str], fields: _Fields) -> Optional[str]:
    """ssh's reasons name their host: without it, 50 refused connections
    are one group."""
    host = fields.host
    if reason is None or not fields.remote:
        return reason
    pattern = r"(?<![\w.-])%s(?![\w-])|'%s'" % (re.escape(host), re.escape(host))
    return re.sub(pattern, "<host>", reason)


def _processes_of(results: Any) -> List[Any]:
    """The processes of an action (live or loaded), of a report, of an
    action's or a report's dict, or of a list of processes or dicts."""
    if isinstance(results, Mapping):
        if "processes" in results:
            return list(results["processes"])
        if "actions" in results:
            return [p for action in results["actions"] for p in _processes_of(action)]
        return [results]
    processes = getattr(results, "processes", None)
    if processes is not None:
        return list(processes)
    if callable(getattr(results, "to_dict", None)):  # a Report
        return _processes_of(results.to_dict())
    return list(results)


def _group(pairs: Iterable[Tuple[str, Any]]) -> List[Tuple[Any, Any]]:
    hosts_by_key: Dict[Any, List[str]] = {}
    for host, key in pairs:
        hosts_by_key.setdefault(key, []).append(host)
    groups = []
    for key, hosts in hosts_by_key.items():
        nodes = nodeset_of(hosts)
        groups.append((nodes if nodes is not None else ",".join(dict.fromkeys(hosts)), key))
    # the largest group first: the common answer, then the odd ones
    groups.sort(key=lambda group: -count_hosts(group[0]))
    return groups


class Gathered(list):
    """``[(node set, output)]``, the largest group first, printable as
    ``clubak -b`` prints; ``failures`` is ``[(node set, reason)]`` for the
    hosts that failed (their output is in the groups too: it often says why).

    Node sets are ClusterShell `NodeSet` objects (``len()``, ``in``,
    iteration over names); a list of names NodeSet cannot hold (IPv6
    literals) is a comma-separated string instead.
    """

    def __init__(self, groups: Iterable[Tuple[Any, str]] = (),
                 failures: Iterable[Tuple[Any, str]] = ()) -> None:
        super().__init__(groups)
        self.failures: List[Tuple[Any, str]] = list(failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        lines: List[str] = []
        for nodes, output in self:
            header = "%s (%d)" % (nodes, count_hosts(nodes))
            rule = "-" * min(max(15, len(header)), 79)
            lines += [rule, header, rule]
            lines.append(output.rstrip("\n") if output.strip() else "(no output)")
        for nodes, reason in self.failures:
            lines.append("failed: %s (%d): %s" % (nodes, count_hosts(nodes), reason))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "Gathered(%s, failures=%r)" % (list.__repr__(self), self.failures)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows it as ``print`` does: each output once, under
        its hosts."""
        printer.text(str(self) if not cycle else "Gathered(...)")

    def to_json(self) -> str:
        return json.dumps({"groups": [[str(n), o] for n, o in self],
                           "failures": [[str(n), r] for n, r in self.failures]},
                          ensure_ascii=True)


def gather(results: Any, stream: str = "stdout") -> Gathered:
    """Group the processes of ``results`` by identical output.

    :param results: an action, a list of processes, or the plain data of
      an action or a report (``to_dict()``, or a report loaded from disk).
    :param stream: ``"stdout"``, ``"stderr"`` or ``"both"`` (stdout then
      stderr).

    >>> from execo import Local
    >>> str(gather(Local("echo hi").run()))
    '---------------\\nlocalhost (1)\\n---------------\\nhi'
    """
    if stream not in STREAMS:
        raise ValueError("stream is one of %s, not %r" % (", ".join(STREAMS), stream))
    fields = [result_fields(p) for p in _processes_of(results)]

    def output(f: _Fields) -> str:
        return f.stdout if stream == "stdout" else f.stderr if stream == "stderr" \
            else f.stdout + f.stderr
    return Gathered(_group((f.host, output(f)) for f in fields),
                    _group((f.host, _without_host(f.reason, f))
                           for f in fields if not f.ok))
