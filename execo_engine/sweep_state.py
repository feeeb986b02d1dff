"""A sweep's state on disk: the files, their locks, and how they are read.

The layout is execo 2.x's, so that a directory can be shared with, or
handed over to, a 2.x script:

- ``done``: an append-only stream of pickles, one per finished
  combination;
- ``inprogress``: one pickle, the set of combinations handed out and not
  finished;
- ``sweeps``: one pickle, the set of all combinations (only when saved).

Every change holds an exclusive ``fcntl.lockf`` lock on ``done``, then
one on ``inprogress``, taken in that order before anything is read, as
2.x does: the ``done`` lock serialises all the processes sharing the
directory, ours and 2.x's. POSIX record locks belong to a process, not to
a file descriptor (closing any descriptor of the file drops them), so
threads and sweeper instances of one process also queue on a
per-directory `threading.Lock` first.

Durability: a ``done`` record is written then fsync'ed before anything
else changes (``done`` is the truth: what it holds is never handed out
again). ``inprogress`` is overwritten in place and not fsync'ed: after a
power cut it may come back older or unreadable (then it counts as
empty), which can hand a combination out twice, but never one that is
done. ``sweeps`` is replaced whole by an atomic rename.

Over NFS (Grid5000 homes): ``lockf`` goes through the NFS lock service
(NFSv4, or NFSv3 with ``lockd``; a mount with ``nolock`` makes locks
local to each machine, and sharing unsafe), and taking a lock makes the
client drop its cached copy of the file, which is why ``inprogress`` is
locked too.

Reading: pickles are loaded with an unpickler that only builds the few
types a sweep state holds (a persistence directory on a shared home must
not be a way to run code). A last ``done`` record cut by a crash is
dropped (and cut off the file, under the lock); anything else that cannot
be read stops with `SweepStateError` naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import logging
import os
import pickle
import threading
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Set, Tuple

from execo.exception import ExecoError, ExecoRuntimeError

__all__ = ["SweepStateError", "StateDirectory", "Held", "allow_classes", "PICKLE_PROTOCOL"]

_log = logging.getLogger("execo.engine")

# What 2.x writes under Python 3.8 to 3.13 (pickle's default there), and
# what every Python 3 reads.
PICKLE_PROTOCOL = 4

DONE, INPROGRESS, SWEEPS = "done", "inprogress", "sweeps"

# (module, name) of every class a state file may build. Parameter values
# are usually str, numbers, tuples, None: those need no class at all.
_ALLOWED = {
    ("execo_engine.sweep", "HashableDict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "dict"),
    ("builtins", "list"), ("builtins", "tuple"), ("builtins", "complex"),
    ("builtins", "bytearray"), ("builtins", "bytes"), ("builtins", "range"),
    ("builtins", "slice"), ("builtins", "object"),
    ("copyreg", "_reconstructor"),          # dict subclasses, protocols 0 and 1
    ("_codecs", "encode"),                  # bytes, protocols 0 to 2
    ("decimal", "Decimal"), ("fractions", "Fraction"),
    ("datetime", "date"), ("datetime", "time"), ("datetime", "datetime"),
    ("datetime", "timedelta"), ("datetime", "timezone"),
}
# Python 2's names, as pickles written by 2.x under Python 2 spell them.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def allow_classes(*classes: type) -> None:
    """Let state files hold instances of ``classes`` too.

    For parameter values of your own types (an `enum.Enum`...): they are
    refused when reading a state back unless allowed here, before the
    sweeper is created::

        allow_classes(Protocol)
        sweeper = ParamSweeper(directory, sweep({"proto": list(Protocol)}))
    """
    for cls in classes:
        _ALLOWED.add((cls.__module__, cls.__qualname__))


class SweepStateError(ExecoError):
    """A state file cannot be read: its path and why are in the message.

    Nothing was changed on disk: move the file away (or fix what the
    message says) and start again.
    """


class _RefusedClass(pickle.UnpicklingError):
    pass


class _StateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if (module, name) not in _ALLOWED:
            raise _RefusedClass("%s.%s" % (module, name))
        return getattr(importlib.import_module(module), name)


def _is_torn(exc: BaseException, rest: bytes) -> bool:
    """Whether a failed load is a record cut short, or zeros a power cut
    left at the end of the file, rather than damage."""
    if isinstance(exc, EOFError):
        return True
    if isinstance(exc, pickle.UnpicklingError) and "truncated" in str(exc):
        return True
    return not rest.strip(b"\0")


def parse_records(data: bytes, path: str, offset: int = 0) -> Tuple[List[Any], int]:
    """The pickles of ``data`` (read from ``path`` at ``offset``), and the
    length of the part they fill; a torn last record is left out of both."""
    stream = io.BytesIO(data)
    unpickler = _StateUnpickler(stream)
    records, good = [], 0
    while good < len(data):
        try:
            records.append(unpickler.load())
        except _RefusedClass as exc:
            raise SweepStateError(
                "%s: the record at byte %d holds a %s, which a sweep state may not hold "
                "(refused rather than run code from the file; if your parameters are of that "
                "type, call execo_engine.sweep.allow_classes() with it first)"
                % (path, offset + good, exc)) from None
        except Exception as exc:     # anything a damaged pickle may raise
            if _is_torn(exc, data[good:]):
                return records, good
            raise SweepStateError(
                "%s: the record at byte %d cannot be read (%s: %s): the file is damaged; "
                "nothing was changed, move it away or repair it"
                % (path, offset + good, type(exc).__name__, exc)) from None
        good = stream.tell()
    return records, good


def _load_one(data: bytes, path: str) -> Optional[Any]:
    """The one pickle of a whole-file state, None if the file is empty or
    was cut short while being written."""
    records, _ = parse_records(data, path)
    if len(records) > 1:
        raise SweepStateError("%s: holds %d pickles, one expected" % (path, len(records)))
    return records[0] if records else None


def _read_all(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


# one lock per directory for the whole process, see the module docstring
_process_locks: dict = {}
_process_locks_guard = threading.Lock()
_held_by_this_thread = threading.local()   # .paths: directories this thread holds


def _reset_locks_after_fork() -> None:
    # a lock held by another thread at fork time would never be released
    global _process_locks, _process_locks_guard
    _process_locks, _process_locks_guard = {}, threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


def _process_lock(directory: str) -> threading.Lock:
    key = os.path.realpath(directory)
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


class Held(NamedTuple):
    """The locked descriptors of a `StateDirectory.transaction`."""
    done_fd: int
    inprogress_fd: int


class StateDirectory:
    """The files of one persistence directory. Methods named ``locked_*``
    must be called inside `transaction` (they rely on its lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._key = os.path.realpath(path)
        self.done_path = os.path.join(path, DONE)
        self.inprogress_path = os.path.join(path, INPROGRESS)
        self.sweeps_path = os.path.join(path, SWEEPS)

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Held"]:
        """Hold the directory: ``done`` then ``inprogress`` locked, in 2.x's order."""
        held_here = _held_by_this_thread.__dict__.setdefault("paths", set())
        if self._key in held_here:
            # waiting would be for ourselves: a sweeper used from a filter of another
            raise ExecoRuntimeError("%s: already held by this thread (a filter function using "
                               "another sweeper of the same directory?)" % self.path)
        with _process_lock(self.path):
            held_here.add(self._key)
            try:
                yield from self._locked_files()
            finally:
                held_here.discard(self._key)

    def _locked_files(self) -> Iterator["Held"]:
        # O_APPEND like 2.x's "ab+": a record can only land at the end
        done_fd = os.open(self.done_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            fcntl.lockf(done_fd, fcntl.LOCK_EX)
            # Locking inprogress as well adds no exclusion, but on NFS taking a
            # lock is what makes the client drop what it cached of the file.
            inprogress_fd = os.open(self.inprogress_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.lockf(inprogress_fd, fcntl.LOCK_EX)
                yield Held(done_fd, inprogress_fd)
            finally:
                os.close(inprogress_fd)
        finally:
            os.close(done_fd)     # drops the lock

    def locked_read_done(self, held: Held, since: int) -> Tuple[List[Any], int]:
        """Records of ``done`` from byte ``since`` to the end, and the end of
        the last whole one. A torn last record is cut off the file."""
        fd = held.done_fd
        size = os.fstat(fd).st_size
        if size <= since:
            return [], since
        data = os.pread(fd, size - since, since)
        records, length = parse_records(data, self.done_path, since)
        end = since + length
        if end < size:
            _log.warning("%s: dropping %d bytes after byte %d: a record cut short when its "
                         "writer died", self.done_path, size - end, end)
            os.ftruncate(fd, end)
            os.fsync(fd)
        return records, end

    def locked_append_done(self, held: Held, combinations: Iterable[Any]) -> int:
        """Append and fsync: returns only once the records are on disk."""
        fd = held.done_fd
        data = b"".join(pickle.dumps(c, PICKLE_PROTOCOL) for c in combinations)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        return len(data)

    def locked_read_inprogress(self, held: "Held") -> Set[Any]:
        """The in-progress set. Only its first pickle counts (see
        `locked_write_inprogress`); if it cannot be read, it is taken as
        empty, with a warning: it only holds marks, losing them can hand a
        combination out twice but never loses one done."""
        size = os.fstat(held.inprogress_fd).st_size
        if size == 0:
            return set()
        data = os.pread(held.inprogress_fd, size, 0)
        try:
            state = _StateUnpickler(io.BytesIO(data)).load()
        except _RefusedClass as exc:
            raise SweepStateError("%s: holds a %s, which a sweep state may not hold (refused "
                                  "rather than run code from the file)"
                                  % (self.inprogress_path, exc)) from None
        except Exception as exc:   # anything a damaged pickle may raise
            _log.warning("%s: unreadable (%s: %s), in-progress marks are lost (their "
                         "combinations may be handed out again)", self.inprogress_path,
                         type(exc).__name__, exc)
            return set()
        if not isinstance(state, (set, frozenset)):
            _log.warning("%s: holds a %s, not a set: in-progress marks are lost",
                         self.inprogress_path, type(state).__name__)
            return set()
        return set(state)

    def locked_write_inprogress(self, held: "Held", inprogress: Set[Any]) -> None:
        """Overwrite in place, then cut to size. A rename would be atomic
        but costs 20 times more on ext4 (it flushes the new file); a
        writer killed between the two calls leaves the new pickle followed
        by old bytes, and readers, 2.x's too, read only the first pickle."""
        data = pickle.dumps(set(inprogress), PICKLE_PROTOCOL)
        os.pwrite(held.inprogress_fd, data, 0)
        os.ftruncate(held.inprogress_fd, len(data))

    def _replace(self, path: str, data: bytes) -> None:
        # The temporary name is fixed: writers are serialised by the lock,
        # and one left by a crash is simply overwritten.
        temporary = os.path.join(self.path, ".%s.tmp" % os.path.basename(path))
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @contextlib.contextmanager
    def _sweeps_locked(self) -> Iterator[None]:
        # 2.x rewrites ``sweeps`` in place under a lock on it: respect it
        fd = os.open(self.sweeps_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save_sweeps(self, sweeps: Iterable[Any]) -> None:
        with _process_lock(self.path), self._sweeps_locked():
            self._replace(self.sweeps_path, pickle.dumps(set(sweeps), PICKLE_PROTOCOL))

    def load_sweeps(self) -> Set[Any]:
        with _process_lock(self.path), self._sweeps_locked():
            data = _read_all(self.sweeps_path)
        state = _load_one(data, self.sweeps_path)
        if state is None:
            raise SweepStateError(
                "%s: %s; give the combinations (sweeps=...) to the ParamSweeper"
                % (self.sweeps_path, "cut short while being written" if data
                   else "no sweeps were saved there"))
        try:
            return set(state)
        except TypeError:
            raise SweepStateError("%s: holds a %s, not a collection of combinations"
                                  % (self.sweeps_path, type(state).__name__)) from None
