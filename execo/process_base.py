"""ProcessBase: the state every kind of process shares, whoever runs it.

A local `Process`, an `SshProcess` and the per-host processes that a taktuk
run is parsed into all carry the same flags (ok, error, timeouted, killed...),
outputs, handlers and reports. What starts and ends them is the subclass's
business: it calls `_deliver_output` and `_set_ended` from the conductor
thread, and this class turns that into flags, logs, lifecycle callbacks and
wake-ups of the threads blocked in `wait`.
"""

from __future__ import annotations

import logging
import os
import shlex
import threading
import time
import traceback
from typing import Any, Dict, List, Optional, Tuple

import execo.failures as failures
import execo.kill_policy as kill_policy
from execo.argv import Command, check_command, name_from_cmdline
from execo.conductor import TimerHandle, get_conductor, wait_event
from execo.expect import Expecting
from execo.keywords import FullSignature, check_keywords, process_signature
from execo.kill_policy import kill_after_interrupt
from execo.log import Described, call_safely, log_safely, logger, style
from execo.stats import process_stats
from execo.output import (STDERR, STDOUT, CapturedOutput, EMPTY_OUTPUT, ExpectOutputHandler,
                          OutputString, StreamDispatcher, compact_output, output_handlers,
                          stream_name)
from execo.time_utils import format_date, get_seconds, get_timeout
from execo.exception import ExecoValueError

__all__ = ["Command", "ProcessBase", "ProcessLifecycleHandler", "check_command",
           "kill_after_interrupt", "name_from_cmdline"]

class ProcessLifecycleHandler:
    """Notified of a process's start, end and reset.

    ``start`` and ``end`` are called from the conductor thread: they must
    not block. ``reset`` is called from the thread calling ``reset()``.
    """

    def start(self, process: "ProcessBase") -> None:
        pass

    def end(self, process: "ProcessBase") -> None:
        pass

    def reset(self, process: "ProcessBase") -> None:
        pass


