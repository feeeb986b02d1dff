"""Results as plain data: processes, actions and reports to dicts and JSON
files, and back.

An experiment's results outlive the script: ``Report.save(path)`` writes
them, `execo.report.load_results` reads them back as objects with the attributes of
live ones (``host``, ``stdout``, ``ok``, ``exit_code``...) and the same
``to_dict()``. The fields are fixed (see doc/watching.rst); the file
carries a format name and a version, and a file of a newer version is
refused rather than misread.

Output that is not UTF-8 survives: ``stdout``/``stderr`` are decoded with
``errors="surrogateescape"`` (each invalid byte becomes a lone surrogate,
``\\udc80``..``\\udcff``) and the JSON is ASCII-only, where such a
surrogate is written ``\\udcXX``; a loaded process's ``stdout_bytes``
encodes it back to the exact bytes, and its ``stdout`` decodes those as a
live process does (invalid bytes replaced).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import Any, Dict, List, Optional

import execo.failures as failures
import execo.stats as _stats
from execo.exception import ExecoValueError
from execo.host import Host
from execo.log import style
from execo.output import DECODE_ERRORS, ENCODING, OutputString

__all__ = ["FORMAT", "VERSION", "LoadedAction", "LoadedProcess", "action_to_dict",
           "entry_to_dict", "process_to_dict", "report_to_dict", "save_json", "to_json"]

FORMAT = "execo-report"
VERSION = 1

PROCESS_FIELDS = ("type", "host", "command", "start_date", "end_date", "duration",
                  "exit_code", "error_reason", "ok", "timeouted", "killed", "stdout", "stderr",
                  "stdout_file", "stderr_file")


def _as_text(data: bytes) -> str:
    return data.decode(ENCODING, "surrogateescape")


def _as_bytes(text: str) -> bytes:
    return text.encode(ENCODING, "surrogateescape")


def _duration(start: Optional[float], end: Optional[float]) -> Optional[float]:
    return end - start if start is not None and end is not None else None


def _output_file(handlers: List[Any]) -> Optional[str]:
    """The path of the first file among output handlers: a path given as
    a string, or an open file's name."""
    for handler in handlers:
        if isinstance(handler, str):
            return handler
        name = getattr(handler, "name", None)
        if isinstance(name, str) and hasattr(handler, "write"):
            return name
    return None


def _host(process: Any) -> Optional[str]:
    host = getattr(process, "host", None)
    if host is None:
        return None
    return str(getattr(host, "address", host))


def process_to_dict(process: Any) -> Dict[str, Any]:
    """A process's results (see `execo.process_base.ProcessBase.to_dict`);
    a connection's attempts (`execo.retry`) too, where there are any."""
    data = {
        "type": type(process).__name__,
        "host": _host(process),
        "command": process._user_command(),
        "start_date": process.start_date,
        "end_date": process.end_date,
        "duration": _duration(process.start_date, process.end_date),
        "exit_code": process.exit_code,
        "error_reason": process.failure_reason,
        "ok": bool(process.ok),
        "timeouted": bool(process.timeouted),
        "killed": bool(process.killed),
        "stdout": _as_text(process.stdout_bytes),
        "stderr": _as_text(process.stderr_bytes),
        "stdout_file": _output_file(process.stdout_handlers),
        "stderr_file": _output_file(process.stderr_handlers),
    }
    attempts = getattr(process, "connect_attempts", None)
    if attempts is not None:
        data["connect_attempts"] = attempts
    return data


def action_to_dict(action: Any) -> Dict[str, Any]:
    """An action's results: its own, and every process's."""
    stats = action.stats()
    return {
        "type": type(action).__name__,
        "name": str(action.name),
        "ok": bool(action.ok),
        "start_date": stats["start_date"],
        "end_date": stats["end_date"],
        "duration": _duration(stats["start_date"], stats["end_date"]),
        "processes": [process.to_dict() for process in action.processes],
    }


def entry_to_dict(obj: Any) -> Dict[str, Any]:
    if isinstance(obj, dict):
        return {"type": "stats", "stats": _plain(obj)}
    return obj.to_dict()


def _plain(data: Any) -> Any:
    """``data`` as JSON will give it back (tuples as lists, odd values as
    strings), so that a saved then loaded report compares equal."""
    return json.loads(json.dumps(data, default=str))


def report_to_dict(report: Any) -> Dict[str, Any]:
    """A report's results: the totals and every entry's results."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": str(report.name),
        "stats": _plain(report.stats()),
        "actions": [entry_to_dict(obj) for obj in report._objects],
    }


def to_json(obj: Any, indent: Optional[int] = None) -> str:
    """``obj.to_dict()`` as ASCII-only JSON (see the module docstring)."""
    return json.dumps(obj.to_dict(), ensure_ascii=True, indent=indent)


def _umask() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # not thread-safe for an instant: the fallback only
    os.umask(mask)
    return mask


def _mode_for(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def save_json(obj: Any, path: str) -> None:
    """Write ``obj.to_json()`` to ``path`` at once: a reader (or a crash)
    sees the old file or the new one, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".execo-results-", dir=directory)
    try:
        # mkstemp makes it 0600: results are shared as any file the user
        # writes is, under his umask (an existing file keeps its mode)
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "w") as out:
            out.write(to_json(obj, indent=1))
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# ---- loaded back ----------------------------------------------------------------


