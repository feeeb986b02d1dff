"""The local children alive, so that none outlives the script that forgot it.

However the interpreter ends, a watchdog process kills the children left
(`execo.exit_watchdog`): it is told of every spawn and reaping here. At a
normal interpreter exit (unless ``configuration['kill_childs_at_end']`` is
false) the children still running are killed: SIGTERM, then SIGKILL for
those still alive a second later. From that moment on no child is spawned
any more: spawning one and killing it next could leave it behind, if the
interpreter ended in between.

After a fork(), the child starts with an empty registry: its exit must
never signal the processes of its parent, which go on.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from typing import Any, Callable, Set

import execo.exit_watchdog as exit_watchdog
import execo.writers as writers
from execo.conductor import ConductorDied, get_conductor
from execo.config import configuration
from execo.log import logger

__all__ = ["EXIT_KILL_GRACE", "forget", "spawn_unless_exiting"]

_alive: Set[Any] = set()
_lock = threading.Lock()
_exiting = False
_refusal_logged = False

EXIT_KILL_GRACE = 1.0  # seconds between the exit's SIGTERM and its SIGKILL


def spawn_unless_exiting(process: Any, spawn: Callable[[], None]) -> bool:
    """Run ``spawn`` and register ``process`` as alive, as one step; or, once
    the exit's kill has begun, do neither and return False.

    The first refusal is logged (a cleanup command run too late would
    otherwise vanish silently), the later ones not: a script ending with
    hundreds of starts queued must not print hundreds of warnings.
    """
    global _refusal_logged
    with _lock:
        if not _exiting:
            spawn()
            _alive.add(process)
            if exit_watchdog.child_started(process._pid, process.kill_subprocesses is not False):
                _flush_soon()
            return True
        first = not _refusal_logged
        _refusal_logged = True
    if first:
        logger.warning("%s not started, nor any process after it: the interpreter is exiting",
                       process.name)
    return False


def forget(process: Any) -> None:
    """``process`` has ended."""
    with _lock:
        _alive.discard(process)
    if process._pid is not None and exit_watchdog.child_ended(process._pid):
        _flush_soon()


def _flush_soon() -> None:
    conductor = get_conductor()
    if conductor.in_conductor_thread():
        conductor.before_next_sleep(exit_watchdog.flush)
    else:
        exit_watchdog.flush()


def _at_exit() -> None:
    try:
        _kill_at_exit()
    finally:
        writers.flush_at_exit()  # what the killed children wrote to files


def _kill_at_exit() -> None:
    global _exiting
    if not configuration.get('kill_childs_at_end', True):
        exit_watchdog.arm(False)
        return
    with _lock:
        _exiting = True
        leftovers = list(_alive)
    if not leftovers:
        exit_watchdog.arm(True)
        return
    for process in leftovers:
        _kill_quietly(process, signal.SIGTERM)
    deadline = time.monotonic() + EXIT_KILL_GRACE
    for process in leftovers:
        process._ended_event.wait(max(0.0, deadline - time.monotonic()))
    for process in leftovers:
        if not process.ended:
            _kill_quietly(process, signal.SIGKILL)
    exit_watchdog.arm(True)


def _kill_quietly(process: Any, sig: int) -> None:
    try:
        process.kill(sig, auto_force_kill_timeout=False)
    except ConductorDied:
        pass  # a spawn still queued will never happen: nothing to kill


def _after_fork_in_child() -> None:
    global _alive, _lock, _exiting, _refusal_logged
    inherited = _alive
    # the lock may have been held by the conductor thread, which is gone
    _alive, _lock, _exiting, _refusal_logged = set(), threading.Lock(), False, False
    for process in inherited:
        process._left_to_parent_by_fork()


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
