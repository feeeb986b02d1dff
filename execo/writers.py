"""Output handlers that write (file paths, file descriptors, file objects),
served off the conductor thread.

A write may block: a FIFO nobody reads, a full pipe, a slow or hung
filesystem, even the ``open`` of a FIFO. Done in the conductor thread, it
would freeze every process, timer and kill of the interpreter. So each
destination gets a writer thread of its own, created when a process first
writes to it and ended when the last stream writing to it has ended; a
destination that blocks stalls its own thread only.

Each stream's writes not yet done are counted (`WriteAccount`): over
`HIGH_WATER` bytes, the stream's process stops being read (its pipe
fills and the program blocks in ``write``, as it would writing straight to
that destination); at `LOW_WATER` reading resumes. Only that process's
output is paused, never the loop. A process whose output only goes
through a multiplexer (taktuk) cannot be paused: its writes queue.

A process ends (``ended``, ``wait()``) once its writes are done, so that a
file it wrote to is complete when ``run()`` returns, except when it was
killed or timed out: then it ends at once, and what it wrote is written in
the background. A file named by a path is opened once (append mode) for all
the processes writing to it, and closed when the last one has ended.
Write errors are logged once per destination and the data dropped.
"""

from __future__ import annotations

import collections
import io
import os
import threading
import time
from typing import Any, Callable, Deque, Dict, Hashable, Optional, Set, Tuple

from execo.log import logger

__all__ = ["EXIT_FLUSH_TIMEOUT", "HIGH_WATER", "LOW_WATER", "WriteAccount", "destination_key",
           "flush_at_exit", "is_writer"]

HIGH_WATER = 4 << 20
LOW_WATER = 1 << 20
EXIT_FLUSH_TIMEOUT = 5.0

_DATA, _RELEASE = 0, 1


def is_writer(handler: Any) -> bool:
    """Handlers served here: a path, an fd, or an object with ``write``."""
    if isinstance(handler, str):
        return True
    if isinstance(handler, int):
        return not isinstance(handler, bool)
    return hasattr(handler, "write") and not hasattr(handler, "read_line")


def destination_key(handler: Any) -> Hashable:
    if isinstance(handler, str):
        return ("path", handler)
    if isinstance(handler, int):
        return ("fd", handler)
    return ("object", id(handler))


def _is_binary_file(file_object: Any) -> bool:
    if isinstance(file_object, (io.RawIOBase, io.BufferedIOBase)):
        return True
    if isinstance(file_object, io.TextIOBase):
        return False
    return "b" in getattr(file_object, "mode", "")


