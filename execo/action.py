"""Actions: many processes started, waited for, killed and reported as one.

An action ends when its last process ends. That moment is seen by a
`ProcessLifecycleHandler` attached to each process, in the conductor
thread, which only counts and sets an Event: nothing there blocks. The
threads blocked in `Action.wait` or `wait_any_actions` are woken by that
Event and by one class-wide Condition.

Groups of actions (`ParallelActions`, `SequentialActions`) and the
waits over many actions (`wait_any_actions`, `wait_all_actions`) live in
`execo.action_group`, `Local` in `execo.local`, and are served from here
too (`execo.compat`). Remote actions
(`Remote`, `Put`, `Get`) live in `execo.remote`, the factories that pick
ssh or taktuk in `execo.factory`.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import execo.fanout as fanout
from execo.conductor import wait_event
from execo.exception import ActionsFailed, ProcessesFailed
from execo.failures import summary
from execo.gather import Gathered, gather
from execo.keywords import FullSignature, action_signature, check_keywords
from execo.log import Described, call_safely, log_safely, logger, style
from execo.output import STDOUT
from execo.process import Process
from execo.process_base import ProcessBase, ProcessLifecycleHandler, kill_after_interrupt
from execo.progress import ProgressBar, progress_wanted
from execo.stats import COUNTERS, aggregate_stats
from execo.time_utils import format_date, get_seconds, get_timeout
from execo.exception import ExecoTypeError, ExecoValueError

__all__ = ["Action", "ActionLifecycleHandler", "ActionsFailed", "Local", "ParallelActions",
           "ProcessesFailed", "SequentialActions", "split_action_kwargs",
           "wait_all_actions", "wait_any_actions"]

ACTION_KWARGS = ("lifecycle_handlers", "name", "default_expect_timeout", "fanout", "progress")

_process_keywords: Optional[frozenset] = None


def process_keywords() -> frozenset:
    """The keywords every local process takes (`Process`'s), its command aside."""
    global _process_keywords
    if _process_keywords is None:
        _process_keywords = frozenset(inspect.signature(Process).parameters) - {"cmd"}
    return _process_keywords


def signature_of_action(cls: type) -> inspect.Signature:
    """An action class's full signature (`execo.keywords.action_signature`
    over `Action` and `Process`)."""
    return action_signature(cls, Action, Process)


def split_action_kwargs(kwargs: Dict[str, Any],
                        process_args: Optional[Dict[str, Any]] = None,
                        owner: Optional[str] = None
                        ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Separate the keyword arguments of the action from those of its processes.

    The tutorial writes ``Remote(cmd, hosts, ignore_exit_code=True)``: any
    keyword that `Action` does not take is meant for every process, as if it
    were in ``process_args`` (where it wins over ``process_args``). Given
    the ``owner``'s name, a keyword that neither takes is refused at once,
    naming the closest one (`execo.keywords.check_keywords`).
    """
    if process_args is not None and not isinstance(process_args, Mapping):
        raise ExecoTypeError("process_args is a dict of process keywords, not %r"
                             % (process_args,))
    if owner is not None:
        accepted = process_keywords()
        check_keywords(owner, [k for k in kwargs if k not in ACTION_KWARGS], accepted)
        check_keywords(owner, process_args or (), accepted, "key in process_args")
    action_kwargs = {k: v for k, v in kwargs.items() if k in ACTION_KWARGS}
    merged = dict(process_args or {})
    merged.update((k, v) for k, v in kwargs.items() if k not in ACTION_KWARGS)
    return action_kwargs, merged


class ActionLifecycleHandler:
    """Notified when an action starts, ends, or is reset.

    ``start`` and ``reset`` are called in the thread that called
    ``start()``/``reset()``. ``end`` is usually called in the conductor
    thread, when the last process ends: it must not block, or every
    process of the program stalls.
    """

    def start(self, action: "Action") -> None:
        pass

    def end(self, action: "Action") -> None:
        pass

    def reset(self, action: "Action") -> None:
        pass


class _ProcessEndCounter(ProcessLifecycleHandler):
    """Conductor thread: tells its action that one of its processes ended."""

    __slots__ = ("action",)

    def __init__(self, action: "Action") -> None:
        self.action = action

    def end(self, process: ProcessBase) -> None:
        self.action._process_ended(process)


def _notify(handlers: List[Any], event: str, subject: Any) -> None:
    for handler in list(handlers):
        call_safely(lambda: getattr(handler, event)(subject),
                    "lifecycle handler %r.%s raised for %s", handler, event, subject)


class Action(Described):
    """A set of processes run in parallel, and handled as one.

    >>> Local("echo hi").run().processes[0].stdout
    'hi\\n'

    Methods return the action, so calls chain (``servers.kill().wait()``).
    As a context manager, leaving the block kills whatever still runs.

    :param lifecycle_handlers: `ActionLifecycleHandler` instances.
    :param name: shown in logs and reports (a default is derived).
    :param default_expect_timeout: timeout of `expect` when none is given.
    :param fanout: at most this many of the action's local processes run
      at once, the others wait for a free slot (`execo.fanout`; the
      global ``configuration['fanout']`` bounds every action too).
    :param progress: show a live progress bar while the action runs long
      (True/False; None: ``configuration['progress']``, by default on when
      stderr is a terminal; see `execo.progress`).
    """

    # inspect.signature, help() and IPython list every keyword an action
    # takes, its processes' included (execo.keywords)
    __signature__ = FullSignature(signature_of_action)

    # Notified whenever any action ends: wait_any/wait_all_actions sleep on it
    # (execo.action_group).
    _ended_condition = threading.Condition()

    def __init__(self, lifecycle_handlers: Optional[Iterable[ActionLifecycleHandler]] = None,
                 name: Optional[str] = None, default_expect_timeout: Any = None,
                 fanout: Optional[int] = None, progress: Optional[bool] = None) -> None:
        self.lifecycle_handlers: List[ActionLifecycleHandler] = list(lifecycle_handlers or [])
        self.name: str = name if name is not None else "%s 0x%x" % (type(self).__name__, id(self))
        if default_expect_timeout is not False:
            get_timeout(default_expect_timeout, "default_expect_timeout")
        self.default_expect_timeout = default_expect_timeout
        self.fanout = fanout
        self.progress = progress
        self._in_group = False  # a group's members leave the bar to it
        self._processes: List[ProcessBase] = []
        self._end_counter = _ProcessEndCounter(self)
        self._lock = threading.Lock()
        self._reset_state()

    def _reset_state(self) -> None:
        self.started = False
        self._owner_pid: Optional[int] = None  # the process (os.getpid) that started it
        self.ended = False
        self._ended_event = threading.Event()
        self._ended_members: set = set()
        self._failures: List[ProcessBase] = []  # those whose failure was logged
        self._kill_requested = False
        self._progress_bar: Optional[ProgressBar] = None

    # ---- members ----------------------------------------------------------

    @property
    def processes(self) -> List[ProcessBase]:
        """Every process of the action, in host order for remote actions."""
        return self._processes

    @processes.setter
    def processes(self, processes: Iterable[ProcessBase]) -> None:
        """As in execo 2.x, scripts merge results by assigning processes
        (``a.processes = a.processes + b.processes``): ``ok``, `stats`,
        reports and `gathered` then speak of these processes."""
        for process in self._processes:
            if self._end_counter in process.lifecycle_handlers:
                process.lifecycle_handlers.remove(self._end_counter)
        self._set_processes(processes)

    def _set_processes(self, processes: Iterable[ProcessBase]) -> None:
        self._processes = list(processes)
        for process in self._processes:
            process.lifecycle_handlers.append(self._end_counter)

    @property
    def timeout(self) -> Optional[float]:
        """The timeout given to each process (None: no limit)."""
        return get_seconds(getattr(self, "process_args", {}).get("timeout"))

    # ---- end detection (conductor thread) ---------------------------------

    def _process_ended(self, process: ProcessBase) -> None:
        with self._lock:
            if not self.started or self.ended or id(process) in self._ended_members:
                return
            self._ended_members.add(id(process))
            if getattr(process, "_logged_failure", None) is not None:
                self._failures.append(process)
            done = len(self._ended_members) >= len(self._processes)
        if done:
            self._set_ended()

    def _set_ended(self) -> None:
        with self._lock:
            if self.ended:
                return
            self.ended = True
        try:
            call_safely(self._log_end, "logging the end of %s failed", self.name)
            if self._progress_bar is not None:
                self._progress_bar.action_ended()
            _notify(self.lifecycle_handlers, "end", self)
        finally:  # whatever happened above, the waiters wake up
            self._ended_event.set()
            with Action._ended_condition:
                Action._ended_condition.notify_all()

    def _log_end(self) -> None:
        if len(self._failures) > 1:
            order = {id(process): index for index, process in enumerate(self._processes)}
            failures = sorted(self._failures, key=lambda process: order[id(process)])
            log_safely(logging.WARNING, "%s", summary(self.name, failures, len(self._processes)))
        if logger.isEnabledFor(logging.DEBUG):
            log_safely(logging.DEBUG, "%s %s", style.emph("ended:"), self)

    # ---- control ------------------------------------------------------------

    def start(self) -> "Action":
        """Start every process and return at once."""
        with self._lock:
            if self.started:
                raise ExecoValueError("%s was already started: reset() it to start it again"
                                 % (self.name,))
            self.started = True
            self._owner_pid = os.getpid()
        if logger.isEnabledFor(logging.DEBUG):
            log_safely(logging.DEBUG, "%s %s", style.emph("start:"), self)
        _notify(self.lifecycle_handlers, "start", self)
        if not self._in_group and progress_wanted(self.progress):
            self._progress_bar = ProgressBar(self)
        self._launch()
        return self

    def _launch(self) -> None:
        if not self._processes:
            self._set_ended()
            return
        fanout.launch(self._processes, self.fanout)
        # a process the user started and that ended before the action did
        # was not counted then: count it now (counting is idempotent)
        for process in self._processes:
            if process.ended:
                self._process_ended(process)

    def kill(self) -> "Action":
        """Kill every running process; returns without waiting for them."""
        self._kill_requested = True
        fanout.cancel(self._processes)
        for process in self._processes:
            if process.started and not process.ended:
                process.kill()
        return self

    def wait(self, timeout: Any = None) -> "Action":
        """Block until every process has ended, or ``timeout`` seconds pass."""
        _check_owner(self)
        wait_event(self._ended_event, get_seconds(timeout))
        _bar_written(self)
        return self

    def run(self, timeout: Any = None) -> "Action":
        """start() then wait(timeout).

        If the wait is interrupted (Ctrl-C's KeyboardInterrupt, or any
        exception), what was started is killed before the exception goes
        on, as ``subprocess.run`` does: local processes, and the remote
        commands of ssh-based actions (see `execo.ssh`). `wait` alone,
        interrupted, leaves everything running: the caller decides.
        """
        was_started = self.started   # then start() refuses, and nothing is ours to kill
        try:
            self.start()   # a Ctrl-C may come while hosts are being started
            return self.wait(timeout)
        except BaseException:
            if not was_started:
                kill_after_interrupt(self)
            raise

    def reset(self) -> "Action":
        """Forget a run (killing it first if it is running), so that the
        action can be started again."""
        if self.started and not self.ended:
            self.kill()
            self.wait()
        _notify(self.lifecycle_handlers, "reset", self)
        self._reset_members()
        with self._lock:
            self._reset_state()
        return self

    def _reset_members(self) -> None:
        for process in self._processes:
            process.reset()

    def __enter__(self) -> "Action":
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        if self.started and not self.ended:
            self.kill()
        return False

    # ---- status -------------------------------------------------------------

    @property
    def ok(self) -> bool:
        """Every process is ok (see `ProcessBase.ok`)."""
        return all(process.ok for process in self.processes)

    @property
    def finished_ok(self) -> bool:
        """Started, ended, and ok."""
        return self.started and self.ended and self.ok

    def gathered(self, stream: str = "stdout") -> Gathered:
        """The processes grouped by identical output, hosts folded into
        node sets, as ``clubak -b`` shows them; ``.failures`` groups the
        failed hosts by reason (see `execo.gather`).

        >>> print(Local("echo hi").run().gathered())
        ---------------
        localhost (1)
        ---------------
        hi
        """
        return gather(self, stream)

    @property
    def start_date(self) -> Optional[float]:
        """When the first process started (a unix time; None before)."""
        return self.stats()['start_date']

    @property
    def end_date(self) -> Optional[float]:
        """When the last process ended (None until the action has ended)."""
        return self.stats()['end_date'] if self.ended else None

    @property
    def duration(self) -> Optional[float]:
        """Seconds from `start_date` to `end_date` (None until the end), as
        saved results have it."""
        start, end = self.start_date, self.end_date
        return None if start is None or end is None else end - start

    def _repr_html_(self) -> str:
        """Jupyter shows an evaluated action as a table of its processes
        (`execo.html_view`), as it shows a `Report`."""
        from execo.html_view import action_html
        return action_html(self)

    def stats(self) -> Dict[str, Any]:
        """Counters summed over the processes (see `execo.stats`)."""
        stats = aggregate_stats(self.name, [p.stats() for p in self.processes])
        stats['sub_stats'] = []
        self._fix_end_date(stats, [p.end_date for p in self.processes])
        return stats

    def _fix_end_date(self, stats: Dict[str, Any], end_dates: Iterable[Optional[float]]) -> None:
        # A killed sequence leaves members that never ran (no end date): the
        # action still has an end, that of the last member that ran.
        if self.ended and stats['end_date'] is None:
            known = [d for d in end_dates if d is not None]
            stats['end_date'] = max(known) if known else None

    # ---- results as data ----------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """The results as plain data: type, name, ok, dates, duration and
        every process's `ProcessBase.to_dict`."""
        from execo.results import action_to_dict
        return action_to_dict(self)

    def to_json(self, indent: Optional[int] = None) -> str:
        """`to_dict` as JSON; `execo.report.load_results` reads it back."""
        from execo.results import to_json
        return to_json(self, indent)

    # ---- interaction ----------------------------------------------------------

    def expect(self, regexes: Any, timeout: Any = False, stream: int = STDOUT,
               backtrack: bool = True, expect_output_handler: Any = None
               ) -> List[Tuple[ProcessBase, Optional[int], Any]]:
        """`ProcessBase.expect` on every process, within one shared timeout.

        Returns ``[(process, regex index, match)]`` in process order, with
        ``(process, None, None)`` where nothing matched in time.
        ``timeout``: False for ``default_expect_timeout``, None for no limit.
        With ``backtrack=False``, output received from now on counts, on
        every process alike: all are watched before the first is waited for.
        """
        if timeout is False:
            timeout = self.default_expect_timeout
        timeout = get_timeout(timeout, "an expect's timeout")
        deadline = None if timeout is None else time.monotonic() + timeout
        for process in self.processes:
            process.watch_expect(stream, backtrack, expect_output_handler)
        results = []
        for process in self.processes:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            index, match = process.expect(regexes, timeout=remaining, stream=stream,
                                          backtrack=backtrack,
                                          expect_output_handler=expect_output_handler)
            results.append((process, index, match))
        return results

    def write(self, s: Any) -> "Action":
        """Write ``s`` to the stdin of every process."""
        for process in self.processes:
            process.write(s)
        return self

    # ---- display ------------------------------------------------------------

    def _args(self) -> List[str]:
        args = []
        if self.default_expect_timeout is not None:
            args.append("default_expect_timeout=%r" % (self.default_expect_timeout,))
        return args

    def _infos(self) -> List[str]:
        stats = self.stats()
        infos = ["name=%s" % (self.name,), "started=%s" % (self.started,),
                 "start_date=%s" % (format_date(stats['start_date']),),
                 "ended=%s" % (self.ended,), "end_date=%s" % (format_date(stats['end_date']),)]
        infos.extend("%s=%d" % (key, stats[key]) for key in COUNTERS)
        infos.append("ok=%s" % (self.ok,))
        return infos


def _check_owner(action: Action) -> None:
    """An action started before a fork() is followed by the parent only."""
    owner = action._owner_pid
    if owner is not None and not action.ended and owner != os.getpid():
        raise RuntimeError("cannot wait for %s in process %d: it was started by process %d, "
                           "before a fork(), and only that process follows it"
                           % (action.name, os.getpid(), owner))


def _bar_written(action: Action) -> None:
    """An ended action's bar has written its last line: what the caller
    prints next comes after it."""
    bar = action._progress_bar
    if bar is not None and action.ended:
        bar.join()


def _after_fork_in_child() -> None:
    # the conductor thread, gone in the child, may have held it
    Action._ended_condition = threading.Condition()


os.register_at_fork(after_in_child=_after_fork_in_child)


# execo 2.x names this module served (see execo.compat); the groups and
# wait_*_actions of __all__ too: execo.action_group builds on this module
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
