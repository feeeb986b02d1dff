"""What a failure is, in one table, and failures in one line: what the
log, an action's summary, the stats, a report and saved results say about
a process that is not ok.

Each kind of failure is one row of `KINDS`: the process's flag, its
``ignore_``/``nolog_`` keywords, its stats counter, a report's words for
it, its reason's text, and whether it counts before the process ends.
Every reader goes through this table (`is_ok`, `describe`, `log_failure`,
`counts`; `execo.stats`, `execo.report`, the process keywords): a new kind
is one row, and its flag set where the failure is seen.

A fan-out of hundreds of hosts must not bury the script's output: each
failed process is one log line (where, why, the first line of its
stderr), an action with several failures ends with one line grouping
them by reason, and the full dump (command line, ssh options, outputs)
is logged at DEBUG only. The reason is the same short text everywhere
(``"exit 1"``, ``"killed by SIGTERM"``, ``"timeout after 60 s"``, ``"ssh
could not connect: ..."``), without the host, so that failures can be
grouped by it (`summary`, and ``error_reason`` in saved results).
"""

from __future__ import annotations

import inspect
import logging
import signal
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from execo.log import log_safely, logger, style

__all__ = ["COUNTERS", "INITIAL_FLAGS", "KINDS", "Kind", "SWITCHES", "counts", "describe", "is_ok", "line",
           "log_end", "log_failure", "signal_name", "summary", "where", "with_switches"]


class Kind(NamedTuple):
    """One kind of failure: a row of `KINDS`."""
    name: str  # its keywords are ignore_<name> and nolog_<name>
    flag: str  # the process's attribute that records it
    initial: Any  # the flag's value before a run
    counter: str  # its stats counter (execo.stats)
    label: Tuple[str, str, str]  # a report's words: one, several, the wide column
    happened: Callable[[Any], bool]  # on a process, live or loaded
    reason: Callable[[Any], Optional[str]]  # why, in a few words without the host
    rank: int  # of several, the lowest rank's reason is the one said
    before_end: bool = False  # makes a process not ok while it still runs
    excused: Callable[[Any], bool] = lambda process: False  # forgiven, though it happened
    switches: bool = True  # False: counted and reported, never a failure by itself


def _timeout_reason(process: Any) -> str:
    timeout = getattr(process, "timeout", None)
    return "timeout after %g s" % (timeout,) if timeout is not None else "timeout"


def _exit_reason(process: Any) -> Optional[str]:
    if getattr(process, "exit_signal", None) is not None:
        return "killed by %s" % (signal_name(process.exit_signal),)
    if process.exit_code is not None:
        return "exit %d" % (process.exit_code,)
    return None


# The report shows them in this order; forced kills are counted, and are
# no failure: the kill that forced them is the user's, or a timeout's.
KINDS: Tuple[Kind, ...] = (
    Kind("error", "error", False, "num_errors", ("error", "errors", "errors"),
         lambda p: bool(p.error), lambda p: p._error_summary(), rank=1),
    Kind("timeout", "timeouted", False, "num_timeouts", ("timeout", "timeouts", "timout"),
         lambda p: bool(p.timeouted), _timeout_reason, rank=0),
    Kind("forced_kill", "forced_kill", False, "num_forced_kills",
         ("forced kill", "forced kills", "fkilld"), lambda p: bool(p.forced_kill),
         lambda p: None, rank=9, switches=False),
    # a process killed on purpose is not blamed for its exit code; with an
    # error, the exit code is that error's own
    Kind("exit_code", "exit_code", None, "num_non_zero_exit_codes",
         ("exit!=0", "exit!=0", "exit!0"), lambda p: p.ended and p.exit_code != 0,
         _exit_reason, rank=2, excused=lambda p: p.killed or p.error),
    Kind("expect_fail", "expect_fail", False, "num_expect_fail",
         ("expect fail", "expect fails", "expfld"), lambda p: bool(p.expect_fail),
         lambda p: "expect failed", rank=3, before_end=True),
    Kind("write_error", "write_error", False, "num_write_error",
         ("write error", "write errors", "wrterr"), lambda p: bool(p.write_error),
         lambda p: "write failed", rank=4, before_end=True),
)

_FAILURES = tuple(kind for kind in KINDS if kind.switches)
_BY_RANK = tuple(sorted(_FAILURES, key=lambda kind: kind.rank))
_AT_END = tuple(kind for kind in _FAILURES if not kind.before_end)
SWITCHES: Tuple[str, ...] = tuple(prefix + kind.name for kind in _FAILURES
                                  for prefix in ("ignore_", "nolog_"))
"""Every process keyword that ignores a failure or keeps it out of the log."""
COUNTERS: Tuple[str, ...] = tuple(kind.counter for kind in KINDS)
INITIAL_FLAGS: Dict[str, Any] = {kind.flag: kind.initial for kind in KINDS}

# the rows as each end reads them, unpacked once: ok is asked of every
# process, often more than once, and a row's fields are property calls
_OK_CHECKS = tuple((kind.happened, kind.before_end, kind.excused, "ignore_" + kind.name)
                   for kind in _FAILURES)
