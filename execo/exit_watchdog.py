"""The exit watchdog: a small process that kills our children once we are gone.

An ``atexit`` hook (`execo.children`) cleans up after a normal end, an
unhandled exception or KeyboardInterrupt; nothing of ours runs after a
SIGKILL, nor after a SIGTERM or SIGHUP left to their default action. So the
first child spawned also spawns a watchdog: an ``awk`` process (see
WATCHDOG_PROGRAM for why not Python), in a session of its own (a terminal's Ctrl-C or hang-up does not reach it),
that blocks reading a pipe whose only writer is this interpreter. While we
live it sleeps in ``read``: no periodic wake-up. When the pipe reaches end
of file, we have ended, whatever the way, and it sends SIGTERM to the
children we still had, then SIGKILL to those alive ``grace`` seconds later
(``configuration['kill_timeout']`` bounded to a few seconds), and exits.
Where no ``awk`` is found (every Linux distribution has one), there is no
watchdog, and a warning says so.
A remote command dies with its local ``ssh`` (see `execo.ssh`).

What it is told, one line each: ``+pgid`` a child (its process group, as
a kill would signal it) or ``=pid`` (a child whose group must be spared,
``kill_subprocesses=False``), ``-id`` its end, ``k0``/``k1`` whether to
kill at all (``configuration['kill_childs_at_end']``, read when a child
starts or ends and at exit), ``g<seconds>`` the grace. Lines are written
by the conductor thread just before it next sleeps, so that a burst of
spawns costs one write and one wake-up of the watchdog (a write per spawn
cost 5-10 % of the spawn's CPU); and by a thread that waits for a spawn
(``pid``, ``kill()``, ``write()``), so that a child the script knows of is
known to the watchdog too. A SIGKILL within the burst itself, before the
conductor's next sleep, leaves those newest children to chance.

The pipe is close-on-exec, so no child inherits it (a child holding it
would keep the watchdog from ever seeing our end), and a forked child
closes its copy at once (`os.register_at_fork`); should it spawn children
of its own, it gets its own watchdog. No signal handler is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from typing import Optional

from execo.log import logger

__all__ = ["WATCHDOG_PROGRAM", "arm", "child_ended", "child_started", "flush", "flush_pending",
           "watchdog_pid"]

MAX_GRACE = 5.0

# The watchdog is an awk program, not a second Python: an interpreter's
# start-up (some 10 ms of CPU and page faults) slowed whatever the script
# did right after its first spawn by as much (issue #14's benchmark), awk
# starts in about a millisecond. awk keeps the sets; at end of file, one
# shell sends the signals, waits up to the grace for the groups to go, and
# kills what is left. No single quote in ENDING_SCRIPT: it is given to
# ``sh -c '...'``.
ENDING_SCRIPT = (
    "n=$1; shift; "
    "for i; do kill -TERM $i 2>/dev/null; done; "
    "alive() { for i; do kill -0 $i 2>/dev/null && return 0; done; return 1; }; "
    "while [ $n -gt 0 ] && alive \"$@\"; do sleep 0.05; n=$((n-1)); done; "
    "for i; do kill -KILL $i 2>/dev/null; done")

WATCHDOG_PROGRAM = r"""
BEGIN { armed = 1; grace = 1 }
/^\+/ { groups[substr($0, 2)] = 1; next }
/^=/ { pids[substr($0, 2)] = 1; next }
/^-/ { id = substr($0, 2); delete groups[id]; delete pids[id]; next }
/^k/ { armed = substr($0, 2) == "1"; next }
/^g/ { grace = substr($0, 2) + 0; next }
END {
    if (!armed) exit
    ids = ""
    for (id in groups) ids = ids " -" id
    for (id in pids) ids = ids " " id
    if (ids != "") system("exec /bin/sh -c '" ending "' execo-exit-watchdog " int(grace * 20) ids)
}
"""

# Signals a terminal or a careless kill could send: blocked in the watchdog
# (it is in a session of its own already).
_BLOCKED = (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTSTP)

_lock = threading.Lock()
_write_fd: Optional[int] = None
_pid: Optional[int] = None
_pending = bytearray()
_told_armed: Optional[bool] = None
_told_grace: Optional[float] = None
_failed = False


def watchdog_pid() -> Optional[int]:
    """The watchdog's pid (None until the first child is spawned)."""
    return _pid


