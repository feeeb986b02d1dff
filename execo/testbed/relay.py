"""A delaying TCP relay: the latency of an emulated test bed.

This kernel has no ``netem``, so a link cannot delay packets by itself.
Where latency is the point (reaching sshds), each host's relayed ports
are served by this relay instead: it listens on the host's address inside
the host's network namespace, forwards each connection to the same port
on 127.0.0.1 of that namespace, and holds every chunk of data, in each
direction, for the one-way delay of the path between the two ends (the
sum of the delays of the links crossed, read from the peer's address).
A TCP round trip through it therefore takes twice that, plus the
kernel's own, tiny, time.

One process serves the whole bed: its sockets are created inside each
namespace (a socket keeps the namespace it was created in), so the
process itself stays in this machine's namespace, outside every host:
freezing a host stops its sshd, not the relay, as a hung host would.

It runs as a script (no execo import: it starts fast and is small), fed
on stdin with JSON lines: the first one says what to listen on, every
later one may change the delays. It prints ``ready`` once it listens, and
exits when its stdin closes: its owner's death ends it.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import json
import os
import selectors
import socket
import sys
from typing import Any, Deque, Dict, Optional, Tuple

__all__ = ["DelayModel", "main"]

_CLONE_NEWNET = 0x40000000
# past this much data held back in one direction, stop reading that side:
# TCP's own flow control then slows the sender, as a real link would
_MAX_HELD = 4 << 20


class DelayModel:
    """One-way delay between two addresses of the bed: each end's link
    delay, plus, between different sites, each site's uplink delay (the
    frontend, site -1, sits on the backbone switch: it has no uplink)."""

    def __init__(self) -> None:
        self.links: Dict[str, Tuple[int, float]] = {}
        self.uplinks: Dict[int, float] = {}

    def update(self, message: Dict[str, Any]) -> None:
        if "links" in message:
            self.links = {address: (int(site), float(delay))
                          for address, (site, delay) in message["links"].items()}
        if "uplinks" in message:
            self.uplinks = {int(site): float(delay)
                            for site, delay in message["uplinks"].items()}

    def one_way(self, source: str, destination: str) -> float:
        dst_site, dst_delay = self.links.get(destination, (-1, 0.0))
        if source not in self.links:
            return dst_delay
        src_site, src_delay = self.links[source]
        total = src_delay + dst_delay
        if src_site != dst_site:
            total += self.uplinks.get(src_site, 0.0) + self.uplinks.get(dst_site, 0.0)
        return total


class _Lateness:
    """How late timers fire in this process: a moving average, bounded."""

    def __init__(self) -> None:
        self.estimate = 0.0

    def observe(self, late: float) -> None:
        late = min(max(late, 0.0), 0.002)
        self.estimate += 0.05 * (late - self.estimate)


_lateness = _Lateness()


class _Direction:
    """One direction of a relayed connection: chunks held until due."""

    def __init__(self, loop: asyncio.AbstractEventLoop, source: "_Side") -> None:
        self.loop = loop
        self.source = source
        self.sink: Optional[asyncio.Transport] = None
        self.held: Deque[Tuple[float, Optional[bytes]]] = collections.deque()
        self.held_bytes = 0
        self.timer: Optional[asyncio.TimerHandle] = None
        self.requested = 0.0

    def push(self, due: float, data: Optional[bytes], delay: float) -> None:
        """Queue ``data`` (None: end of stream) to be sent at ``due``, or
        send it now if the path has no delay and nothing is held before it:
        a timer per chunk would cost a loop turn for nothing (~10 % of the
        relay's CPU in a fan-out of ``true`` to 50 hosts at 0 ms)."""
        if delay <= 0.0 and not self.held and self.sink is not None:
            self._send(data)
            return
        self.held.append((due, data))
        if data:
            self.held_bytes += len(data)
            if self.held_bytes > _MAX_HELD:
                self.source.pause()
        self._arm()

    def _arm(self) -> None:
        if self.timer is None and self.held and self.sink is not None:
            # ask to be woken a little early: a loaded machine wakes a
            # sleeping process late, and that lateness would add to every
            # delay (~0.3 ms per direction measured here, 6 % of a 10 ms RTT)
            self.requested = self.held[0][0] - _lateness.estimate
            self.timer = self.loop.call_at(self.requested, self._flush)

    def _flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        _lateness.observe(now - self.requested)
        # what falls due before the next wake-up could come is due now
        horizon = now + _lateness.estimate
        while self.held and self.held[0][0] <= horizon and self.sink is not None:
            _, data = self.held.popleft()
            if data is not None:
                self.held_bytes -= len(data)
            self._send(data)
        if self.held_bytes <= _MAX_HELD // 2:
            self.source.resume()
        self._arm()

    def _send(self, data: Optional[bytes]) -> None:
        assert self.sink is not None
        if data is None:
            if self.sink.can_write_eof():
                self.sink.write_eof()
        elif not self.sink.is_closing():
            self.sink.write(data)

    def attach(self, sink: asyncio.Transport) -> None:
        self.sink = sink
        self._arm()


class _Side(asyncio.Protocol):
    """One end of a relayed connection (the accepted one or the one to the
    local service); what it reads goes out, delayed, on the other end."""

    def __init__(self, relay: "_Relay", delay: float) -> None:
        self.relay = relay
        self.delay = delay
        self.transport: Optional[asyncio.Transport] = None
        self.outgoing = _Direction(relay.loop, self)
        self.peer: Optional["_Side"] = None
        self.paused = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.outgoing.push(self.relay.loop.time() + self.delay, data, self.delay)

    def eof_received(self) -> bool:
        self.outgoing.push(self.relay.loop.time() + self.delay, None, self.delay)
        return True  # keep writing the other direction

    def connection_lost(self, exc: Optional[Exception]) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            if exc is not None:
                peer.transport.abort()  # a reset travels as a reset
            else:
                self.relay.loop.call_at(self.relay.loop.time() + self.delay,
                                        peer.transport.close)

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume()


class _Relay:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.model = DelayModel()
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self._namespaces: Dict[str, int] = {}

    def _socket_in(self, netns: str) -> socket.socket:
        """A TCP socket of namespace ``netns`` (a /run/netns path)."""
        fd = self._namespaces.get(netns)
        if fd is None:
            fd = self._namespaces[netns] = os.open(netns, os.O_RDONLY)
        self._setns(fd)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            self._setns(self._home)

    def _setns(self, fd: int) -> None:
        if self._libc.setns(fd, _CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, "setns: %s" % os.strerror(error))

    async def listen(self, netns: str, address: str, port: int) -> None:
        sock = self._socket_in(netns)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(1024)
        sock.setblocking(False)

        def accepted() -> asyncio.Protocol:
            return _Accepted(self, netns, address, port)

        await self.loop.create_server(accepted, sock=sock)

    async def connect_local(self, accepted: "_Accepted") -> None:
        sock = self._socket_in(accepted.netns)
        sock.setblocking(False)
        try:
            await self.loop.sock_connect(sock, ("127.0.0.1", accepted.port))
            _, side = await self.loop.create_connection(
                lambda: _Side(self, accepted.delay), sock=sock)
        except OSError:
            sock.close()
            if accepted.transport is not None:
                accepted.transport.abort()
            return
        side.peer, accepted.peer = accepted, side
        side.transport.set_write_buffer_limits(high=1 << 20)
        accepted.outgoing.attach(side.transport)
        side.outgoing.attach(accepted.transport)


class _Accepted(_Side):
    def __init__(self, relay: _Relay, netns: str, address: str, port: int) -> None:
        super().__init__(relay, 0.0)
        self.netns = netns
        self.address = address
        self.port = port

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.set_write_buffer_limits(high=1 << 20)
        peer_address = transport.get_extra_info("peername")[0]
        self.delay = self.relay.model.one_way(peer_address, self.address)
        self.relay.loop.create_task(self.relay.connect_local(self))


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    relay = _Relay(loop)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    setup = json.loads(await reader.readline())
    relay.model.update(setup)
    for listener in setup["listeners"]:
        for port in listener["ports"]:
            await relay.listen(listener["netns"], listener["address"], int(port))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        line = await reader.readline()
        if not line:
            return  # the owner is gone
        if line.strip():
            relay.model.update(json.loads(line))
            sys.stdout.write("updated\n")
            sys.stdout.flush()


def _raise_priority() -> None:
    """Be woken up before the busy processes of a loaded machine: every
    scheduling delay here adds to the emulated latency. A low real-time
    priority where allowed (root; the relay only ever waits for events,
    and the kernel keeps 5 % of each core for others whatever happens),
    else a better nice level, else nothing."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        return
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass


def main() -> int:
    _raise_priority()
    # select(2) takes timeouts in microseconds, epoll(7) in milliseconds,
    # rounded up: with epoll every chunk would be held up to 1 ms too long
    # (~1 ms more per round trip, 10 % of a 10 ms one). A bed keeps well
    # under select's 1024 descriptors.
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(_serve())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
