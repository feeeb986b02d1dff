"""Report: one table summarising many actions (or reports) after an experiment.

A report holds the objects it was given, not a copy of their counters: it
can be built before the actions run and printed after, and always shows
their current state.

A report saved to a file (`execo.results` turns it into plain data) is
read back here, by `load_results`, as a `LoadedReport` of loaded actions
and processes.
"""

from __future__ import annotations

import html
import json
import sys
from typing import Any, Dict, Iterable, List, Optional

import execo.failures as failures
import execo.stats as _stats
from execo.results import (FORMAT, VERSION, LoadedAction, LoadedProcess, entry_to_dict,
                           report_to_dict, save_json, to_json)
from execo.log import style
from execo.time_utils import format_date, format_duration
from execo.exception import ExecoTypeError, ExecoValueError

__all__ = ["LoadedReport", "Report", "from_dict", "load_results"]

# (one, several, counter) of the things that went wrong, in the order shown
_PROBLEMS = tuple((kind.label[0], kind.label[1], kind.counter) for kind in failures.KINDS)

# the counters of failures that count before the end (an expect, a write)
_BEFORE_END = tuple(kind.counter for kind in failures.KINDS if kind.before_end)

_WIDE_COLUMNS = (
    (("procs", "num_processes"), ("startd", "num_started"), ("ended", "num_ended"))
    + tuple((kind.label[2], kind.counter) for kind in failures.KINDS)
    + (("ok", "num_ok"), ("finok", "num_finished_ok")))

_NARROW_NAME = 28
_NARROW_WIDTH = 79
_WIDE_NAME = 32


def _issues(stats: Dict[str, Any]) -> str:
    """What a reader needs to notice, in words: '1 running, 2 exit!=0'."""
    issues = []
    not_started = stats['num_processes'] - stats['num_started']
    running = stats['num_started'] - stats['num_ended']
    if not_started:
        issues.append("%d not started" % not_started)
    if running:
        issues.append("%d running" % running)
    for singular, plural, counter in _PROBLEMS:
        count = stats.get(counter)
        if count:
            issues.append("%d %s" % (count, singular if count == 1 else plural))
    return ", ".join(issues)


def _duration(stats: Dict[str, Any]) -> str:
    if stats.get('start_date') is not None and stats.get('end_date') is not None:
        return format_duration(stats['end_date'] - stats['start_date'], showms=True)
    return ""


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "~"