_END_CHECKS = tuple((kind.happened, kind.excused, "ignore_" + kind.name, "nolog_" + kind.name)
                    for kind in _AT_END)


def is_ok(process: Any) -> bool:
    """No failure that is not ignored: before the end, only those that
    count then (an expect, a write); after it, any."""
    ended = process.ended
    for happened, before_end, excused, ignore in _OK_CHECKS:
        if (ended or before_end) and happened(process) and not excused(process) \
                and not getattr(process, ignore, False):
            return False
    return True


def describe(process: Any) -> Optional[str]:
    """What went wrong with ``process``, whether or not it is to be
    ignored; None if nothing did. An ``error`` is worded by the process's
    transport (``_error_summary``)."""
    for kind in _BY_RANK:
        if kind.happened(process):
            reason = kind.reason(process)
            if reason is not None:
                return reason
    return None


def counts(process: Any) -> Dict[str, int]:
    """Each kind's counter for one process: 1 if it happened."""
    return {kind.counter: int(kind.happened(process)) for kind in KINDS}


def log_failure(process: Any, kind_name: str, message: str) -> None:
    """Log a failure of ``process`` as it is seen: a warning, unless the
    process has ``nolog_<kind>`` or ``ignore_<kind>`` (then at DEBUG), and
    its dump at DEBUG. Never raises (`execo.log.log_safely`): it is called
    while processes end."""
    quiet = (getattr(process, "nolog_" + kind_name, False)
             or getattr(process, "ignore_" + kind_name, False))
    log_safely(logging.DEBUG if quiet else logging.WARNING, "%s", message)
    if logger.isEnabledFor(logging.DEBUG):
        log_safely(logging.DEBUG, "%s", process.dump())


def log_end(process: Any) -> Optional[str]:
    """At a process's end: the failure line of the first failure to be
    logged (none ignored, none ``nolog_``, none excused), as a warning;
    the reason logged (an action's summary groups by it), or None."""
    for happened, excused, ignore, nolog in _END_CHECKS:
        if happened(process) and not excused(process) and not getattr(process, ignore, False) \
                and not getattr(process, nolog, False):
            reason = describe(process) or "failed"
            log_safely(logging.WARNING, "%s", line(process, reason))
            return reason
    return None


def with_switches(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` with a keyword-only parameter (default False) for each
    of `SWITCHES` it lacks, before its ``**kwargs``: a new kind's keywords
    show in ``help()`` and are accepted by every process and action."""
    parameters = list(signature.parameters.values())
    names = {p.name for p in parameters}
    tail = [p for p in parameters if p.kind == inspect.Parameter.VAR_KEYWORD]
    head = [p for p in parameters if p.kind != inspect.Parameter.VAR_KEYWORD]
    added = [inspect.Parameter(switch, inspect.Parameter.KEYWORD_ONLY, default=False)
             for switch in SWITCHES if switch not in names]
    return signature.replace(parameters=head + added + tail) if added else signature


_STDERR_WIDTH = 200


def signal_name(number: int) -> str:
    """The signal's name, as logs and reasons print it.

    >>> signal_name(15)
    'SIGTERM'
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % (number,)


def where(process: Any) -> str:
    """The host's address, or the command's short name for a local process."""
    host = process.host
    if host is not None:
        return style.host(getattr(host, "address", str(host)))
    return style.command(repr(process.name))


def line(process: Any, reason: str) -> str:
    """The one log line of a failure: where, why, first line of stderr."""
    first = next((text.strip() for text in process.stderr.splitlines() if text.strip()), "")
    if len(first) > _STDERR_WIDTH:
        first = first[:_STDERR_WIDTH - 3] + "..."
    return "%s: %s%s" % (where(process), reason, " (stderr: %s)" % (first,) if first else "")


def _shown(processes: Sequence[Any]) -> str:
    """Remote hosts folded into one node set (``node-[1-17,19]``: every
    host, in a few characters); local processes by name, the first five."""
    hosts = [process.host for process in processes]
    if all(host is not None for host in hosts):
        from execo.nodeset import fold_hosts
        return style.host(fold_hosts(hosts))
    return (", ".join(where(p) for p in processes[:5])
            + (", ..." if len(processes) > 5 else ""))


def summary(name: str, failures: Sequence[Any], total: int) -> str:
    """The line ending an action whose processes failed: failures grouped
    by reason, most frequent first, with the hosts of each folded into a
    node set (the first few local commands' names).

    >>> from execo import Process
    >>> p = Process("exit 1", shell=True, nolog_exit_code=True).run()
    >>> summary("job", [p, p], 3)
    "job: 2 of 3 processes failed: exit 1 on 2 ('exit 1', 'exit 1')"
    """
    groups: Dict[str, List[Any]] = {}
    for process in failures:
        reason = getattr(process, "_logged_failure", None) or process.failure_reason or "?"
        groups.setdefault(reason, []).append(process)
    parts = []
    for reason, members in sorted(groups.items(), key=lambda item: -len(item[1])):
        parts.append("%s on %d (%s)" % (reason, len(members), _shown(members)))
    return "%s: %d of %d processes failed: %s" % (name, len(failures), total, "; ".join(parts))
