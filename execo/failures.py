"""Failures in one line: what the log, an action's summary and saved
results say about a process that is not ok.

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

import signal
from typing import Any, Dict, List, Optional, Sequence

from execo.log import style

__all__ = ["describe", "line", "signal_name", "summary", "where"]

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


def describe(process: Any) -> Optional[str]:
    """What went wrong with ``process``, whether or not it is to be
    ignored; None if nothing did. An ``error`` is worded by the process's
    transport (``_error_summary``)."""
    if process.timeouted:
        return ("timeout after %g s" % (process.timeout,) if process.timeout is not None
                else "timeout")
    if process.error:
        return process._error_summary()
    if process.exit_signal is not None:
        return "killed by %s" % (signal_name(process.exit_signal),)
    if process.exit_code not in (0, None):
        return "exit %d" % (process.exit_code,)
    if process.expect_fail:
        return "expect failed"
    if process.write_error:
        return "write failed"
    return None


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
