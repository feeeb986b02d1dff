"""An ssh ``-L`` port forward that is ready when its ``with`` body starts.

A script reaching a service inside a cluster (a web UI, a database on a
node) from outside opens a forward through a gateway, then connects to a
local port. Connecting too early fails, and a fixed sleep is either too
short under load or wasted time, so entering a `PortForwarder` returns
once the local port is known to accept connections.

How we know without polling the port: OpenSSH binds and listens on every
``-L`` socket before it opens the session channel (with
``ExitOnForwardFailure=yes`` it exits 255 instead when a bind fails), so
the first line the remote command prints proves the listener exists. The
remote command prints a marker, then sleeps for as long as the forward is
wanted. Connecting to the port to check it would instead open a real
connection to the remote service, which a service may log or count.

A local port taken from ``configuration['port_range']`` (`get_port`) may
be in use by someone else: the forward is then retried on the next port.
A port given by the caller is not changed: its conflict is a failure.
"""

from __future__ import annotations

import threading
from typing import Any, List, Mapping, Optional

from execo.action import ProcessesFailed
from execo.config import configuration, declare_connection_params
from execo.connection import resolve_connection_params
from execo.host import Host, HostLike
from execo.output import ProcessOutputHandler
from execo.process_base import ProcessLifecycleHandler
from execo.ssh import SshProcess
from execo.time_utils import get_seconds
from execo.utils import get_port

__all__ = ["PortForwarder"]

_READY_MARKER = "execo-port-forwarder-ready"
# a year: the forward lasts until it is killed
_REMOTE_COMMAND = "echo %s && exec sleep 31536000" % _READY_MARKER
_DEFAULT_FORWARDING_TIMEOUT = 25.0
declare_connection_params({'forwarding_timeout': 25}, {
    'forwarding_timeout': "seconds a PortForwarder (execo.port_forwarder) may take to open "
                          "its local port",
})
_BIND_CONFLICT = ("Address already in use", "cannot listen to port")
# beyond this many ports in use in a row, something else is wrong
_MAX_PORT_TRIES = 20
# seconds allowed to a process to end after its SIGKILL is sent
_SIGKILL_GRACE = 5.0


class _ReadyWatcher(ProcessOutputHandler, ProcessLifecycleHandler):
    """Sets ``forwarding`` on the marker line, and ``settled`` on the marker
    or on the end of ssh. Called from the conductor thread: only sets
    events."""

    def __init__(self, forwarding: threading.Event, settled: threading.Event) -> None:
        ProcessOutputHandler.__init__(self)
        self.forwarding = forwarding
        self.settled = settled

    def read_line(self, process: Any, stream: int, string: str) -> None:
        if _READY_MARKER in string:
            self.forwarding.set()
            self.settled.set()

    def end(self, process: Any) -> None:
        self.settled.set()