class Report:
    """Counters of processes gathered from actions and other reports.

    >>> from execo import Local
    >>> print(Report([Local("true").run()]).to_string(brief=True))  # doctest: +SKIP
    """

    def __init__(self, stats_objects: Optional[Iterable[Any]] = None) -> None:
        self._name: str = type(self).__name__
        self._objects: List[Any] = []
        if stats_objects:
            self.add(stats_objects)

    @property
    def name(self) -> str:
        """The label of the report's total line."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def entries(self) -> List[Any]:
        """What was added, in order: actions, reports, processes, stats
        dicts (loaded ones for a report read back from a file)."""
        return list(self._objects)

    def add(self, stats_objects: Iterable[Any]) -> "Report":
        """Add actions, reports, processes (anything with ``stats()``) or
        stats dicts."""
        for obj in stats_objects:
            if not (isinstance(obj, dict) or callable(getattr(obj, "stats", None))):
                raise ExecoTypeError("a Report gathers objects with a stats() method "
                                "(actions, reports, processes), not %r" % (obj,))
            self._objects.append(obj)
        return self

    @staticmethod
    def empty_stats() -> Dict[str, Any]:
        """A stats dict with every counter at zero."""
        return _stats.empty_stats()

    @staticmethod
    def aggregate_stats(stats: Dict[str, Any]) -> Dict[str, Any]:
        """``stats`` with its ``sub_stats`` added into it (counters summed,
        earliest start, latest end or None while any part has not ended)."""
        aggregated = _stats.aggregate_stats(stats.get('name'), stats.get('sub_stats', []))
        for counter in _stats.COUNTERS:
            aggregated[counter] += stats.get(counter, 0)
        own_start = stats.get('start_date')
        if own_start is not None and (aggregated['start_date'] is None
                                      or own_start < aggregated['start_date']):
            aggregated['start_date'] = own_start
        own_end = stats.get('end_date')
        subs_ended = not aggregated['sub_stats'] or aggregated['end_date'] is not None
        if own_end is not None and subs_ended and (aggregated['end_date'] is None
                                                   or own_end > aggregated['end_date']):
            aggregated['end_date'] = own_end
        return aggregated

    def stats(self) -> Dict[str, Any]:
        """Counters summed over every object added (see `execo.stats`)."""
        sub_stats = [obj if isinstance(obj, dict) else obj.stats() for obj in self._objects]
        return _stats.aggregate_stats(self._name, sub_stats)

    # ---- results as data ----------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """Everything the report holds, as plain data: the totals
        (``stats``) and each entry's ``to_dict()`` (``actions``), in a
        versioned format (see `execo.results`)."""
        return report_to_dict(self)

    def to_json(self, indent: Optional[int] = None) -> str:
        return to_json(self, indent)

    def save(self, path: str) -> None:
        """Write the results to ``path`` (JSON, replaced at once);
        `Report.load` or `execo.load_results` read them back."""
        save_json(self, path)

    @staticmethod
    def load(path: str) -> Any:
        """The results saved in ``path``, loaded (see `execo.results`)."""
        return load_results(path)

    # ---- display ----------------------------------------------------------

    def to_string(self, wide: bool = False, brief: bool = False) -> str:
        """A table: one line per action (nested ones indented), then the total.

        :param wide: one 170-column line per entry with dates and every
          counter; otherwise 80 columns: duration, processes, ok, and the
          problems spelled out.
        :param brief: only the total line.
        """
        stats = self.stats()
        formatter = self._wide_line if wide else self._narrow_line
        header, rule = self._wide_header() if wide else self._narrow_header()
        lines = [header, rule]
        if not brief and stats['sub_stats']:
            for sub in sorted(stats['sub_stats'],
                              key=lambda s: s.get('start_date') or sys.maxsize):
                self._walk(sub, 0, formatter, lines)
            lines.append(rule)
        lines.append(formatter(stats, 0))
        return "\n".join(lines) + "\n"

    def _walk(self, stats: Dict[str, Any], indent: int, formatter: Any,
              lines: List[str]) -> None:
        lines.append(formatter(stats, indent))
        for sub in stats.get('sub_stats', []):
            self._walk(sub, indent + 2, formatter, lines)

    @staticmethod
    def _colour(stats: Dict[str, Any], line: str) -> str:
        if stats['num_ok'] >= stats['num_processes']:
            return line
        # not ok only because some have not finished: a warning, not an error
        only_unfinished = (stats['num_ok'] == stats['num_ended']
                           and not any(stats.get(counter) for counter in _BEFORE_END))
        return style.report_warn(line) if only_unfinished else style.report_error(line)

    @staticmethod
    def _narrow_header() -> tuple:
        header = "%-*s %-9s %5s %5s  %s" % (_NARROW_NAME, "name", "duration", "procs", "ok",
                                            "issues")
        return header, "-" * _NARROW_WIDTH

    def _narrow_line(self, stats: Dict[str, Any], indent: int) -> str:
        name = _fit(" " * indent + str(stats.get('name')), _NARROW_NAME)
        head = "%-*s %-9s %5d %5d  " % (_NARROW_NAME, name, _duration(stats),
                                        stats['num_processes'], stats['num_ok'])
        # issues that do not fit go on continuation lines, under their column
        lines, current = [], head
        for issue in _issues(stats).split(", ") if _issues(stats) else []:
            piece = issue if current.endswith("  ") else ", " + issue
            if len(current) + len(piece) > _NARROW_WIDTH and not current.endswith("  "):
                lines.append(current + ",")
                current = " " * len(head) + issue
            else:
                current += piece
        lines.append(current.rstrip())
        return "\n".join(self._colour(stats, line) for line in lines)

    @staticmethod
    def _wide_header() -> tuple:
        header = "%-*s %-19s %-19s %-10s" % (_WIDE_NAME, "name", "start", "end", "duration")
        header += "".join(" %6s" % label for label, _ in _WIDE_COLUMNS)
        return header, "-" * len(header)

    def _wide_line(self, stats: Dict[str, Any], indent: int) -> str:
        name = _fit(" " * indent + str(stats.get('name')), _WIDE_NAME)
        start = format_date(stats['start_date']) if stats.get('start_date') else ""
        end = format_date(stats['end_date']) if stats.get('end_date') else ""
        line = "%-*s %-19s %-19s %-10s" % (_WIDE_NAME, name, start, end, _duration(stats))
        line += "".join(" %6d" % stats[counter] for _, counter in _WIDE_COLUMNS)
        return self._colour(stats, line)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows an evaluated report as its table."""
        printer.text(repr(self) if cycle else self.to_string().rstrip("\n"))

    def _repr_html_(self) -> str:
        """Jupyter shows an evaluated report as an HTML table."""
        stats = self.stats()
        rows: List[str] = []

        def add(entry: Dict[str, Any], indent: int, total: bool = False) -> None:
            ok = entry['num_ok'] >= entry['num_processes']
            cells = [html.escape(str(entry.get('name'))), html.escape(_duration(entry)),
                     str(entry['num_processes']), str(entry['num_ok']),
                     html.escape(_issues(entry))]
            style_attr = ' style="padding-left:%dem"' % indent if indent else ""
            row = "<td%s>%s</td>" % (style_attr, cells[0]) + "".join(
                "<td>%s</td>" % cell for cell in cells[1:])
            tag = ' style="font-weight:bold"' if total else ""
            colour = "" if ok else ' class="execo-failed" bgcolor="#fdd"'
            rows.append("<tr%s%s>%s</tr>" % (tag, colour, row))
            if not total:
                for sub in entry.get('sub_stats', []):
                    add(sub, indent + 1)

        for sub in sorted(stats['sub_stats'], key=lambda s: s.get('start_date') or sys.maxsize):
            add(sub, 0)
        add(stats, 0, total=True)
        header = "".join("<th>%s</th>" % label
                         for label in ("name", "duration", "procs", "ok", "issues"))
        return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (
            header, "".join(rows))

    def __repr__(self) -> str:
        return "<Report(<%d entries>, name=%r)>" % (len(self._objects), self._name)

    def __str__(self) -> str:
        stats = self.stats()
        counters = ", ".join("%s=%r" % (c, stats[c]) for c in _stats.COUNTERS)
        return "<Report(<%d entries>, name=%r, start_date=%r, end_date=%r, %s)>" % (
            len(self._objects), self._name, format_date(stats['start_date']),
            format_date(stats['end_date']), counters)


