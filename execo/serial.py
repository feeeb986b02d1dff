"""Processes talking to a serial line: a board's console, a node's
console server port.

A serial process is a shell that sets the line (speed, raw, no echo, no
flow control), then copies the line to its stdout and its stdin to the
line: a script reads the console with ``expect`` and handlers and types
with ``write``, as with any process. `Serial` opens a local device,
`SerialSsh` one on a host through ssh, `RemoteSerial` one device per host
of a list. The copy ends when the process's stdin is closed or the
process is killed (the reader is the shell's child and dies with it).
"""

from __future__ import annotations

import shlex
from typing import Any, Dict, Iterable, List, Mapping, Optional

from execo.host import HostLike
from execo.process import Process
from execo.remote import Remote
from execo.ssh import SshProcess

__all__ = ["RemoteSerial", "Serial", "SerialSsh", "serial_command"]

# raw: no line editing nor signal characters, 8 bits as they come;
# clocal -crtscts: no modem lines nor hardware flow control to wait for
_LINE_SETTINGS = "raw -echo cs8 -cstopb -parenb clocal -crtscts -ixon -ixoff"


def serial_command(device: str, speed: Any) -> str:
    """The shell command copying between ``device`` (set at ``speed``) and
    stdin/stdout.

    >>> serial_command("/dev/ttyS0", 115200).split("&&")[0]
    'stty -F /dev/ttyS0 115200 raw -echo cs8 -cstopb -parenb clocal -crtscts -ixon -ixoff '
    """
    speed = int(speed)
    if speed <= 0:
        raise ValueError("a serial line speed is a positive number of bauds, not %r" % (speed,))
    # ``{{{host}}}`` in the device is kept unquoted for RemoteSerial's substitution
    quoted = device if "{{{host}}}" in device else shlex.quote(device)
    # the reader is killed when the writer ends (stdin closed) or the shell is signalled
    return ("stty -F %(dev)s %(speed)d %(settings)s && "
            "{ cat %(dev)s & reader=$!; "
            "trap 'kill $reader 2>/dev/null; exit 143' TERM HUP INT; "
            "cat > %(dev)s; kill $reader 2>/dev/null; }"
            % {"dev": quoted, "speed": speed, "settings": _LINE_SETTINGS})


class Serial(Process):
    """The serial line ``device`` of this machine at ``speed`` bauds.

    >>> console = Serial("/dev/ttyUSB0", 115200).start()  # doctest: +SKIP
    >>> console.write("\\n").expect("login: ")            # doctest: +SKIP
    """

    def __init__(self, device: str, speed: int, **kwargs: Any) -> None:
        self.device = device
        self.speed = speed
        kwargs["shell"] = True
        kwargs.setdefault("name", "serial %s" % device)
        super().__init__(serial_command(device, speed), **kwargs)

    def _args(self) -> List[str]:
        return [repr(self.device), repr(self.speed)]


class SerialSsh(SshProcess):
    """The serial line ``device`` of ``host``, through ssh."""

    def __init__(self, host: HostLike, device: str, speed: int,
                 connection_params: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        self.device = device
        self.speed = speed
        kwargs.setdefault("name", "serial %s on %s" % (device, host))
        super().__init__(serial_command(device, speed), host,
                         connection_params=connection_params, **kwargs)

    def _args(self) -> List[str]:
        return [repr(self.host), repr(self.device), repr(self.speed)]


class RemoteSerial(Remote):
    """The serial line ``device`` of each host (``{{{host}}}`` in ``device``
    is each host's address), through ssh; ``write`` types on every line."""

    def __init__(self, hosts: Iterable[HostLike], device: str, speed: int,
                 connection_params: Optional[Dict[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.device = device
        self.speed = speed
        hosts = list(hosts)
        kwargs.setdefault("name", "%s to %d hosts" % (type(self).__name__, len(hosts)))
        super().__init__(serial_command(device, speed), hosts,
                         connection_params=connection_params, process_args=process_args,
                         **kwargs)
