"""Live progress of long actions: done/total, failed so far, elapsed, estimate.

tqdm draws the bar (on a terminal, or as a widget in Jupyter); execo only
decides when one is worth showing and feeds it. An action gets a bar when
it is still running after a short delay (`SHOW_DELAY`, shorter for many
processes): a quick action never prints anything.

Nothing here runs in the conductor thread but a dict removal when an
action ends, and nothing is left running once the actions are over. The
delays of the running actions are watched by one thread (`_Watcher`) that
exists only while some action waits for its bar; each bar is drawn by a
thread of its own that exists only while the bar is shown, refreshing it
every `REFRESH_PERIOD` seconds (writing to a terminal may block: never in
the conductor). tqdm's own monitor thread is switched off.

Whether bars are shown: the action's ``progress`` argument if given, else
``configuration['progress']``: True, False, or ``'auto'`` (the default: on
when stderr is a terminal, or in a Jupyter kernel).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any, Dict, Iterator, Optional

from execo.config import configuration

__all__ = ["MANY_PROCESSES", "REFRESH_PERIOD", "SHOW_DELAY", "SHOW_DELAY_MANY", "ProgressBar",
           "bars_cleared", "progress_wanted"]

SHOW_DELAY = 2.0
"""Seconds an action must run before it gets a bar."""
MANY_PROCESSES = 50
SHOW_DELAY_MANY = 0.5
"""The delay for actions of at least `MANY_PROCESSES` processes."""
REFRESH_PERIOD = 0.5
"""At most two refreshes a second."""
# the counts before the bar's end: tqdm narrows the bar, never the counts
_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix} [{elapsed}<{remaining}]"


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ipython = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _stderr_columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def progress_wanted(setting: Any = None) -> bool:
    """Whether an action whose ``progress`` argument is ``setting`` shows
    a bar (None: ``configuration['progress']`` decides)."""
    if setting is None:
        setting = configuration.get("progress", "auto")
    if setting == "auto" or setting is None:
        return _stderr_is_terminal() or _in_jupyter()
    return bool(setting)


_shown = [0]  # bars being drawn now
_shown_lock = threading.Lock()


def _count_shown(change: int) -> None:
    with _shown_lock:
        _shown[0] += change


@contextlib.contextmanager
def bars_cleared(stream: Any) -> Iterator[None]:
    """Around a write to ``stream`` (a log line): the bars drawn there are
    cleared first and redrawn after, so the line does not land inside one.
    Costs nothing while no bar is shown."""
    if not _shown[0]:
        yield
        return
    with _tqdm_class().external_write_mode(file=stream):
        yield


def _tqdm_class() -> Any:
    if _in_jupyter():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    # its monitor thread would wake up every 10 s for the life of the program
    tqdm.monitor_interval = 0
    return tqdm


class _Watcher:
    """Shows the bars of the actions still running after their delay.

    One thread for every pending action, started with the first and ended
    when none is left: starting an action only adds it to a dict (the
    thread is woken only when the action is due before the thread's next
    wake-up, or when there is no thread), ending it only removes it. A
    thousand quick actions in a row thus cost one wake-up per `SHOW_DELAY`
    at most, and no thread, timer nor wake-up is left once they are over.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._pending: Dict["ProgressBar", float] = {}
        self._thread: Optional[threading.Thread] = None
        self._wake_at: Optional[float] = None

    def add(self, bar: "ProgressBar", deadline: float) -> None:
        with self._condition:
            self._pending[bar] = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="execo-progress-delay",
                                                daemon=True)
                self._thread.start()
            elif self._wake_at is None or deadline < self._wake_at:
                self._condition.notify()

    def discard(self, bar: "ProgressBar") -> None:
        with self._condition:
            self._pending.pop(bar, None)

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                due = [bar for bar, deadline in self._pending.items() if deadline <= now]
                for bar in due:
                    del self._pending[bar]
                if not due and not self._pending:
                    self._thread = self._wake_at = None
                    return
                if not due:
                    self._wake_at = min(self._pending.values())
                    self._condition.wait(self._wake_at - now)
                    continue
            for bar in due:
                bar._show()


_watcher = _Watcher()


def _after_fork_in_child() -> None:
    global _watcher
    _watcher = _Watcher()  # its thread is not in the child


os.register_at_fork(after_in_child=_after_fork_in_child)


class ProgressBar:
    """The bar of one running action; made by `execo.action.Action.start`.

    `action_ended` may be called from any thread (usually the conductor
    thread): it only forgets the pending action or tells the drawing
    thread to finish; `join` waits for the last line to be written.
    """

    def __init__(self, action: Any) -> None:
        self.action = action
        self._lock = threading.Lock()
        self._ended = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started_at = time.time()
        delay = SHOW_DELAY_MANY if len(action.processes) >= MANY_PROCESSES else SHOW_DELAY
        _watcher.add(self, time.monotonic() + delay)

    def _show(self) -> None:
        """The watcher's thread: hand the drawing to a thread of its own."""
        with self._lock:
            if self._ended:
                return
            self._thread = threading.Thread(target=self._draw, name="execo-progress",
                                            daemon=True)
            self._thread.start()

    def action_ended(self) -> None:
        _watcher.discard(self)
        with self._lock:
            self._ended = True
        self._stop.set()

    def join(self, timeout: Optional[float] = 5.0) -> None:
        """Wait until the bar's last refresh is written (the action ended)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _counts(self) -> tuple:
        processes = self.action.processes
        ended = [p for p in processes if p.ended]
        return len(processes), len(ended), sum(1 for p in ended if not p.ok)

    def _draw(self) -> None:
        total, done, failed = self._counts()
        # a terminal of unknown size (a fresh pty says 0x0, where tqdm would
        # hide every bar) is taken for 80x24
        width = {"dynamic_ncols": True} if _stderr_columns() > 0 else {"ncols": 80,
                                                                       "nrows": 24}
        bar = _tqdm_class()(total=total, desc=_short(self.action.name), unit="proc",
                            file=sys.stderr, leave=True, bar_format=_FORMAT, **width,
                            mininterval=REFRESH_PERIOD, initial=done,
                            delay=REFRESH_PERIOD)  # drawn first below, elapsed time right
        bar.start_t = self._started_at
        _count_shown(+1)
        try:
            bar.set_postfix_str("failed %d" % failed, refresh=False)
            bar.refresh()
            while True:
                stopped = self._stop.wait(REFRESH_PERIOD)
                total, done, failed = self._counts()
                bar.n = done
                bar.set_postfix_str("failed %d" % failed, refresh=False)
                bar.refresh()
                if stopped:
                    break
        finally:
            _count_shown(-1)
            bar.close()


def _short(name: str, width: int = 30) -> str:
    return name if len(name) <= width else name[:width - 1] + "~"