class WriteAccount:
    """One stream's writes in flight: bytes queued, items queued, pause state.

    ``pause``/``resume`` are the process's, called in the conductor thread
    (resume through ``call_soon``).
    """

    __slots__ = ("_lock", "queued", "_items", "paused", "_targets", "_on_drained",
                 "_pause", "_resume")

    def __init__(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self.queued = 0
        self._items = 0
        self.paused = False
        self._targets: Set[Hashable] = set()
        self._on_drained: Optional[Callable[[], None]] = None
        self._pause = pause
        self._resume = resume

    def write(self, handler: Any, data: bytes, text: str) -> None:
        """Conductor thread: queue ``data``/``text`` for ``handler``."""
        key = destination_key(handler)
        target = _target_for(key, handler, self)
        payload: Any = text if _wants_text(handler) else data
        if not payload:
            return
        size = len(payload)
        with self._lock:
            self.queued += size
            self._items += 1
            pause = self.queued > HIGH_WATER and not self.paused
            if pause:
                self.paused = True
        target.put((_DATA, payload, self))
        if pause:
            self._pause()

    def end(self) -> None:
        """Conductor thread: the stream has ended; its destinations may close."""
        with self._lock:
            targets, self._targets = self._targets, set()
            self._items += len(targets)
        for key in targets:
            target = _targets.get(key)
            if target is not None:
                target.put((_RELEASE, None, self))

    def when_drained(self, callback: Callable[[], None]) -> bool:
        """True if nothing is in flight; else ``callback()`` is called (in a
        writer thread) once it all is written."""
        with self._lock:
            if self._items == 0:
                return True
            self._on_drained = callback
            return False

    def _done(self, size: int) -> None:
        with self._lock:
            self.queued -= size
            self._items -= 1
            resume = self.paused and self.queued <= LOW_WATER
            if resume:
                self.paused = False
            drained = self._on_drained if self._items == 0 else None
            if drained is not None:
                self._on_drained = None
        if resume:
            from execo.conductor import get_conductor
            get_conductor().call_soon(self._resume)
        if drained is not None:
            drained()

    def pending(self) -> bool:
        with self._lock:
            return self._items > 0


def _wants_text(handler: Any) -> bool:
    return not isinstance(handler, (str, int)) and not _is_binary_file(handler)


class _Destination:
    """One destination and the thread that writes to it."""

    def __init__(self, key: Hashable, handler: Any) -> None:
        self.key = key
        self.handler = handler
        self.users = 0
        self.items: Deque[Tuple[int, Any, WriteAccount]] = collections.deque()
        self.cond = threading.Condition(threading.Lock())
        self.file: Any = None
        self.failed = False
        self.busy = False  # items taken from the queue are being written
        self.idle = False  # waiting for items: a put must wake it up
        self.thread = threading.Thread(target=self._serve, daemon=True,
                                       name="execo-writer %s" % (key[1] if key[0] != "object"
                                                                 else type(handler).__name__))

    def put(self, item: Tuple[int, Any, WriteAccount]) -> None:
        with self.cond:
            self.items.append(item)
            if self.idle:  # a thread busy writing finds the item when it looks
                self.cond.notify()

    def _serve(self) -> None:
        while True:
            with self.cond:
                while not self.items:
                    self.idle = True
                    self.cond.wait()
                self.idle = False
                batch, self.items = self.items, collections.deque()
                self.busy = True
            # what came while we slept is written at once: one wake-up and
            # one write for a burst of small chunks
            data = [item for item in batch if item[0] == _DATA]
            if data:
                joined = (b"" if isinstance(data[0][1], bytes) else "").join(
                    item[1] for item in data) if len(data) > 1 else data[0][1]
                self._write(joined)
            self.busy = False
            for kind, payload, account in batch:
                if kind == _DATA:
                    account._done(len(payload))
                    continue
                # the file exists (even empty) before its stream is told it
                # is drained: that tells a waiter the file is complete
                self._create()
                last = _release(self)
                if last:
                    self._close()
                account._done(0)
                if last:
                    return

    def _write(self, payload: Any) -> None:
        if self.failed:
            return
        try:
            handler = self.handler
            if isinstance(handler, str):
                if self.file is None:
                    self.file = open(handler, "ab")
                self.file.write(payload)
                self.file.flush()
            elif isinstance(handler, int):
                view = memoryview(payload)
                while view:
                    view = view[os.write(handler, view):]
            else:
                handler.write(payload)
        except Exception as exc:
            self.failed = True
            logger.warning("output to %r failed, what is written to it from now on is "
                           "dropped: %s", self.handler, exc)

    def _create(self) -> None:
        if isinstance(self.handler, str) and self.file is None and not self.failed:
            self._write(b"")  # a path is created even if nothing was written to it

    def _close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None


_registry_lock = threading.Lock()
_targets: Dict[Hashable, _Destination] = {}


def _target_for(key: Hashable, handler: Any, account: WriteAccount) -> _Destination:
    with _registry_lock:
        target = _targets.get(key)
        start = target is None
        if start:
            target = _targets[key] = _Destination(key, handler)
        if key not in account._targets:
            account._targets.add(key)
            target.users += 1
    if start:
        target.thread.start()
    return target


def _release(target: _Destination) -> bool:
    """A stream stopped using ``target``; True if the thread is to end."""
    with _registry_lock:
        target.users -= 1
        if target.users > 0:
            return False
        if _targets.get(target.key) is target:
            del _targets[target.key]
        return True


def flush_at_exit() -> None:
    """At exit (`execo.children`, after its kill): give the writes still in
    flight, of killed processes say, up to `EXIT_FLUSH_TIMEOUT` seconds.
    Destinations with nothing to write are not waited for."""
    deadline = time.monotonic() + EXIT_FLUSH_TIMEOUT
    while time.monotonic() < deadline:
        with _registry_lock:
            targets = list(_targets.values())
        if not any(t.items or t.busy for t in targets):
            return
        time.sleep(0.01)  # exit only: no event to wait for across destinations
