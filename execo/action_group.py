"""Groups of actions, and waiting for many actions at once.

A group's members are actions, not processes: it ends when its members
have, as told by their `ActionLifecycleHandler`, and a sequence starts
each member from a thread of its own. That is composition on top of
`Action`, and it is kept apart from `execo.action`, which owns the
lifecycle of one action's processes (and the class-wide Condition that
`wait_any_actions` and `wait_all_actions` sleep on: one owner, renewed
there after a fork).

This module builds on `execo.action`, which therefore cannot import it.
execo 2.x scripts import these names from ``execo.action``: that module
lists them in its ``__all__`` and serves them on first use through
`execo.compat`'s table, never at import time, so no import cycle forms.
"""

from __future__ import annotations

import inspect
import threading
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence

from execo.action import (ACTION_KWARGS, Action, ActionLifecycleHandler, _bar_written,
                          _check_owner, signature_of_action)
from execo.conductor import LIVENESS_PERIOD, check_conductor
from execo.exception import ExecoTypeError
from execo.keywords import FullSignature, check_keywords
from execo.log import logger
from execo.process_base import ProcessBase
from execo.stats import aggregate_stats
from execo.time_utils import get_timeout

__all__ = ["ParallelActions", "SequentialActions", "wait_all_actions", "wait_any_actions"]


class _MemberEnded(ActionLifecycleHandler):
    """Tells a group that one of its member actions ended."""

    def __init__(self, group: "_ActionGroup") -> None:
        self.group = group

    def end(self, action: Action) -> None:
        self.group._member_ended(action)


def _group_signature(cls: type) -> inspect.Signature:
    signature = signature_of_action(cls)
    return signature.replace(parameters=[p for p in signature.parameters.values()
                                         if p.name != "fanout"])


class _ActionGroup(Action):
    """Common part of Parallel/SequentialActions: members are actions.

    A group takes no ``fanout``: its members' processes are bounded by
    their own ``fanout`` and by ``configuration['fanout']``, which already
    holds across every action of the script."""

    __signature__ = FullSignature(_group_signature)

    def __init__(self, actions: Sequence[Action], **kwargs: Any) -> None:
        check_keywords(type(self).__name__, kwargs,
                       [k for k in ACTION_KWARGS if k != "fanout"])
        self.actions: List[Action] = list(actions)
        for action in self.actions:
            if not isinstance(action, Action):
                raise ExecoTypeError("%s takes actions, not %r" % (type(self).__name__, action))
        kwargs.setdefault("name", "%s %d actions" % (type(self).__name__, len(self.actions)))
        super().__init__(**kwargs)
        self.hide_subactions = False
        """Show only the group's totals in its stats (no line per member)."""
        self._member_handler = _MemberEnded(self)
        for action in self.actions:
            action.lifecycle_handlers.append(self._member_handler)
            action._in_group = True

    @property
    def processes(self) -> List[ProcessBase]:
        return [process for action in self.actions for process in action.processes]

    def _member_ended(self, action: Action) -> None:
        raise NotImplementedError

    def kill(self) -> "_ActionGroup":
        self._kill_requested = True
        for action in self.actions:
            if action.started and not action.ended:
                action.kill()
        return self

    def _reset_members(self) -> None:
        for action in self.actions:
            action.reset()

    def stats(self) -> Dict[str, Any]:
        stats = aggregate_stats(self.name, [a.stats() for a in self.actions])
        self._fix_end_date(stats, [s['end_date'] for s in stats['sub_stats']])
        if self.hide_subactions:
            stats['sub_stats'] = []
        return stats

    def _args(self) -> List[str]:
        return [repr(self.actions)] + super()._args()


class ParallelActions(_ActionGroup):
    """Actions started together; ends when all of them have ended.

    >>> ParallelActions([Local("true"), Local("true")]).run().ok
    True
    """

    def _launch(self) -> None:
        if not self.actions:
            self._set_ended()
            return
        for action in self.actions:
            action.start()

    def _member_ended(self, action: Action) -> None:
        with self._lock:
            if not self.started or self.ended:
                return
            self._ended_members.add(id(action))
            done = len(self._ended_members) >= len(self.actions)
        if done:
            self._set_ended()


class SequentialActions(_ActionGroup):
    """Actions run one after the other, whatever their outcome.

    >>> SequentialActions([Local("true"), Local("false")]).run().ok
    False

    The next action is started from a short-lived thread, not from the
    conductor thread where the previous one's end is seen: starting a
    Remote spawns one ssh per host, too long to stall every other process.
    After kill(), the running member is killed and the others never start.
    """

    def _reset_state(self) -> None:
        super()._reset_state()
        self._next_index = 0

    def _launch(self) -> None:
        self._start_next()

    def _member_ended(self, action: Action) -> None:
        with self._lock:
            if not self.started or self.ended or id(action) in self._ended_members:
                return
            self._ended_members.add(id(action))
        threading.Thread(target=self._start_next, name="execo-sequence",
                         daemon=True).start()

    def _start_next(self) -> None:
        with self._lock:
            index = self._next_index
            finished = self._kill_requested or index >= len(self.actions)
            if not finished:
                self._next_index = index + 1
        if finished:
            self._set_ended()
            return
        action = self.actions[index]
        try:
            action.start()
        except Exception:
            logger.error("%s: cannot start member %s:\n%s", self.name, action,
                         traceback.format_exc())
            self._set_ended()
            return
        # kill() sets the flag before killing the started members: either it
        # saw this member started, or we see the flag now.
        if self._kill_requested:
            action.kill()


def _wait_actions(actions: Sequence[Action], timeout: Any, enough: Any) -> List[Action]:
    timeout = get_timeout(timeout, "a wait's timeout")
    if not actions:
        return []
    for action in actions:
        _check_owner(action)
    deadline = None if timeout is None else time.monotonic() + timeout
    ended = _wait_ended(actions, deadline, enough)
    # not under the condition: the conductor takes it to notify
    for action in ended:
        _bar_written(action)
    return ended


def _wait_ended(actions: Sequence[Action], deadline: Optional[float],
                enough: Any) -> List[Action]:
    with Action._ended_condition:
        while True:
            ended = [action for action in actions if action.ended]
            if enough(ended):
                return ended
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return ended
            if not Action._ended_condition.wait(LIVENESS_PERIOD if remaining is None
                                                else min(remaining, LIVENESS_PERIOD)):
                check_conductor()


def wait_any_actions(actions: Sequence[Action], timeout: Any = None) -> List[Action]:
    """Block until at least one of ``actions`` has ended (or the timeout);
    return those that have ended.

    >>> a, b = Local("sleep 10").start(), Local("true").start()
    >>> wait_any_actions([a, b]) == [b]
    True
    >>> a.kill().wait().ended
    True
    """
    return _wait_actions(list(actions), timeout, lambda ended: len(ended) > 0)


def wait_all_actions(actions: Sequence[Action], timeout: Any = None) -> List[Action]:
    """Block until all ``actions`` have ended (or the timeout); return those
    that have ended."""
    actions = list(actions)
    return _wait_actions(actions, timeout, lambda ended: len(ended) == len(actions))
