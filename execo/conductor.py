"""The conductor: ONE thread that multiplexes every child's file descriptors.

It knows file descriptors, child exits and timers, nothing else: no
processes, no ssh, no actions. Everything that happens to a child (output,
exit, timeout) becomes a callback run in this thread, so the objects that
react to them need no locking against each other.

Threads other than the conductor never touch the selector: they hand a
request to ``call_soon``/``call_later``, which queue it and write one byte
to a wake-up pipe. A child's exit is an event like any other thanks to
pidfds (Linux >= 5.3), so while children sleep and no timer is due, the
conductor sleeps in ``epoll_wait`` without any periodic wake-up. Where
pidfds are unavailable, SIGCHLD wakes it (the wake-up pipe is also the
signal wake-up fd) and it polls the children it watches with
``waitid(WNOWAIT)``.

The loop must never die: a delay too long for ``epoll_wait`` (a timeout of
weeks) is capped, and any exception from the selector or a callback is
logged with its traceback and the loop goes on. Should the thread end
anyway, the threads waiting for processes would wait forever: they wait in
slices of `LIVENESS_PERIOD` and check, between two, that the thread is
alive (`wait_event`, `check_conductor`), raising `ConductorDied` if not.
"""

from __future__ import annotations

import collections
import errno
import heapq
import itertools
import logging
import os
import resource
import selectors
import signal
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from execo.log import log_safely

__all__ = ["Conductor", "ConductorDied", "LIVENESS_PERIOD", "MAX_SELECT_DELAY", "TimerHandle",
           "check_conductor", "get_conductor", "wait_event", "wait_lock"]

# Longest run of queued requests between two polls of the descriptors, in
# seconds: a request may take close to a millisecond (a process's spawn
# does), so a burst of them is cut into slices of a few tens.
REQUEST_SLICE = 0.02
# Longest sleep in the selector: epoll_wait cannot take a delay of more than
# about 24 days (and Python's select refuses more than ~2.2e6 s), yet users
# give timeouts of weeks or ``inf``. A timer further away is only due later:
# the loop wakes up once a day, finds nothing due, and sleeps again.
MAX_SELECT_DELAY = 86400.0
# How often a thread blocked in a wait checks that the conductor is alive.
LIVENESS_PERIOD = 0.5


class ConductorDied(RuntimeError):
    """The conductor thread has ended: no child's output, exit or timeout
    will be handled any more in this interpreter."""


class TimerHandle:
    """A pending ``call_later``; ``cancel()`` may be called from any thread."""

    __slots__ = ("deadline", "seq", "callback", "args", "cancelled")

    def __init__(self, deadline: float, seq: int, callback: Callable, args: tuple):
        self.deadline = deadline
        self.seq = seq
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        # Only a flag: the heap entry is dropped lazily by the conductor.
        self.cancelled = True

    def __lt__(self, other: "TimerHandle") -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


