"""What Jupyter shows of an evaluated process or action: an HTML table,
as `execo.report.Report` has.

An experimenter running a notebook looks at the object the cell gave
back; ``repr`` is one long line there. The table says per host what the
report says per action: state, duration, ok or why not, and the last line
of output. Only attributes every process has (live or loaded from saved
results) are read, so this module imports no other of execo's but
`execo.time_utils`.
"""

from __future__ import annotations

import html
import time
from typing import Any, List, Optional

from execo.time_utils import format_duration

__all__ = ["action_html", "process_html"]

MAX_ROWS = 200  # a 2 000-host action shows its first rows and a count of the rest
MAX_OUTPUT_LINES = 20
_FAILED = ' class="execo-failed" bgcolor="#fdd"'


def _where(process: Any) -> str:
    host = getattr(process, "host", None)
    return "localhost" if host is None else str(getattr(host, "address", host))


def _state(process: Any) -> str:
    if not process.started:
        return "not started"
    return "running" if not process.ended else "ended"


def _duration(process: Any) -> str:
    start, end = getattr(process, "start_date", None), getattr(process, "end_date", None)
    if start is None:
        return ""
    return format_duration((end if end is not None else time.time()) - start, showms=True)


def _verdict(process: Any) -> str:
    if not process.ended:
        return ""
    if process.ok:
        return "ok"
    reason = getattr(process, "failure_reason", None) or getattr(process, "error_reason", None)
    return reason or "failed"


def _last_line(text: Any) -> str:
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _row(cells: List[str], failed: bool, tag: str = "td") -> str:
    return "<tr%s>%s</tr>" % (_FAILED if failed else "", "".join(
        "<%s>%s</%s>" % (tag, html.escape(cell), tag) for cell in cells))


def _table(header: List[str], rows: List[str]) -> str:
    return "<table><thead>%s</thead><tbody>%s</tbody></table>" % (
        _row(header, False, "th"), "".join(rows))


def _output_block(label: str, text: Any) -> str:
    lines = str(text or "").splitlines()
    if not lines:
        return ""
    shown = lines[-MAX_OUTPUT_LINES:]
    cut = "(%d lines before)\n" % (len(lines) - len(shown)) if len(lines) > len(shown) else ""
    return "<div>%s:</div><pre>%s%s</pre>" % (label, html.escape(cut),
                                             html.escape("\n".join(shown)))


def process_html(process: Any) -> str:
    """One process: where, what, state, duration, verdict, and the end of
    its stdout and stderr."""
    failed = process.ended and not process.ok
    user_command = getattr(process, "_user_command", None)
    command = user_command() if callable(user_command) else str(getattr(process, "command", ""))
    table = _table(["host", "command", "state", "duration", "result"],
                   [_row([_where(process), command, _state(process), _duration(process),
                          _verdict(process)], failed)])
    return table + _output_block("stdout", process.stdout) + \
        _output_block("stderr", process.stderr)


def action_html(action: Any, name: Optional[str] = None) -> str:
    """An action: one line of totals, then one row per process (at most
    `MAX_ROWS`), failed ones coloured as in a report."""
    processes = list(action.processes)
    done = sum(1 for p in processes if p.ended)
    ok = sum(1 for p in processes if p.ended and p.ok)
    title = "<div><b>%s</b>: %d processes, %d ended, %d ok</div>" % (
        html.escape(name or str(getattr(action, "name", type(action).__name__))),
        len(processes), done, ok)
    rows = [_row([_where(p), _state(p), _duration(p), _verdict(p), _last_line(p.stdout)],
                 p.ended and not p.ok) for p in processes[:MAX_ROWS]]
    if len(processes) > MAX_ROWS:
        rows.append(_row(["... %d more" % (len(processes) - MAX_ROWS), "", "", "", ""], False))
    return title + _table(["host", "state", "duration", "result", "last line of stdout"], rows)