class LoadedProcess:
    """A process read back from saved results: its data, nothing to run.

    It has the result attributes of a live process (``host``, ``cmd``,
    ``stdout``, ``stderr``, ``stdout_bytes``, ``ok``, ``exit_code``,
    ``error_reason``, ``timeouted``...), ``stats()`` and ``to_dict()``.
    """

    def __init__(self, data: Dict[str, Any]) -> None:
        missing = [field for field in PROCESS_FIELDS if field not in data]
        if missing:
            raise ExecoValueError("not a saved process: %s missing from %r"
                                  % (", ".join(missing), sorted(data)))
        self._data = {field: data[field] for field in PROCESS_FIELDS}
        if "connect_attempts" in data:  # a connection's (execo.retry)
            self._data["connect_attempts"] = self.connect_attempts = data["connect_attempts"]
        for field in PROCESS_FIELDS:
            if field not in ("type", "host", "stdout", "stderr"):
                setattr(self, field, data[field])
        # a Host, as on a live remote process (filter_bad_hosts, Host sets)
        self.host = Host(data["host"]) if data["host"] is not None else None
        self.type_name: str = data["type"]
        self.cmd: str = data["command"]
        self.name: str = data["command"]
        self.failure_reason: Optional[str] = data["error_reason"]
        self.started = self.start_date is not None
        self.ended = self.end_date is not None
        self.finished_ok = self.started and self.ended and bool(self.ok)

    @property
    def stdout_bytes(self) -> bytes:
        return _as_bytes(self._data["stdout"])

    @property
    def stderr_bytes(self) -> bytes:
        return _as_bytes(self._data["stderr"])

    @property
    def stdout(self) -> OutputString:
        return OutputString(self.stdout_bytes.decode(ENCODING, DECODE_ERRORS))

    @property
    def stderr(self) -> OutputString:
        return OutputString(self.stderr_bytes.decode(ENCODING, DECODE_ERRORS))

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._data)

    def to_json(self, indent: Optional[int] = None) -> str:
        return to_json(self, indent)

    @property
    def error(self) -> bool:
        """As far as the saved fields tell: failed, neither by a timeout nor
        by its exit code."""
        return bool(not self.ok and not self.timeouted and self.exit_code in (0, None)
                    and self.ended)

    def __getattr__(self, name: str) -> Any:
        # the flags of the kinds of failure the saved fields do not hold
        # (forced_kill, expect_fail...): as before any run
        if name in failures.INITIAL_FLAGS:
            return failures.INITIAL_FLAGS[name]
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    def stats(self) -> Dict[str, Any]:
        """Counters as a live process gives them (`execo.stats`), as far as
        the saved fields tell."""
        return _stats.process_stats(self)

    def __repr__(self) -> str:
        return "<%s %s(%r on %s, ok=%s, exit_code=%s%s)>" % (
            style.object_repr("loaded"), self.type_name, self.cmd, self.host or "localhost",
            self.ok, self.exit_code,
            ", %s" % (self.failure_reason,) if self.failure_reason else "")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        """Jupyter shows it as it shows a live process."""
        from execo.html_view import process_html
        return process_html(self)


class LoadedAction:
    """An action read back from saved results: ``name``, ``ok``, dates and
    its `LoadedProcess` list (``processes``)."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self.type_name: str = data["type"]
        self.name: str = data["name"]
        self.ok: bool = data["ok"]
        self.start_date: Optional[float] = data["start_date"]
        self.end_date: Optional[float] = data["end_date"]
        self.duration: Optional[float] = data["duration"]
        self.processes: List[LoadedProcess] = [LoadedProcess(p) for p in data["processes"]]
        self.started = self.start_date is not None
        self.ended = self.end_date is not None

    @property
    def finished_ok(self) -> bool:
        return self.started and self.ended and self.ok

    def _repr_html_(self) -> str:
        """Jupyter shows it as it shows a live action."""
        from execo.html_view import action_html
        return action_html(self)

    def to_dict(self) -> Dict[str, Any]:
        return {"type": self.type_name, "name": self.name, "ok": self.ok,
                "start_date": self.start_date, "end_date": self.end_date,
                "duration": self.duration,
                "processes": [process.to_dict() for process in self.processes]}

    def to_json(self, indent: Optional[int] = None) -> str:
        return to_json(self, indent)

    def stats(self) -> Dict[str, Any]:
        stats = _stats.aggregate_stats(self.name, [p.stats() for p in self.processes])
        stats.update(start_date=self.start_date, end_date=self.end_date, sub_stats=[])
        return stats

    def __repr__(self) -> str:
        failed = sum(1 for p in self.processes if not p.ok)
        return "<%s %s(%r, %d processes, %d failed, ok=%s)>" % (
            style.object_repr("loaded"), self.type_name, self.name, len(self.processes),
            failed, self.ok)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))