class ProcessBase(Expecting, Described):
    """A process's shared state. See `execo.process.Process` for the options."""

    # Whether the process is a child of this interpreter, holding its pipes
    # and pidfd here: the fan-out limit (execo.fanout) counts only those.
    holds_a_local_child = False

    # (the connection params given, them resolved, the host's rewritten
    # address) for this run, handed by the action over hosts that made the
    # process (execo.host_action): its transport neither merges nor
    # rewrites again, unless its own params were replaced since
    _run_connection: Optional[Tuple[Any, Any, str]] = None

    # inspect.signature, help() and IPython list the keywords that
    # subclasses pass down through **kwargs (execo.keywords)
    __signature__ = FullSignature(
        lambda cls: failures.with_switches(process_signature(cls)))

    def __init__(self, cmd: Command, timeout: Any = None,
                 ignore_exit_code: bool = False, nolog_exit_code: bool = False,
                 ignore_timeout: bool = False, nolog_timeout: bool = False,
                 ignore_error: bool = False, nolog_error: bool = False,
                 ignore_expect_fail: bool = False, nolog_expect_fail: bool = False,
                 ignore_write_error: bool = False, nolog_write_error: bool = False,
                 default_expect_timeout: Any = None,
                 default_stdout_handler: bool = True, default_stderr_handler: bool = True,
                 lifecycle_handlers: Optional[List[ProcessLifecycleHandler]] = None,
                 stdout_handlers: Optional[List[Any]] = None,
                 stderr_handlers: Optional[List[Any]] = None,
                 name: Optional[str] = None, **_more: Any) -> None:
        given = locals()
        # the ignore_/nolog_ keywords of every kind of failure (execo.failures)
        self.__dict__.update({switch: given[switch] if switch in given
                              else _more.pop(switch, False) for switch in failures.SWITCHES})
        if _more:  # a misspelled keyword, passed down by a subclass
            check_keywords(type(self).__name__, _more,
                           type(self).__signature__.parameters)  # type: ignore[attr-defined]
        self.cmd = check_command(cmd)
        self.timeout = get_seconds(timeout)
        if self.timeout is not None and not self.timeout >= 0:  # nan too
            raise ExecoValueError("timeout must be a number of seconds >= 0, not %r" % (timeout,))
        self.default_expect_timeout = get_timeout(default_expect_timeout,
                                                  "default_expect_timeout")
        self.default_stdout_handler = default_stdout_handler
        self.default_stderr_handler = default_stderr_handler
        self.lifecycle_handlers: List[ProcessLifecycleHandler] = list(lifecycle_handlers or [])
        self.stdout_handlers: List[Any] = output_handlers(stdout_handlers, "stdout_handlers")
        self.stderr_handlers: List[Any] = output_handlers(stderr_handlers, "stderr_handlers")
        self._name = name
        self.host = None
        self._lock = threading.RLock()
        self._expect_handlers: Optional[threading.local] = None  # made by expect()
        self._own_expect_handlers: List[ExpectOutputHandler] = []
        self._reset_state()

    @property
    def name(self) -> str:
        """For logs and reports: given, or made from the command when first
        asked for (most processes are never named in a log)."""
        if self._name is None:
            self._name = name_from_cmdline(self.cmd)
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def _reset_state(self) -> None:
        self.started = False
        self.start_date: Optional[float] = None
        self._owner_pid: Optional[int] = None  # the process (os.getpid) that started it
        self.ended = False
        self.end_date: Optional[float] = None
        # error, exit_code, timeouted, forced_kill, expect_fail, write_error...
        self.__dict__.update(failures.INITIAL_FLAGS)
        self.error_reason: Optional[str] = None
        self.exit_signal: Optional[int] = None
        self.killed = False
        self._logged_failure: Optional[str] = None
        self._end_after_writes: Optional[tuple] = None  # an end waiting for file writes
        self._writes_given_up = False
        self._timeout_timer: Optional[TimerHandle] = None
        self._force_kill_timer: Optional[TimerHandle] = None
        self._ended_event = threading.Event()
        self._stdout = CapturedOutput() if self.default_stdout_handler else None
        self._stderr = CapturedOutput() if self.default_stderr_handler else None
        self._dispatchers = {
            STDOUT: StreamDispatcher(self, STDOUT, self.stdout_handlers, self._stdout),
            STDERR: StreamDispatcher(self, STDERR, self.stderr_handlers, self._stderr),
        }

    # ---- outputs ----------------------------------------------------------

    @property
    def stdout(self) -> OutputString:
        """Everything the process wrote on stdout, decoded (callable too:
        ``p.stdout()``)."""
        return self._stdout.text() if self._stdout is not None else EMPTY_OUTPUT

    @property
    def stderr(self) -> OutputString:
        return self._stderr.text() if self._stderr is not None else EMPTY_OUTPUT

    @property
    def stdout_bytes(self) -> bytes:
        """stdout exactly as received, for output that is not UTF-8 text."""
        return self._stdout.raw() if self._stdout is not None else b""

    @property
    def stderr_bytes(self) -> bytes:
        return self._stderr.raw() if self._stderr is not None else b""

    def _deliver_output(self, stream: int, data: bytes, eof: bool = False,
                        error: bool = False) -> None:
        """Conductor thread: hand a chunk to the capture and the handlers."""
        dispatcher = self._dispatchers[stream]
        try:
            dispatcher.feed(data, eof, error)
        except Exception:
            log_safely(logging.ERROR, "%s handler raised on %s:\n%s", stream_name(stream), self,
                       traceback.format_exc())

    # ---- lifecycle (conductor thread) -----------------------------------

    def _notify_lifecycle(self, event: str) -> None:
        for handler in list(self.lifecycle_handlers):
            call_safely(lambda: getattr(handler, event)(self),
                        "lifecycle handler %r.%s raised for %s", handler, event, self)

    def _set_ended(self, exit_code: Optional[int] = None, error_reason: Optional[str] = None,
                   end_date: Optional[float] = None) -> None:
        """Record the end, log it, call the end handlers, wake the waiters.

        ``exit_code`` follows subprocess's convention: negative for a death
        by signal, which also sets ``exit_signal``.
        """
        for stream in (STDOUT, STDERR):
            if not self._dispatchers[stream].eof:
                self._deliver_output(stream, b"", eof=True)
        if self._end_waits_for_writes(exit_code, error_reason, end_date):
            return
        kill_policy.disarm(self)
        if error_reason is None:
            error_reason = self._failure_reason(exit_code)
        with self._lock:
            if self.ended:
                return
            self.exit_code = exit_code
            self.exit_signal = -exit_code if exit_code is not None and exit_code < 0 else None
            if error_reason is not None:
                self.error = True
                self.error_reason = error_reason
            self.end_date = end_date if end_date is not None else time.time()
            self.ended = True
        try:
            call_safely(self._log_end, "logging the end of %s failed", self)
            self._notify_lifecycle("end")
        finally:  # whatever happened above, the waiters wake up
            self._ended_event.set()

    def _end_waits_for_writes(self, *end: Any) -> bool:
        """True if the end is put off until the writes of this process's
        output to files are done (`execo.writers`): a file is complete when
        the process has ended. A process killed or timed out ends at once."""
        if self.killed or self.timeouted or self.ended or self._writes_given_up:
            return False
        accounts = [d.writes for d in self._dispatchers.values()
                    if d.writes is not None and d.writes.pending()]
        if not accounts:
            return False
        self._end_after_writes = end
        remaining = [len(accounts)]
        lock = threading.Lock()

        def one_drained() -> None:  # in a writer thread
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                get_conductor().call_soon(self._end_once_written)
        for account in accounts:
            if account.when_drained(one_drained):
                one_drained()
        return True

    def _end_once_written(self) -> None:
        end, self._end_after_writes = self._end_after_writes, None
        if end is not None:
            self._set_ended(*end)

    def _give_up_writes(self) -> None:
        """Killed or timed out while its end waits for writes: end now."""
        self._writes_given_up = True
        if self._end_after_writes is not None:
            get_conductor().call_soon(self._end_once_written)

    def _pause_output(self, stream: int) -> None:
        """Stop reading ``stream`` (its writes are behind), conductor thread.
        A process fed by a multiplexer cannot: its writes queue."""

    def _resume_output(self, stream: int) -> None:
        """Read ``stream`` again, conductor thread."""

    def _failure_reason(self, exit_code: Optional[int]) -> Optional[str]:
        """Subclasses whose transport has its own failure exit code (ssh's
        255) say here that such an end is an error, and why."""
        return None

    def _log_end(self) -> None:
        # the action's summary line groups what its processes logged
        self._logged_failure = failures.log_end(self)
        if logger.isEnabledFor(logging.DEBUG):
            log_safely(logging.DEBUG, "%s %s", style.emph("terminated:"), self.dump())

    def failure_line(self, reason: Optional[str] = None) -> str:
        """The one line that reports this process's failure: where, why,
        and the first line of its stderr (`execo.failures`)."""
        return failures.line(self, reason or self.failure_reason or "ok")

    def where(self) -> str:
        """The host's address, or the command's short name for a local process."""
        return failures.where(self)

    @property
    def failure_reason(self) -> Optional[str]:
        """Why the process is not ok, in one line: ``"exit 1"``, ``"killed
        by SIGTERM"``, ``"timeout after 60 s"``, ``"ssh could not connect:
        ..."``; None while it is ok. Logs, summaries and saved results
        (`to_dict`) use it; ``error_reason`` keeps the full story of an
        ``error``."""
        if self.ok:
            return None
        return failures.describe(self)

    def _error_summary(self) -> str:
        """One line for an ``error``: transports that classify their
        failures (ssh) say it shorter, without the host."""
        reason = (self.error_reason or "error").strip()
        return reason.splitlines()[0] if reason else "error"

    # ---- status -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.started and not self.ended

    @property
    def ok(self) -> bool:
        """False as soon as something went wrong that was not to be ignored.

        A process not yet ended is ok unless an expect or a write failed; an
        ended one also needs no error, no timeout and a zero exit code (a
        process we killed on purpose is forgiven its exit code). The kinds
        of failure are those of `execo.failures.KINDS`.
        """
        return failures.is_ok(self)

    @property
    def finished_ok(self) -> bool:
        """Started, ended, and ok."""
        return self.started and self.ended and self.ok

    def stats(self) -> Dict[str, Any]:
        """Counters in `execo.report.Report`'s format, for this one process."""
        return process_stats(self)

    # ---- waiting ----------------------------------------------------------

    def wait(self, timeout: Any = None) -> "ProcessBase":
        """Block until the process ends, or ``timeout`` seconds pass (a
        negative timeout does not wait).

        Raises `execo.conductor.ConductorDied` if the thread that would
        end the process is gone."""
        if not self.started and not self._waits_for_a_slot() and not self.ended:
            raise ExecoValueError("cannot wait for %s: it was not started" % (self,))
        self._check_owner("wait for")
        wait_event(self._ended_event, get_seconds(timeout))
        return self

    def _check_owner(self, what: str) -> None:
        """A process started before a fork() is followed by the parent only:
        in the child, nothing would ever end it."""
        owner = self._owner_pid
        if owner is not None and not self.ended and owner != os.getpid():
            raise RuntimeError("cannot %s %s in process %d: it was started by process %d, "
                               "before a fork(), and only that process follows it"
                               % (what, self.name, os.getpid(), owner))

    def run(self, timeout: Any = None) -> "ProcessBase":
        """start() then wait().

        Interrupted (Ctrl-C, or any exception during the wait), it kills
        the process before the exception goes on, as ``subprocess.run``
        does; `wait` alone, interrupted, leaves it running.
        """
        was_started = self.started
        try:
            self.start()
            return self.wait(timeout)
        except BaseException:
            if not was_started:
                kill_after_interrupt(self)
            raise

    def start(self) -> "ProcessBase":
        raise NotImplementedError

    def kill(self, sig: int = 15, auto_force_kill_timeout: Any = True) -> "ProcessBase":
        """Send ``sig`` to the process, by the one policy of `execo.kill_policy`.

        After SIGTERM, SIGINT or SIGHUP, if the process is still there after
        ``auto_force_kill_timeout`` seconds (True: ``configuration
        ['kill_timeout']``; False/None: never), it gets SIGKILL. A killed
        process is not blamed for its exit code.
        """
        kill_policy.kill(self, sig, auto_force_kill_timeout)
        return self

    def _waits_for_a_slot(self) -> bool:
        """Queued by `execo.fanout`, to be started by it: only processes
        that ``hold_a_local_child`` are."""
        return False

    def _can_be_signalled(self) -> bool:
        """With ``_lock`` held: is there still something to signal?"""
        raise NotImplementedError

    def _send_signal(self, sig: int) -> None:
        """With ``_lock`` held: deliver ``sig`` (the transport's way)."""
        raise NotImplementedError

    def reset(self) -> "ProcessBase":
        """Forget a run (killing it first if needed) so the process can be
        started again."""
        if self.running:
            self.kill()
            self.wait()
        self._notify_lifecycle("reset")
        with self._lock:
            for handler in self._own_expect_handlers:
                for handlers in (self.stdout_handlers, self.stderr_handlers):
                    if handler in handlers:
                        handlers.remove(handler)
            self._own_expect_handlers = []
            self._expect_handlers = None
            self._reset_state()
        return self

    def __enter__(self) -> "ProcessBase":
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        if self.running:
            self.kill()
        return False

    # ---- display ------------------------------------------------------------

    def _args(self) -> List[str]:
        """Constructor arguments worth showing in repr()."""
        args = [style.command(repr(self.cmd))]
        if self.timeout is not None:
            args.append("timeout=%r" % (self.timeout,))
        args.extend("%s=True" % switch for switch in failures.SWITCHES if getattr(self, switch))
        return args

    def _infos(self) -> List[str]:
        infos = ["name=%s" % (self.name,), "started=%s" % (self.started,),
                 "start_date=%s" % (format_date(self.start_date),),
                 "ended=%s" % (self.ended,), "end_date=%s" % (format_date(self.end_date),),
                 "killed=%s" % (self.killed,), "error_reason=%s" % (self.error_reason,)]
        infos.extend("%s=%s" % (flag, getattr(self, flag)) for flag in failures.INITIAL_FLAGS)
        if self.exit_signal is not None:
            infos.append("exit_signal=%s" % (self.exit_signal,))
        infos.append("ok=%s" % (self.ok,))
        return infos

    # ---- results as data ----------------------------------------------------

    @property
    def duration(self) -> Optional[float]:
        """Seconds from start to end, as saved results have it (None until
        the process has ended)."""
        if self.start_date is None or self.end_date is None:
            return None
        return self.end_date - self.start_date

    def _repr_html_(self) -> str:
        """Jupyter shows an evaluated process as a table (`execo.html_view`)."""
        from execo.html_view import process_html
        return process_html(self)

    def _user_command(self) -> str:
        """The command as the user gave it, for saved results."""
        return self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)

    def to_dict(self) -> Dict[str, Any]:
        """The results as plain data: host, command, dates, duration, exit
        code, ``error_reason`` (`failure_reason`), flags, outputs (see
        `execo.results` for the fields and how non-UTF-8 output is kept).

        >>> from execo import Process
        >>> Process("echo hi").run().to_dict()["stdout"]
        'hi\\n'
        """
        from execo.results import process_to_dict
        return process_to_dict(self)

    def to_json(self, indent: Optional[int] = None) -> str:
        """`to_dict` as JSON; `execo.report.load_results` reads it back."""
        from execo.results import to_json
        return to_json(self, indent)

    def dump(self) -> str:
        """str() plus (compacted) stdout and stderr: what a log needs."""
        return "%s\n%s\n%s\n%s\n%s" % (self, style.emph("stdout:"), compact_output(self.stdout),
                                       style.emph("stderr:"), compact_output(self.stderr))