class LoadedReport(Report):
    """A `Report` read back from a file: its table (``to_string()``) shows
    the saved counters; its entries are loaded actions, processes, reports."""

    def __init__(self, data: Dict[str, Any]) -> None:
        super().__init__()
        self.name = data["name"]
        self._saved_stats: Dict[str, Any] = data["stats"]
        self._objects = [_entry_from_dict(entry) for entry in data["actions"]]

    def stats(self) -> Dict[str, Any]:
        return self._saved_stats

    def to_dict(self) -> Dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "name": self.name,
                "stats": self._saved_stats,
                "actions": [entry_to_dict(obj) for obj in self._objects]}


def _entry_from_dict(data: Dict[str, Any]) -> Any:
    if data.get("type") == "stats" and "stats" in data:
        return data["stats"]
    return from_dict(data)


def from_dict(data: Any) -> Any:
    """The loaded object for a dict made by ``to_dict()`` (a list of them:
    a list of loaded objects)."""
    if isinstance(data, list):
        return [from_dict(item) for item in data]
    if not isinstance(data, dict):
        raise ExecoValueError("saved results are dicts or lists of them, not %r" % (data,))
    if "format" in data:
        if data["format"] != FORMAT:
            raise ExecoValueError("not execo results: format %r" % (data["format"],))
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise ExecoValueError("results of format version %r: this execo reads version "
                                  "%d and older; upgrade execo to read them"
                                  % (data.get("version"), VERSION))
        return LoadedReport(data)
    if "processes" in data:
        return LoadedAction(data)
    return LoadedProcess(data)


def load_results(path: str) -> Any:
    """The results saved in ``path`` (by ``Report.save()``, or any
    ``to_json()`` written to a file), loaded back.

    >>> from execo import Local, Report
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> Report([Local("echo hi").run()]).save(path)
    >>> load_results(path).to_dict()["actions"][0]["processes"][0]["stdout"]
    'hi\\n'
    """
    with open(path) as saved:
        try:
            data = json.load(saved)
        except ValueError as exc:
            raise ExecoValueError("%s holds no saved results: %s" % (path, exc)) from None
    return from_dict(data)


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
