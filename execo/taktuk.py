"""TaktukRemote, TaktukPut, TaktukGet: many hosts driven by ONE taktuk process.

What each action asks taktuk; the run itself (the local taktuk root, the
per-host processes fed by its output parser) is `execo.taktuk_run`.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from execo.host import HostLike
from execo.output import STDERR
from execo.ssh import remote_command
from execo.taktuk_run import TaktukAction, TaktukProcess, taktuk_command
from execo import taktuk_protocol as wire

__all__ = ["TaktukGet", "TaktukProcess", "TaktukPut", "TaktukRemote", "taktuk_command"]


class TaktukRemote(TaktukAction):
    """Run a command on many hosts through one taktuk process.

    >>> TaktukRemote("hostname", ["node-1", "node-2"]).run().ok  # doctest: +SKIP
    True

    Same arguments and results as `execo.remote.Remote`: one
    `TaktukProcess` per host, in host order, with its own stdout, stderr,
    exit code and error, ``{{{host}}}`` and ``{{expr}}`` substituted per
    host. The connector is ``taktuk_connector`` with
    ``taktuk_connector_options`` (the ssh options, e.g. a test bed's
    ``-F config``); hosts may have their own user, keyfile and port.
    ``taktuk_options`` go to taktuk before the hosts (``-s``
    self-propagation, ``-w`` window, ``-d`` arity...). Commands run through
    ``/bin/sh`` on each host, prefixed with the watchdog of `execo.ssh`
    that kills them when the connection is lost. Process keywords that
    only make sense locally (``pty``, ``shell``, ``cwd``...) are ignored,
    and writing to a host's stdin is not supported (``write_error``).
    Host addresses must not contain taktuk's host-list characters
    (brackets, commas, slashes, spaces).
    """

    def _host_arguments(self, index: int, params: Mapping[str, Any]) -> List[str]:
        cmd = self._processes[index].cmd
        text = cmd if isinstance(cmd, str) else shlex.join(cmd)
        return ["-[", "exec", "[", wire.encode_command(remote_command(text, params)), "]", "-]"]


class _TaktukTransfer(TaktukAction):
    """Put and Get: taktuk's own file transfer commands, issued for each
    host by its rank once taktuk has numbered every reachable host."""

    _verb = ""

    def _init_transfers(self, hosts: Iterable[HostLike], sources: List[str], destination: str,
                        connection_params: Any, connexion_params: Any, process_args: Any,
                        kwargs: Dict[str, Any], name: Callable[[], str]) -> None:
        self._setup(hosts, connection_params, connexion_params, process_args, kwargs, name)
        self._init_run_state()
        templates = self._templates(sources, [destination], self._handler_paths())
        count = len(sources)
        source_templates, target, paths = templates[:count], templates[count], templates[count + 1:]
        self._transfers: List[List[Tuple[str, str]]] = []  # what to ask taktuk, per host
        processes = []
        for index, (host, address) in enumerate(zip(self._hosts, self._addresses)):
            where = target.render(address, index)
            pairs = [(t.render(address, index), where) for t in source_templates]
            self._transfers.append(pairs)
            args = self._process_args_for(address, index, paths)
            args.setdefault("name", "taktuk %s %s %s" % (
                self._verb, " ".join(src for src, _ in pairs), self._describe(address, where)))
            processes.append(self._new_process("taktuk %s" % self._verb, host, args))
        self._set_processes(processes if sources else [])

    def _describe(self, address: str, where: str) -> str:
        raise NotImplementedError

    def _launch(self) -> None:
        self._done: Dict[int, int] = {}
        self._failed: Dict[int, int] = {}
        self._to_send = [list(pairs) for pairs in self._transfers]
        self._commands_sent = False
        super()._launch()

    def _index(self, process: TaktukProcess) -> int:
        return self._processes.index(process)

    def _count(self, process: Optional[TaktukProcess], ok: bool, why: str = "") -> None:
        if process is None or process.ended:
            return
        index = self._index(process)
        table = self._done if ok else self._failed
        table[index] = table.get(index, 0) + 1
        if not ok:
            process._deliver_output(STDERR, ("taktuk: %s\n" % why).encode())
        if self._done.get(index, 0) + self._failed.get(index, 0) >= len(self._transfers[index]):
            process._end(1 if self._failed.get(index) else 0, None)
            self._host_ended()

    def _on_numbered(self, process: TaktukProcess) -> None:
        self._maybe_send_commands()

    def _kill_host(self, process: TaktukProcess, sig: int) -> None:
        # a transfer is no command taktuk could signal: the host is given up
        process._end(None, None)
        self._host_ended()

    def _on_terminated(self, process: TaktukProcess) -> None:
        process._end(None, "taktuk on %r ended before the transfer was over"
                     % (process.host.address,))

    def _host_ended(self) -> None:
        self._maybe_send_commands()
        super()._host_ended()

    def _maybe_send_commands(self) -> None:
        # multicast commands address hosts by rank, known once every host
        # is numbered (or has failed)
        if self._commands_sent or any(p.rank is None and not p.ended for p in self._processes):
            return
        self._commands_sent = True
        lines = []
        for index, process in enumerate(self._processes):
            if process.ended:
                continue
            for source, target in self._to_send[index]:
                lines.append("%d %s [ %s ] [ %s ]\n" % (
                    process.rank, self._verb, wire.escape_argument(source),
                    wire.escape_argument(target)))
        if lines:
            self._send("".join(lines))


class TaktukPut(_TaktukTransfer):
    """Copy local files to many hosts with taktuk's ``put``, through its tree.

    >>> TaktukPut(["node-1"], ["data.bin"], "/tmp/{{{host}}}").run().ok  # doctest: +SKIP
    True

    One `TaktukProcess` per host: exit code 0 when every file arrived, 1
    (with taktuk's explanation on its stderr) otherwise. Paths are
    substituted per host; taktuk itself also expands ``$VARIABLES`` in them.
    """

    _verb = "put"

    def __init__(self, hosts: Iterable[HostLike], local_files: Iterable[str],
                 remote_location: str = ".", connection_params: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Dict[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.local_files = [local_files] if isinstance(local_files, str) else list(local_files)
        self.remote_location = remote_location
        self.cmd = "taktuk put"
        self._init_transfers(hosts, self.local_files, remote_location, connection_params,
                             connexion_params, process_args, kwargs,
                             lambda: "TaktukPut to %d hosts" % len(self._hosts))

    def _describe(self, address: str, where: str) -> str:
        return "to %s:%s" % (address, where)

    def _prepare(self) -> None:
        # taktuk's failure to read a local file names no host: check first
        for index, process in enumerate(self._processes):
            missing = [s for s, _ in self._transfers[index] if not os.path.exists(s)]
            self._to_send[index] = [(s, t) for s, t in self._to_send[index]
                                    if s not in missing]
            for source in missing:
                self._count(process, False, "local file %r does not exist" % source)

    def _on_transfer_event(self, code: int, position: str, peer: str) -> None:
        process = self._by_position.get(position)
        if code == wire.EVENT_RECEPTION_TERMINATED:
            self._count(process, True)
        elif code == wire.EVENT_RECEPTION_FAILED:
            self._count(process, False, "file reception failed on %r" % self._address_at(position))


class TaktukGet(_TaktukTransfer):
    """Copy files from many hosts to local directories with taktuk's ``get``.

    >>> TaktukGet(["node-1"], ["/tmp/out"], "logs/{{{host}}}").run().ok  # doctest: +SKIP
    True

    Per host, like `TaktukPut`: exit code 0 when every file arrived, 1
    otherwise; the local destination is substituted per host, so that each
    host's files land in their own (existing) directory.
    """

    _verb = "get"

    def __init__(self, hosts: Iterable[HostLike], remote_files: Iterable[str],
                 local_location: str = ".", connection_params: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Dict[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.remote_files = [remote_files] if isinstance(remote_files, str) else list(remote_files)
        self.local_location = local_location
        self.cmd = "taktuk get"
        self._init_transfers(hosts, self.remote_files, local_location, connection_params,
                             connexion_params, process_args, kwargs,
                             lambda: "TaktukGet from %d hosts" % len(self._hosts))

    def _describe(self, address: str, where: str) -> str:
        return "from %s to %s" % (address, where)

    def _on_transfer_event(self, code: int, position: str, peer: str) -> None:
        # receptions happen on the root (position 0) and name the sender as
        # peer; a send failure is reported by the sender itself
        if code == wire.EVENT_RECEPTION_TERMINATED and position == "0":
            self._count(self._by_position.get(peer), True)
        elif code == wire.EVENT_RECEPTION_FAILED and position == "0":
            self._count(self._by_position.get(peer), False, "local file reception failed")
        elif code == wire.EVENT_SEND_FAILED:
            self._count(self._by_position.get(position), False,
                        "%r could not send the file" % self._address_at(position))