def _raise_fd_limit() -> None:
    """Each child costs up to four descriptors (stdin, stdout, stderr,
    pidfd): lift the soft limit to the hard one so that a few thousand
    concurrent children fit."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log_safely(logging.DEBUG,
                       "soft limit of open files raised from %d to %d (the hard limit)",
                       soft, hard)
    except (ValueError, OSError) as exc:
        log_safely(logging.DEBUG, "soft limit of open files left as it is: %s", exc)


def _pidfd_usable() -> bool:
    if os.environ.get("EXECO_DISABLE_PIDFD"):
        return False
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except OSError:
        return False


class Conductor:
    """The selector loop. Use `get_conductor` rather than instantiating it."""

    def __init__(self) -> None:
        _raise_fd_limit()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._on_wakeup)
        self._requests: collections.deque = collections.deque()
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        self._timers: List[TimerHandle] = []
        self._timer_seq = itertools.count()
        self._thread: Optional[threading.Thread] = None
        self._thread_ident: Optional[int] = None
        self._start_lock = threading.Lock()
        self.use_pidfd = _pidfd_usable()
        # fallback (no pidfd): pid -> callback, polled on every wake-up
        self._polled_children: Dict[int, Callable[[], None]] = {}
        self._before_sleep: List[Callable[[], None]] = []
        self.iterations = 0
        """Loop iterations so far: lets tests check that the conductor sleeps."""
        self.death: Optional[str] = None
        """Why the loop ended, should it ever end (None while it runs)."""
        self._sigchld_previous: Any = None  # set once our SIGCHLD handler is in place
        if not self.use_pidfd:
            self._install_sigchld_handler()

    # ---- any thread ----------------------------------------------------

    def in_conductor_thread(self) -> bool:
        return threading.get_ident() == self._thread_ident

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="execo-conductor", daemon=True)
                thread.start()
                self._thread = thread

    def check_alive(self) -> None:
        """Raise `ConductorDied` if the loop was started and has ended."""
        thread = self._thread
        if self.death is not None or (thread is not None and not thread.is_alive()):
            raise ConductorDied("the execo conductor thread has ended (%s): no process event "
                                "can be handled any more in this interpreter"
                                % (self.death or "without a word",))

    def call_soon(self, callback: Callable, *args: Any) -> None:
        """Run ``callback(*args)`` in the conductor thread, in FIFO order."""
        if self.death is not None:
            self.check_alive()
        self._requests.append((callback, args))
        if threading.get_ident() == self._thread_ident:
            return  # the loop drains the queue before sleeping again
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        self.ensure_started()
        self._write_wakeup()

    def call_later(self, delay: float, callback: Callable, *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` in the conductor thread after ``delay`` seconds."""
        if delay != delay:
            raise ValueError("a delay cannot be nan")
        handle = TimerHandle(time.monotonic() + max(0.0, delay), next(self._timer_seq),
                             callback, args)
        if threading.get_ident() == self._thread_ident:
            heapq.heappush(self._timers, handle)
        else:
            self.call_soon(heapq.heappush, self._timers, handle)
        return handle

    def _write_wakeup(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the conductor will wake up anyway

    # ---- conductor thread only ----------------------------------------

    def watch_fd(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever ``fd`` is readable (or at EOF/hang-up)."""
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def unwatch_fd(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def before_next_sleep(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once, before the loop next waits for events:
        work batched over a burst of callbacks (e.g. a spawn's record) is
        done once for the whole burst."""
        self._before_sleep.append(callback)

    def watch_exit(self, pid: int, pidfd: Optional[int], callback: Callable[[], None]) -> None:
        """Call ``callback()`` once child ``pid`` has exited, WITHOUT reaping
        it: the callback reaps, under its own lock, so that no signal is ever
        sent to a recycled pid.

        ``pidfd`` comes from `open_pidfd`, called right after the spawn; it is
        closed here once the exit is seen.
        """
        if pidfd is not None:
            def on_pidfd_readable() -> None:
                self.unwatch_fd(pidfd)
                os.close(pidfd)
                callback()
            self.watch_fd(pidfd, on_pidfd_readable)
        else:
            self._polled_children[pid] = callback
            self._poll_children()

    def open_pidfd(self, pid: int) -> Optional[int]:
        """A pidfd for ``pid`` (any thread), or None in fallback mode."""
        if not self.use_pidfd:
            return None
        try:
            return os.pidfd_open(pid)
        except OSError as exc:
            log_safely(logging.WARNING, "pidfd_open(%d) failed (%s): falling back to SIGCHLD",
                       pid, exc)
            return None

    # ---- the loop -------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # only what _run lets through: SystemExit...
            self.death = "%s: %s" % (type(exc).__name__, exc)
            log_safely(logging.CRITICAL, "the conductor thread dies, no process event will be "
                       "handled any more:\n%s", traceback.format_exc())
        finally:
            if self.death is None:
                self.death = "the loop returned"

    def _serve(self) -> None:
        self._thread_ident = threading.get_ident()
        select = self._selector.select
        registered = self._selector.get_map()
        timers = self._timers
        requests = self._requests
        while True:
            if requests:
                timeout: Optional[float] = 0
            else:
                while timers and timers[0].cancelled:
                    heapq.heappop(timers)
                timeout = (min(MAX_SELECT_DELAY, max(0.0, timers[0].deadline - time.monotonic()))
                           if timers else None)
            if self._before_sleep:
                callbacks, self._before_sleep = self._before_sleep, []
                for callback in callbacks:
                    self._run(callback)
            try:
                events = select(timeout)
            except Exception:  # never let the loop die
                events = []
                self._select_failed()
            self.iterations += 1
            for key, _ in events:
                # An earlier callback of this batch may have closed this fd,
                # and even reused its number for a new pipe: skip stale keys.
                if registered.get(key.fd) is key:
                    self._run(key.data)
            if timers:
                now = time.monotonic()
                while timers and (timers[0].cancelled or timers[0].deadline <= now):
                    handle = heapq.heappop(timers)
                    if not handle.cancelled:
                        self._run(handle.callback, *handle.args)
            if requests:
                # Requests run in slices: a burst of thousands of starts must
                # not keep the exits and outputs of running children waiting
                # (nor their descriptors open) until the last one is spawned.
                slice_end = time.monotonic() + REQUEST_SLICE
                while requests:
                    callback, args = requests.popleft()
                    self._run(callback, *args)
                    if time.monotonic() >= slice_end:
                        break
            if self._polled_children:
                self._run(self._poll_children)

    def _select_failed(self) -> None:
        log_safely(logging.ERROR, "conductor: select failed, going on:\n%s",
                   traceback.format_exc())
        # a failure that repeats must not spin a core while it is logged
        time.sleep(0.01)

    @staticmethod
    def _run(callback: Callable, *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a user handler must never kill the conductor
            log_safely(logging.ERROR, "exception in conductor callback %r:\n%s", callback,
                       traceback.format_exc())

    def _on_wakeup(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        # cleared before the queue is drained by the loop: a request queued
        # from now on writes a new byte, so none can be missed.
        with self._wake_lock:
            self._wake_pending = False

    # ---- fork -------------------------------------------------------------

    def _abandon_in_forked_child(self) -> None:
        """In the child of a fork(): the loop's thread does not exist here,
        and the epoll instance is the parent's too, so this conductor is
        dropped without one epoll_ctl (that would change the parent's).
        The child's copies of the descriptors it watched are closed: a
        child that lives on must not hold the parent's pipes open."""
        key_map = self._selector.get_map()
        fds = [key.fd for key in list(key_map.values())] if key_map is not None else []
        self._selector.close()  # closes the epoll fd only
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if self._wake_w not in fds:
            try:
                os.close(self._wake_w)
            except OSError:
                pass
        self.death = "left in the parent by fork()"
        if self._sigchld_previous is not None:
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, self._sigchld_previous)
            except (ValueError, OSError):
                pass

    # ---- fallback without pidfd ----------------------------------------

    def _install_sigchld_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            # Signal handlers can only be set from the main thread: exits are
            # then noticed through a slow poll, the last resort.
            log_safely(logging.WARNING,
                       "no pidfd and not in the main thread: child exits are polled")
            self.call_later(0.05, self._slow_poll)
            return
        wake_w = self._wake_w
        previous = signal.getsignal(signal.SIGCHLD)

        def on_sigchld(signum: int, frame: Any) -> None:
            try:
                os.write(wake_w, b"c")
            except OSError:
                pass
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGCHLD, on_sigchld)
        self._sigchld_previous = previous if previous is not None else signal.SIG_DFL
        # The kernel sends SIGCHLD to the thread that spawned the child: the
        # conductor. Python runs handlers in the main thread only, and only
        # when it runs: blocked in a wait(), it would never write the byte.
        # The wake-up fd is written by the C handler, in whatever thread.
        theirs = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        if theirs != -1:  # an event loop's, say: leave it theirs, and poll
            signal.set_wakeup_fd(theirs)
            log_safely(logging.WARNING,
                       "no pidfd, and the signal wake-up fd is taken: child exits are polled")
            self.call_later(0.05, self._slow_poll)

    def _slow_poll(self) -> None:
        self.call_later(0.05, self._slow_poll)

    def _poll_children(self) -> None:
        for pid, callback in list(self._polled_children.items()):
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                info = True  # reaped by someone else: let the callback find out
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    raise
                continue
            if info is not None:
                del self._polled_children[pid]
                self._run(callback)


_conductor: Optional[Conductor] = None
_conductor_lock = threading.Lock()


def check_conductor() -> None:
    """Raise `ConductorDied` if the conductor has ended (nothing if it was
    never needed yet)."""
    conductor = _conductor
    if conductor is not None:
        conductor.check_alive()


def _checked_deadline(timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    if timeout != timeout:
        raise ValueError("a wait's timeout cannot be nan")
    return time.monotonic() + timeout


def wait_event(event: threading.Event, timeout: Optional[float] = None) -> bool:
    """``event.wait(timeout)`` that raises `ConductorDied` rather than wait
    for a conductor that is gone. A negative timeout does not wait."""
    deadline = _checked_deadline(timeout)
    if event.is_set():
        return True
    while True:
        if deadline is None:
            slice_ = LIVENESS_PERIOD
        else:
            slice_ = min(deadline - time.monotonic(), LIVENESS_PERIOD)
        if event.wait(slice_):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        check_conductor()


def wait_lock(lock: threading.Lock) -> None:
    """Wait until ``lock`` is free (without keeping it), raising
    `ConductorDied` if the conductor that would free it is gone."""
    while not lock.acquire(timeout=LIVENESS_PERIOD):
        check_conductor()
    lock.release()


def _after_fork_in_child() -> None:
    # Only the forking thread lives on in the child: the conductor thread
    # is gone, and any lock it held stays held. A fresh conductor (and
    # lock) is made on first use.
    global _conductor, _conductor_lock
    inherited, _conductor = _conductor, None
    _conductor_lock = threading.Lock()
    if inherited is not None:
        inherited._abandon_in_forked_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_conductor() -> Conductor:
    """The process-wide conductor, created on first use."""
    global _conductor
    if _conductor is None:
        with _conductor_lock:
            if _conductor is None:
                _conductor = Conductor()
    return _conductor


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
