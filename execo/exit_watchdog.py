"""The exit watchdog: a small process that kills our children once we are gone.

An ``atexit`` hook (`execo.children`) cleans up after a normal end, an
unhandled exception or KeyboardInterrupt; nothing of ours runs after a
SIGKILL, nor after a SIGTERM or SIGHUP left to their default action. So the
first child spawned also spawns a watchdog: an ``awk`` process, in a
session of its own (a terminal's Ctrl-C or hang-up does not reach it).
When we end, whatever the way, the kernel closes our pipes to it; it then
sends SIGTERM to the children we still had, SIGKILL to those alive
``grace`` seconds later (``configuration['kill_timeout']`` bounded to a few
seconds), and exits. A remote command dies with its local ``ssh`` (see
`execo.ssh`). Where no ``awk`` is found (every Linux distribution has one),
there is no watchdog, and a warning says so.

It is told of our children on its standard input, the *ledger*, one line
each: ``+pgid`` a child (its process group, as a kill would signal it) or
``=pid`` (a child whose group must be spared, ``kill_subprocesses=False``),
``-id`` its end, ``k0``/``k1`` whether to kill at all
(``configuration['kill_childs_at_end']``), ``g<seconds>`` the grace. But it
reads none of it while we live: it blocks on a second pipe, the *bell*,
on which nothing is ever written, and reads the ledger once the bell's end
of file says we are gone. So the script never wakes it: a watchdog reading
as we wrote cost a short process's round trip about 10 % (a second process
woken at each spawn and at each end), and a Python watchdog's start-up
slowed what the script did in the next 10 ms by as much (hence awk, which
starts in about a millisecond).

The ledger is a pipe, so it can fill: when it is half full, or a write does
not fit, a new watchdog is started with what is alive now (one spawn per
some 30 000 children with a 1 MiB pipe), then the old one is killed (by
pid: it is our child, and acts only at end of file). Should we die between
the two, both kill the same children. A watchdog killed by someone else is
noticed at the next write (a child started or ended) and replaced the same
way, the new one told of every child alive.

Lines are written by the conductor thread just before it next sleeps, so
that a burst of spawns costs one write; and by a thread that waits for a
spawn (``pid``, ``kill()``, ``write()``), so that a child the script knows
of is known to the watchdog too. A SIGKILL within the burst itself, before
the conductor's next sleep, leaves those newest children to chance.

The pipes are close-on-exec, so no child inherits them (a child holding
them would keep the watchdog from ever seeing our end), and a forked child
closes its copies at once (`os.register_at_fork`); should it spawn children
of its own, it gets its own watchdog. No signal handler is installed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import threading
from typing import Dict, List, Optional, Tuple

from execo.config import configuration
from execo.log import log_safely
from execo.time_utils import get_seconds

__all__ = ["WATCHDOG_PROGRAM", "arm", "child_ended", "child_started", "flush", "flush_pending",
           "watchdog_pid"]

MAX_GRACE = 5.0

LEDGER_SIZE = 1 << 20  # asked for; the system may give less (fs.pipe-max-size)

# At the end, one shell sends the signals, waits up to the grace for the
# groups to go, and kills what is left. The ids come on its standard input
# (thousands would not fit in one argument). No single quote in it: awk
# gives it to ``sh -c '...'``.
ENDING_SCRIPT = (
    "n=$1; read -r ids; set -- $ids; "
    "for i; do kill -TERM $i 2>/dev/null; done; "
    "alive() { for i; do kill -0 $i 2>/dev/null && return 0; done; return 1; }; "
    "while [ $n -gt 0 ] && alive \"$@\"; do sleep 0.05; n=$((n-1)); done; "
    "for i; do kill -KILL $i 2>/dev/null; done")

# awk reads a pipe until its buffer is full or the pipe ends (mawk does):
# the bell's end is the only event it waits for, the ledger is read after.
WATCHDOG_PROGRAM = r"""
function take(line,  id) {
    if (line ~ /^[+=]/ && substr(line, 2) + 0 <= 1) return  # never all, never init
    if (line ~ /^\+/) groups[substr(line, 2)] = 1
    else if (line ~ /^=/) pids[substr(line, 2)] = 1
    else if (line ~ /^-/) { id = substr(line, 2); delete groups[id]; delete pids[id] }
    else if (line ~ /^k/) armed = substr(line, 2) == "1"
    else if (line ~ /^g/) grace = substr(line, 2) + 0
}
BEGIN {
    armed = 1; grace = 1
    while ((getline bell < "/dev/fd/3") > 0) continue
    while ((getline line) > 0) take(line)
    if (!armed) exit
    ids = ""
    for (id in groups) ids = ids " -" id
    for (id in pids) ids = ids " " id
    if (ids == "") exit
    ending = "exec /bin/sh -c '" ending "' execo-exit-watchdog " int(grace * 20)
    print ids | ending
    close(ending)
}
"""

# Signals a terminal or a careless kill could send: blocked in the watchdog
# (it is in a session of its own already).
_BLOCKED = (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTSTP)

_lock = threading.Lock()
_ledger_fd: Optional[int] = None
_bell_fd: Optional[int] = None
_pid: Optional[int] = None
_room = 0  # what may still be written to the ledger before a new watchdog
_pending = bytearray()
# pid -> whole group: what a new watchdog is told first. execo.children
# knows the same processes, but reading its registry here would take its
# lock inside ours, the reverse of the order a spawn takes them in.
_live: Dict[int, bool] = {}
_retired: List[int] = []  # former watchdogs, killed, to be reaped
_told_armed: Optional[bool] = None
_told_grace: Optional[float] = None
_seen_settings: Optional[tuple] = None  # the configuration's values last read
_failed = False
_overflow_logged = False


def watchdog_pid() -> Optional[int]:
    """The watchdog's pid (None until the first child is spawned)."""
    return _pid