def _start() -> bool:
    """Spawn the watchdog (with ``_lock`` held); False if it cannot be."""
    global _write_fd, _pid, _failed
    if _write_fd is not None:
        return True
    if _failed:
        return False
    awk = shutil.which("awk")
    if awk is None:
        _failed = True
        logger.warning("no exit watchdog (no awk found): children are killed at a normal "
                       "exit only")
        return False
    read_fd, write_fd = os.pipe()  # both close-on-exec: no child inherits them
    try:
        _pid = os.posix_spawn(awk, [awk, "-v", "ending=" + ENDING_SCRIPT.replace("\\", "\\\\"),
                                    WATCHDOG_PROGRAM], os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, read_fd, 0),
                                            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
                              setsid=True, setsigmask=_BLOCKED)
        try:  # woken at each spawn: never in the way of the script it watches
            os.setpriority(os.PRIO_PROCESS, _pid, 10)
        except OSError:
            pass
    except OSError as exc:
        os.close(write_fd)
        _failed = True
        logger.warning("no exit watchdog (%s): children are killed at a normal exit only", exc)
        return False
    finally:
        os.close(read_fd)
    os.set_blocking(write_fd, False)
    _write_fd = write_fd
    return True


def _settings() -> None:
    global _told_armed, _told_grace
    from execo.config import configuration
    from execo.time_utils import get_seconds
    armed = bool(configuration.get('kill_childs_at_end', True))
    if armed != _told_armed:
        _pending.extend(b"k1\n" if armed else b"k0\n")
        _told_armed = armed
    try:
        grace = min(MAX_GRACE, max(0.1, float(get_seconds(configuration['kill_timeout']))))
    except (KeyError, TypeError, ValueError):
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
        if _write_fd is None:
            return False
        was_empty = not _pending
        _pending.extend(b"-%d\n" % pid)
        return was_empty


def flush() -> None:
    """Write what the watchdog has not been told yet, without blocking: what
    does not fit in the pipe stays for the next flush."""
    with _lock:
        if _write_fd is None or not _pending:
            return
        _settings()
        try:
            written = os.write(_write_fd, _pending)
        except BlockingIOError:
            return
        except OSError as exc:  # it died: nothing to tell any more
            logger.warning("the exit watchdog is gone (%s): children are killed at a normal "
                           "exit only", exc)
            _close()
            return
        del _pending[:written]


def arm(armed: bool) -> None:
    """At exit: tell the watchdog, blocking, whether to kill what is left,
    with every pending line before."""
    global _told_armed
    with _lock:
        if _write_fd is None:
            return
        _pending.extend(b"k1\n" if armed else b"k0\n")
        _told_armed = armed
        data, _pending[:] = bytes(_pending), b""
        try:
            os.set_blocking(_write_fd, True)
            os.write(_write_fd, data)
        except OSError:
            pass


def _close() -> None:
    global _write_fd
    fd, _write_fd = _write_fd, None
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _before_fork() -> None:
    # Held across the fork: a fork in the middle of _start would give the
    # child a copy of the new pipe before _write_fd names it, and the
    # child could not close it.
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    # The parent's watchdog must see the parent's end, not ours: our copy of
    # its pipe goes.
    global _lock, _pid, _told_armed, _told_grace, _failed
    _lock = threading.Lock()
    _close()
    _pending.clear()
    _pid, _told_armed, _told_grace, _failed = None, None, None, False


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)
