"""The per-endpoint gate: at most K connection set-ups in flight per sshd.

An sshd refuses connections beyond its ``MaxStartups`` (Debian: 10, then
30 % refused, all beyond 100) before authentication, whatever the client's
fan-out: 200 ssh started at once to one sshd (many processes on one host,
or every host behind one gateway) lose dozens of hosts. So a process that
names an endpoint (its ``setup_endpoint()``: key, K and whether the first
set-up goes alone) waits here, not spawned, while K others are setting up
a connection to the same endpoint, K being its connection params'
``'max_setups_per_endpoint'`` (None: no gate). Where connections are
shared (ssh's ControlMaster), the first set-up to an endpoint goes alone:
started together, every one of them would open a master of its own.

A set-up ends when the transport says so (`setup_done`): the remote
command started (ssh calls it at its first byte of stdout), the process
ended, or, as a last resort, `HOLD_AT_MOST` seconds after its spawn -- a
command that writes nothing for long must not keep the others out; its
connection is long established by then. A transport that learns earlier
that the remote command started (a marker written by its remote prelude)
calls `setup_done` at that moment.

This gate sits after the fan-out limit (`execo.fanout`), which hands it the
processes it lets run: one waiting here holds its fan-out slot, costs no
descriptor, and is taken out by `cancel` like a process waiting for a
slot. Everything happens under one lock; the conductor thread, where
set-ups are seen to end, never blocks here.
"""

from __future__ import annotations

import collections
import threading
from typing import Deque, Dict, Hashable, Iterable, List, Optional, Tuple

from execo.conductor import TimerHandle, get_conductor
from execo.process_base import ProcessBase, ProcessLifecycleHandler

__all__ = ["HOLD_AT_MOST", "cancel", "in_flight", "setup_done", "start"]

# seconds after which a set-up not seen to end frees its slot anyway
HOLD_AT_MOST = 2.0


class _Endpoint:
    __slots__ = ("in_flight", "parked", "opened")

    def __init__(self) -> None:
        self.in_flight = 0
        self.parked: Deque[Tuple[ProcessBase, int, bool]] = collections.deque()
        self.opened = False  # a set-up to it has ended since it was gated

    def room(self, limit: int, first_alone: bool) -> bool:
        return self.in_flight < (limit if self.opened or not first_alone else 1)


class _SetupEnd(ProcessLifecycleHandler):
    """Conductor thread, at a gated process's end: its set-up is over."""

    def end(self, process: ProcessBase) -> None:
        setup_done(process)


_lock = threading.Lock()
_endpoints: Dict[Hashable, _Endpoint] = {}
_holding: Dict[int, Tuple[_Endpoint, Hashable, Optional[TimerHandle]]] = {}
_end_handler = _SetupEnd()


def in_flight(key: Hashable) -> int:
    """How many set-ups to endpoint ``key`` are in flight now (for tests)."""
    endpoint = _endpoints.get(key)
    return endpoint.in_flight if endpoint is not None else 0


def start(process: ProcessBase) -> None:
    """Start ``process`` now if its endpoint has a free set-up slot, else
    park it until one frees."""
    spec = _endpoint_of(process)
    if spec is None:
        process.start()
        return
    key, limit, first_alone = spec
    with _lock:
        endpoint = _endpoints.setdefault(key, _Endpoint())
        if not endpoint.room(limit, first_alone):
            process._fanout_queued = True  # waits, as for a fan-out slot
            endpoint.parked.append((process, limit, first_alone))
            return
        endpoint.in_flight += 1
        _holding[id(process)] = (endpoint, key, None)
    _spawn(process)


def _endpoint_of(process: ProcessBase) -> Optional[Tuple[Hashable, int, bool]]:
    declare = getattr(process, "setup_endpoint", None)
    spec = declare() if declare is not None else None
    if spec is None or not spec[1]:
        return None
    return (spec[0], spec[1], bool(spec[2:] and spec[2]))


def _spawn(process: ProcessBase) -> None:
    if _end_handler not in process.lifecycle_handlers:
        process.lifecycle_handlers.append(_end_handler)
    timer = get_conductor().call_later(HOLD_AT_MOST, setup_done, process)
    with _lock:
        held = _holding.get(id(process))
        if held is not None:
            _holding[id(process)] = (held[0], held[1], timer)
    process.start()


def setup_done(process: ProcessBase) -> None:
    """``process``'s connection set-up is over: its slot goes to the next
    process waiting for the same endpoint. Idempotent; any thread."""
    with _lock:
        held = _holding.pop(id(process), None)
        if held is None:
            return
        endpoint, key, timer = held
        endpoint.in_flight -= 1
        endpoint.opened = True
        following = _admit_next(endpoint, key)
    if timer is not None:
        timer.cancel()
    if following is not None:
        _spawn(following)


def _admit_next(endpoint: _Endpoint, key: Hashable) -> Optional[ProcessBase]:
    """With ``_lock`` held: the next parked process, given the free slot."""
    while endpoint.parked:
        process, limit, first_alone = endpoint.parked[0]
        if not endpoint.room(limit, first_alone):
            return None
        endpoint.parked.popleft()
        process._fanout_queued = False
        if process.started or process.ended:  # started by its user, or cancelled
            continue
        endpoint.in_flight += 1
        _holding[id(process)] = (endpoint, key, None)
        return process
    if endpoint.in_flight == 0:
        _endpoints.pop(key, None)
    return None


def cancel(processes: Iterable[ProcessBase]) -> List[ProcessBase]:
    """Take the processes still parked out of the gate; the caller ends
    them (see `execo.fanout.cancel`)."""
    targets = set(id(p) for p in processes)
    dropped: List[ProcessBase] = []
    with _lock:
        for endpoint in _endpoints.values():
            kept: Deque[Tuple[ProcessBase, int, bool]] = collections.deque()
            for entry in endpoint.parked:
                if id(entry[0]) in targets:
                    dropped.append(entry[0])
                else:
                    kept.append(entry)
            endpoint.parked = kept
    return dropped
