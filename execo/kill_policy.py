"""The one timeout and kill policy of every process, and so of every action.

- ``timeout``: a timer armed when the process starts; when it fires on a
  process still running, ``timeouted`` is set and the process is killed.
- ``kill(sig)``: ``killed`` is set and ``sig`` sent; after SIGTERM, SIGINT
  or SIGHUP, if the process is still there ``kill_timeout`` seconds later
  (``configuration['kill_timeout']``, read at each kill, or the
  ``auto_force_kill_timeout`` given), it gets SIGKILL and ``forced_kill``.
- The end of the process disarms both timers.

Each kind of process says only whether there is still something to
signal (``_can_be_signalled``) and how a signal reaches it
(``_send_signal``): a local `execo.process.Process` signals its process
group, an `execo.fed_process.FedProcess` asks the multiplexer feeding it
(taktuk kills that host's command, ChainPut stops its chain). Actions
kill their processes, so they follow the same policy, and so does the kill
of the children left at interpreter exit (`execo.children`). A change to
how anything is killed (a signal, an escalation, a clean-up) belongs here.
Timers run in the conductor thread; `kill` may be called from any thread.
"""

from __future__ import annotations

import signal
from typing import Any, Optional

from execo.conductor import get_conductor
from execo.config import configuration
from execo.time_utils import get_seconds

__all__ = ["ESCALATED_SIGNALS", "arm_timeout", "disarm", "force_kill_delay", "kill",
           "kill_after_interrupt"]

ESCALATED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def force_kill_delay(sig: int, auto_force_kill_timeout: Any = True) -> Optional[float]:
    """Seconds after which ``sig`` is followed by SIGKILL (None: never).

    >>> force_kill_delay(signal.SIGKILL) is None, force_kill_delay(signal.SIGTERM, 2)
    (True, 2)
    """
    if sig not in ESCALATED_SIGNALS or not auto_force_kill_timeout:
        return None
    if auto_force_kill_timeout is True:
        return get_seconds(configuration['kill_timeout'])
    return get_seconds(auto_force_kill_timeout)


def arm_timeout(process: Any) -> None:
    """Start ``process``'s timeout, if it has one (conductor thread, at start)."""
    if process.timeout is not None and not process.ended:
        process._timeout_timer = get_conductor().call_later(process.timeout, _on_timeout,
                                                            process)


def _on_timeout(process: Any) -> None:
    if process.ended:
        return
    process.timeouted = True
    process.kill()


def kill(process: Any, sig: int = signal.SIGTERM, auto_force_kill_timeout: Any = True) -> None:
    """Signal ``process`` if it can still be signalled, then arm its SIGKILL."""
    with process._lock:
        if not process._can_be_signalled():
            # gone already, perhaps with its end waiting for its output's
            # writes (execo.writers): a kill means not to wait for them
            process._give_up_writes()
            return
        process.killed = True
        process._send_signal(sig)
        delay = force_kill_delay(sig, auto_force_kill_timeout)
        if delay is not None:
            if process._force_kill_timer is not None:
                process._force_kill_timer.cancel()
            process._force_kill_timer = get_conductor().call_later(delay, _on_force_kill_due,
                                                                   process)


def _on_force_kill_due(process: Any) -> None:
    with process._lock:
        if not process._can_be_signalled():
            return
        process.forced_kill = True
        process._send_signal(signal.SIGKILL)


def disarm(process: Any) -> None:
    """Cancel ``process``'s timers (its end, in the conductor thread)."""
    for name in ("_timeout_timer", "_force_kill_timer"):
        timer = getattr(process, name, None)
        if timer is not None:
            timer.cancel()
            setattr(process, name, None)


def kill_after_interrupt(target: Any) -> None:
    """Kill a process or an action whose ``run()`` was interrupted, and give
    it ``kill_timeout`` (+1 s) to end: the SIGKILL that follows an ignored
    SIGTERM comes within it. A second Ctrl-C stops this wait."""
    target.kill()
    delay = get_seconds(configuration['kill_timeout'])
    target.wait((delay or 0) + 1.0)