class PortForwarder(SshProcess):
    """``ssh -L bind_address:local_port:remote_host:remote_port host``.

    Used as a context manager, the forward is ready when the body starts
    and closed when it ends; a forward still open at interpreter exit is
    killed with every other child. Entering raises `ProcessesFailed` when
    the forward cannot be set up within ``forwarding_timeout`` seconds (a
    connection param, as in 2.x; default 25).

    >>> with PortForwarder("gateway", "node-3", 8080) as forward:  # doctest: +SKIP
    ...     urlopen("http://127.0.0.1:%d/" % forward.local_port).read()

    :param host: the ssh server the forward goes through.
    :param remote_host: and ``remote_port``: where connections go, as seen
      from ``host``.
    :param local_port: the local port to listen on (default: from
      `execo.utils.get_port`, retried on the next one if taken).
    :param bind_address: the local address to listen on (default
      127.0.0.1: only this machine can use the forward).
    """

    def __init__(self, host: HostLike, remote_host: HostLike, remote_port: int,
                 local_port: Optional[int] = None, bind_address: Optional[str] = None,
                 connection_params: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        self.bind_address = bind_address or "127.0.0.1"
        self._port_given = bool(local_port)
        self.local_port = int(local_port) if local_port else get_port()
        self.remote_host = remote_host
        self.remote_port = int(remote_port)
        self.forwarding = threading.Event()
        self._settled = threading.Event()
        watcher = _ReadyWatcher(self.forwarding, self._settled)
        kwargs['stdout_handlers'] = list(kwargs.get('stdout_handlers') or []) + [watcher]
        kwargs['lifecycle_handlers'] = list(kwargs.get('lifecycle_handlers') or []) + [watcher]
        super().__init__(_REMOTE_COMMAND, host, connection_params=connection_params, **kwargs)

    def _reset_state(self) -> None:
        super()._reset_state()
        if hasattr(self, 'forwarding'):
            self.forwarding.clear()
            self._settled.clear()

    def _forward_spec(self) -> str:
        remote = Host(self.remote_host).address
        if ":" in remote:  # an IPv6 address
            remote = "[%s]" % remote
        return "%s:%d:%s:%d" % (self.bind_address, self.local_port, remote, self.remote_port)

    def _spawn_args(self) -> List[str]:
        argv = super()._spawn_args()
        # options go before the '--' that ends them, right before the host
        # (ssh_command's last word, the remote command coming after it)
        position = len(argv) - 3 if argv[-3] == '--' else len(argv) - 2
        argv[position:position] = ['-o', 'ExitOnForwardFailure=yes',
                                   '-L', self._forward_spec()]
        self.real_cmd = argv
        return argv

    @property
    def forwarding_timeout(self) -> Optional[float]:
        """Seconds allowed to set the forward up: the connection params'
        ``forwarding_timeout``, else ``configuration['forwarding_timeout']``."""
        params = resolve_connection_params(self.connection_params)
        timeout = params.get('forwarding_timeout')
        if timeout is None:
            timeout = configuration.get('forwarding_timeout', _DEFAULT_FORWARDING_TIMEOUT)
        return get_seconds(timeout)

    def _lost_port_race(self) -> bool:
        return (not self._port_given and not self.forwarding.is_set()
                and any(text in self.stderr for text in _BIND_CONFLICT))

    def wait_forwarding(self) -> "PortForwarder":
        """Start (if needed) and return once the local port accepts
        connections; raise `ProcessesFailed` if it does not within
        ``forwarding_timeout``."""
        timeout = self.forwarding_timeout
        # a lost race for a port is retried, not worth a warning; any
        # failure of the setup is raised anyway
        quiet = self.nolog_exit_code, self.nolog_error
        self.nolog_exit_code = self.nolog_error = True
        try:
            for tries_left in range(_MAX_PORT_TRIES - 1, -1, -1):
                self.start()
                self._settled.wait(timeout)
                if self.forwarding.is_set() and not self.ended:
                    return self
                if tries_left and self.ended and self._lost_port_race():
                    self.reset()
                    self.local_port = get_port()
                    continue
                break  # the last try stays as it ended: the caller sees why
            self.kill()
            self.wait(timeout)
            raise ProcessesFailed([self])
        finally:
            # from now on, a forward that breaks is worth a warning
            self.nolog_exit_code, self.nolog_error = quiet

    def __enter__(self) -> "PortForwarder":
        return self.wait_forwarding()

    def __exit__(self, *exc_info: Any) -> bool:
        # wait, so that the port is free again when the with statement ends,
        # also when ssh misses the SIGTERM and ends only by the SIGKILL
        # kill_timeout seconds later: waiting just that long would return
        # as the SIGKILL is sent, with the port still taken
        if self.running:
            self.kill()
        kill_timeout = configuration.get('kill_timeout')
        self.wait(None if kill_timeout is None else get_seconds(kill_timeout) + _SIGKILL_GRACE)
        return False

    def _args(self) -> List[str]:
        args = [repr(self.host), repr(self.remote_host), repr(self.remote_port),
                "local_port=%r" % (self.local_port,)]
        if self.bind_address != "127.0.0.1":
            args.append("bind_address=%r" % (self.bind_address,))
        if self.connection_params:
            args.append("connection_params=%r" % (self.connection_params,))
        return args

    def _infos(self) -> List[str]:
        return super()._infos() + ["forwarding=%s" % (self.forwarding.is_set(),)]
