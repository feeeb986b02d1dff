"""The local children alive, so that none outlives the script that forgot it.

At interpreter exit (unless ``configuration['kill_childs_at_end']`` is
false) the children still running are killed: SIGTERM, then SIGKILL for
those still alive a second later. From that moment on no child is spawned
any more: spawning one and killing it next could leave it behind, if the
interpreter ended in between.
"""

from __future__ import annotations

import atexit
import signal
import threading
import time
from typing import Any, Callable, Set

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


def _kill_at_exit() -> None:
    global _exiting
    if not configuration.get('kill_childs_at_end', True):
        return
    with _lock:
        _exiting = True
        leftovers = list(_alive)
    if not leftovers:
        return
    for process in leftovers:
        process.kill(auto_force_kill_timeout=False)
    deadline = time.monotonic() + EXIT_KILL_GRACE
    for process in leftovers:
        process._ended_event.wait(max(0.0, deadline - time.monotonic()))
    for process in leftovers:
        if not process.ended:
            process.kill(signal.SIGKILL)


atexit.register(_kill_at_exit)