def _spawn() -> Tuple[int, int, int, int]:
    """A new watchdog: its pid, ledger fd, bell fd and ledger size."""
    awk = shutil.which("awk")
    if awk is None:
        raise FileNotFoundError("no awk found")
    ledger_read, ledger_write = os.pipe()  # all close-on-exec: no child inherits them
    bell_read, bell_write = os.pipe()
    try:
        pid = os.posix_spawn(awk, [awk, "-v", "ending=" + ENDING_SCRIPT, WATCHDOG_PROGRAM],
                             os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, ledger_read, 0),
                                           (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                           (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                                           (os.POSIX_SPAWN_DUP2, bell_read, 3)],
                             setsid=True, setsigmask=_BLOCKED)
    except OSError:
        os.close(ledger_write)
        os.close(bell_write)
        raise
    finally:
        os.close(ledger_read)
        os.close(bell_read)
    try:  # when it acts, it must not slow what still runs
        os.setpriority(os.PRIO_PROCESS, pid, 10)
    except OSError:
        pass
    try:
        size = fcntl.fcntl(ledger_write, fcntl.F_SETPIPE_SZ, LEDGER_SIZE)
    except OSError:  # over fs.pipe-max-size: what we have
        size = fcntl.fcntl(ledger_write, fcntl.F_GETPIPE_SZ)
    os.set_blocking(ledger_write, False)
    return pid, ledger_write, bell_write, size


def _start() -> bool:
    """The watchdog, spawned if it is not yet (with ``_lock`` held); False
    if there can be none."""
    global _ledger_fd, _bell_fd, _pid, _room, _failed
    if _ledger_fd is not None:
        return True
    if _failed:
        return False
    try:
        _pid, _ledger_fd, _bell_fd, size = _spawn()
    except OSError as exc:
        _failed = True
        log_safely(logging.WARNING, "no exit watchdog (%s): children are killed at a normal "
                   "exit only", exc)
        return False
    _room = size // 2  # a write may not fill a page of the pipe: keep a margin
    return True


def _settings() -> None:
    """Append what the watchdog must know of the configuration, if it
    changed since it was last told (cheap when it did not: at each flush)."""
    global _told_armed, _told_grace, _seen_settings
    seen = (configuration.get('kill_childs_at_end', True), configuration.get('kill_timeout'))
    if seen == _seen_settings and _told_armed is not None:
        return
    _seen_settings = seen
    armed = bool(seen[0])
    if armed != _told_armed:
        _pending.extend(b"k1\n" if armed else b"k0\n")
        _told_armed = armed
    try:
        grace = min(MAX_GRACE, max(0.1, float(get_seconds(seen[1]))))
    except (TypeError, ValueError):
        grace = 1.0
    if grace != _told_grace:
        _pending.extend(b"g%r\n" % grace)
        _told_grace = grace


