"""The fan-out limit: how many local children the actions run at once.

Each local child costs this interpreter four file descriptors (its stdin,
stdout and stderr pipes and a pidfd) for as long as it runs, so a `Remote`
on thousands of hosts under a hard fd limit of 1 024 would fail most of
them with "Too many open files". Actions therefore hand their local
processes to this scheduler instead of starting them: at most
``configuration['fanout']`` of them run at once, over all the actions of
the interpreter (ParallelActions included), and an action's ``fanout``
argument bounds its own share further. A process over the limit waits in
a queue, not started (its timeout starts at its spawn, like any process's)
and is started when a running one ends, in the order the actions were
started.

``'auto'``, the default, derives the limit from the soft fd limit (raised
to the hard limit by the conductor, see `execo.conductor`): a fan-out that
fits is never slowed down, one that does not fit is queued. ``None`` (or
0) means no limit.

Only local children are counted (a process's class says so by its flag
``holds_a_local_child``, as `execo.process.Process` does; the flag, not
the type, so that this module stays below the processes): the hosts of a
multiplexed action (taktuk, ChainPut) share one local process, and a
process a user starts on his own is his to count.

State changes happen under one lock; starting a process only queues its
spawn, so the conductor thread, where ends are seen, never blocks here.
"""

from __future__ import annotations

import collections
import resource
import threading
from typing import Any, Deque, Iterable, List, Optional

from execo.conductor import get_conductor
from execo.config import configuration
from execo.process_base import ProcessBase, ProcessLifecycleHandler

__all__ = ["FDS_PER_CHILD", "RESERVED_FDS", "cancel", "fanout_limit", "launch", "running_count"]

# descriptors a child holds in this interpreter, plus one for the moments
# of its spawn when its pipes' other ends are still open here
FDS_PER_CHILD = 5
# descriptors left to the rest of the script (its files, sockets, logs...)
RESERVED_FDS = 128


def _auto_limit() -> Optional[int]:
    get_conductor()  # the conductor raises the soft limit when it is made
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(8, (soft - RESERVED_FDS) // FDS_PER_CHILD)


def _as_limit(value: Any, what: str) -> Optional[int]:
    if value is None or value is False or value == 0:
        return None
    if value == "auto":
        return _auto_limit()
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("%s must be a positive int, 'auto' or None (no limit), not %r"
                         % (what, value))
    return value


def fanout_limit() -> Optional[int]:
    """The global limit now (None: none), from ``configuration['fanout']``.

    >>> fanout_limit() is None or fanout_limit() >= 8
    True
    """
    return _as_limit(configuration.get('fanout', 'auto'), "configuration['fanout']")


class _Share:
    """One started action's processes: those waiting, and how many run."""

    __slots__ = ("limit", "waiting", "running")

    def __init__(self, limit: Optional[int]) -> None:
        self.limit = limit
        self.waiting: Deque[ProcessBase] = collections.deque()
        self.running = 0


class _SlotRelease(ProcessLifecycleHandler):
    """Conductor thread, at a counted process's end: its slot is free."""

    def end(self, process: ProcessBase) -> None:
        _release(process)


_lock = threading.Lock()
_running = 0
_shares: Deque[_Share] = collections.deque()  # shares with processes waiting, FIFO
_release_handler = _SlotRelease()


def running_count() -> int:
    """How many counted processes run now (for tests and reports)."""
    return _running


def launch(processes: Iterable[ProcessBase], action_limit: Any = None) -> None:
    """Start ``processes`` (one action's), or queue those over the limits."""
    share = _Share(_as_limit(action_limit, "fanout"))
    direct: List[ProcessBase] = []
    for process in processes:
        if process.holds_a_local_child and not process.started:
            if _release_handler not in process.lifecycle_handlers:
                process.lifecycle_handlers.append(_release_handler)
            process._fanout_queued = True
            share.waiting.append(process)
        else:
            direct.append(process)
    for process in direct:
        process.start()
    if share.waiting:
        with _lock:
            _shares.append(share)
        _pump()


def cancel(processes: Iterable[ProcessBase]) -> None:
    """Take the processes still waiting out of the queue; each ends at once,
    never started, as ``killed`` (a kill of its action forgives it, as it
    forgives a running process its exit code)."""
    targets = set(id(p) for p in processes)
    dropped: List[ProcessBase] = []
    with _lock:
        for share in _shares:
            kept = collections.deque()
            for process in share.waiting:
                (dropped if id(process) in targets else kept).append(process)
            share.waiting = kept
        _forget_empty_shares()
    for process in dropped:
        process.killed = True
        get_conductor().call_soon(_end_dropped, process)


def _end_dropped(process: ProcessBase) -> None:
    process._set_ended(None, None)
    process._fanout_queued = False  # after: a wait() in between must not be refused


def _forget_empty_shares() -> None:
    for share in [s for s in _shares if not s.waiting]:
        _shares.remove(share)


def _release(process: ProcessBase) -> None:
    global _running
    share = getattr(process, "_fanout_share", None)
    if share is None:
        return
    with _lock:
        process._fanout_share = None
        _running -= 1
        share.running -= 1
    _pump()


def _pump() -> None:
    """Start as many waiting processes as the limits allow."""
    global _running
    limit = fanout_limit()
    ready: List[ProcessBase] = []
    with _lock:
        for share in list(_shares):
            while share.waiting and (limit is None or _running < limit) \
                    and (share.limit is None or share.running < share.limit):
                process = share.waiting.popleft()
                process._fanout_queued = False
                if process.started:  # started by its user meanwhile: not ours to count
                    continue
                process._fanout_share = share
                share.running += 1
                _running += 1
                ready.append(process)
            if limit is not None and _running >= limit:
                break
        _forget_empty_shares()
    for process in ready:
        process.start()