def child_started(pid: int, whole_group: bool) -> bool:
    """Record a child just spawned (the conductor thread); True if a flush
    is to be asked for."""
    with _lock:
        if not _start():
            return False
        _live[pid] = whole_group
        was_empty = not _pending
        _pending.extend(b"+%d\n" % pid if whole_group else b"=%d\n" % pid)
        return was_empty


def flush_pending() -> None:
    """`flush` if anything waits (cheap when nothing does): for a thread
    that has just learnt of a child, so that a SIGKILL from now on finds
    it known to the watchdog."""
    if _pending:
        flush()


def child_ended(pid: int) -> bool:
    """Record a child reaped; True if a flush is to be asked for."""
    with _lock:
        if _ledger_fd is None:
            return False
        _live.pop(pid, None)
        was_empty = not _pending
        _pending.extend(b"-%d\n" % pid)
        return was_empty


def _write_pending() -> None:
    """Write the pending lines to the ledger, or, when they do not fit,
    hand over to a new watchdog (with ``_lock`` held)."""
    global _room
    if len(_pending) <= _room:
        try:
            written = os.write(_ledger_fd, _pending)
        except BlockingIOError:
            written = 0
        except OSError as exc:  # it died (killed by someone): a new one, told of every child
            log_safely(logging.WARNING, "the exit watchdog is gone (%s): starting another", exc)
            _hand_over()
            return
        if written == len(_pending):
            _room -= written
            _pending.clear()
            return
    _hand_over()


def _hand_over() -> None:
    """Start a new watchdog told of the children alive now, then kill the
    old one, whose ledger is full (with ``_lock`` held)."""
    global _pid, _ledger_fd, _bell_fd, _room, _told_armed, _told_grace, _overflow_logged
    try:
        pid, ledger_fd, bell_fd, size = _spawn()
    except OSError as exc:
        log_safely(logging.WARNING, "no new exit watchdog (%s): the children started from now "
                   "on are killed at a normal exit only", exc)
        _pending.clear()
        return
    old_pid, old_fds = _pid, (_ledger_fd, _bell_fd)
    _pid, _ledger_fd, _bell_fd = pid, ledger_fd, bell_fd
    _told_armed = _told_grace = None
    _pending.clear()
    _settings()
    _pending.extend(b"".join(b"+%d\n" % child if whole_group else b"=%d\n" % child
                             for child, whole_group in _live.items()))
    try:
        written = os.write(_ledger_fd, _pending)
    except OSError:
        written = 0
    if written < len(_pending) and not _overflow_logged:
        _overflow_logged = True
        log_safely(logging.WARNING, "%d children are more than the exit watchdog can be told "
                   "of: some would be left behind by a SIGKILL", len(_live))
    _room = max(0, size // 2 - written)
    _pending.clear()
    # Killed before its pipes are closed: it acts at their end of file, and
    # must not act on a ledger the new one has taken over.
    try:
        os.kill(old_pid, signal.SIGKILL)
    except OSError:
        pass
    for fd in old_fds:
        os.close(fd)
    _retired.append(old_pid)
    _reap_retired()


def _reap_retired() -> None:
    for pid in list(_retired):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _retired.remove(pid)


def flush() -> None:
    """Write what the watchdog has not been told yet, without blocking."""
    with _lock:
        if _ledger_fd is None or not _pending:
            return
        _settings()
        _write_pending()
        if _retired:
            _reap_retired()


def arm(armed: bool) -> None:
    """At exit: tell the watchdog whether to kill what is left, with every
    pending line before."""
    global _told_armed
    with _lock:
        if _ledger_fd is None:
            return
        _pending.extend(b"k1\n" if armed else b"k0\n")
        _told_armed = armed
        _write_pending()


def _close() -> None:
    global _ledger_fd, _bell_fd
    for fd in (_ledger_fd, _bell_fd):
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
    _ledger_fd = _bell_fd = None


def _before_fork() -> None:
    # Held across the fork: a fork in the middle of _start would give the
    # child a copy of the new pipes before _ledger_fd and _bell_fd name
    # them, and the child could not close them.
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    # The parent's watchdog must see the parent's end, not ours: our copies
    # of its pipes go.
    global _lock, _pid, _room, _told_armed, _told_grace, _failed, _overflow_logged
    _lock = threading.Lock()
    _close()
    _pending.clear()
    _live.clear()
    _retired.clear()  # the parent's children, not ours
    _pid, _room, _told_armed, _told_grace = None, 0, None, None
    _failed = _overflow_logged = False


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)
