"""TaktukRemote, TaktukPut, TaktukGet: many hosts driven by ONE taktuk process.

What each action asks taktuk; the run itself (the local taktuk root, the
per-host processes fed by its output parser) is `execo.taktuk.driver`.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any, Dict, List, Mapping, Optional, Tuple

from execo.exception import ExecoValueError
from execo.host import Host
from execo.host_action import FromHostsTransfer, HostCommand, ToHostsTransfer
from execo.output import STDERR
from execo.process_base import Command
from execo.ssh import remote_command
from execo.substitution import Literal
from execo.taktuk.driver import TaktukAction, TaktukProcess, taktuk_command
import execo.taktuk.protocol as wire
from execo.transports import register_transport

__all__ = ["TaktukGet", "TaktukProcess", "TaktukPut", "TaktukRemote", "taktuk_command"]


class TaktukRemote(TaktukAction, HostCommand):
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
    and writing to a host's stdin is not supported (``write_error``). The
    connection param ``'pty': True`` runs each command under util-linux's
    ``script`` on its host, for the terminal output ssh ``-tt`` gives.
    Host addresses must not contain taktuk's host-list characters
    (brackets, commas, slashes, spaces).
    """

    def _new_process(self, cmd: Command, host: Host, args: Dict[str, Any]) -> TaktukProcess:
        words = [cmd] if isinstance(cmd, str) else cmd
        if any("\0" in word for word in words):
            # taktuk's shell would drop it silently and run another command
            raise ExecoValueError("command %r for %r holds a NUL byte, which no shell command"
                                  " can hold" % (cmd, host.address))
        return super()._new_process(cmd, host, args)

    def _host_arguments(self, index: int, params: Mapping[str, Any]) -> List[str]:
        cmd = self._processes[index].cmd
        text = cmd if isinstance(cmd, str) else shlex.join(cmd)
        if params.get('pty'):
            # taktuk runs commands on pipes and has no pty to offer: util-linux's
            # script(1) on the host gives the command the terminal ssh -tt would
            # (lines end in \r\n, stderr joins stdout, as execo 2.x's Remote).
            # The watchdog stays: nothing hangs that terminal up if taktuk dies.
            text = "script -qec %s /dev/null" % (shlex.quote(text),)
            params = dict(params, pty=False)
        return ["-[", "exec", "[", wire.encode_command(remote_command(text, params)), "]", "-]"]


# taktuk runs a file name through `echo` in a shell when it holds '$' or a
# backquote, opens it with Perl's two-argument open ('|' runs a command) and
# archives a directory with "cd NAME && tar": these characters would be code
_SHELL_CHARACTERS = re.compile(r"[;|&<>`\n]|\$\(")


def _check_taktuk_file_name(action: str, name: str) -> None:
    bad = _SHELL_CHARACTERS.search(name) or (isinstance(name, Literal) and "$" in name)
    if bad or name != name.strip():
        raise ExecoValueError("%s: file name %r cannot be given to taktuk, which hands file "
                              "names to a shell and to Perl's open; copy it with Put or "
                              "ChainPut" % (action, name))


class _TaktukTransfer(TaktukAction):
    """Put and Get: taktuk's own file transfer commands, issued for each
    host by its rank once taktuk has numbered every reachable host."""

    _verb = ""

    def _prepare_transport(self) -> None:
        super()._prepare_transport()
        self.cmd = "taktuk %s" % self._verb
        self._transfers: List[List[Tuple[str, str]]] = []  # what to ask taktuk, per host

    def _new_transfer(self, host: Host, address: str, sources: List[str], destination: str,
                      args: Dict[str, Any]) -> TaktukProcess:
        for name in sources + [destination]:
            _check_taktuk_file_name(type(self).__name__, name)
        pairs = [(source, destination) for source in sources]
        self._transfers.append(pairs)
        args.setdefault("name", "taktuk %s %s %s" % (
            self._verb, " ".join(sources), self._describe(address, destination)))
        return self._new_process(self.cmd, host, args)

    def _describe(self, address: str, where: str) -> str:
        raise NotImplementedError

    def _host_arguments(self, index: int, params: Mapping[str, Any]) -> List[str]:
        return []  # no command: transfers are asked once hosts are numbered

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

    def _signal_member(self, process: TaktukProcess, sig: int) -> None:
        # a transfer is no command taktuk could signal: the host is given up
        if not process.ended:
            self._give_up(process)

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


class TaktukPut(_TaktukTransfer, ToHostsTransfer, TaktukRemote):
    """Copy local files to many hosts with taktuk's ``put``, through its tree.

    >>> TaktukPut(["node-1"], ["data.bin"], "/tmp/{{{host}}}").run().ok  # doctest: +SKIP
    True

    One `TaktukProcess` per host: exit code 0 when every file arrived, 1
    (with taktuk's explanation on its stderr) otherwise. Paths are
    substituted per host; taktuk itself also expands ``$VARIABLES`` in them,
    through a shell: names holding shell syntax (``;``, ``|``, ``$(``,
    backquotes...), and `~execo.substitution.literal` names holding ``$``,
    are refused; copy those with `~execo.remote.Put` or `ChainPut`.
    """

    _verb = "put"
    _name_format = "TaktukPut to %d hosts"

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


class TaktukGet(_TaktukTransfer, FromHostsTransfer, TaktukRemote):
    """Copy files from many hosts to local directories with taktuk's ``get``.

    >>> TaktukGet(["node-1"], ["/tmp/out"], "logs/{{{host}}}").run().ok  # doctest: +SKIP
    True

    Per host, like `TaktukPut`: exit code 0 when every file arrived, 1
    otherwise; the local destination is substituted per host, so that each
    host's files land in their own (existing) directory.
    """

    _verb = "get"
    _name_format = "TaktukGet from %d hosts"

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


register_transport("taktuk", remote=TaktukRemote, put=TaktukPut, get=TaktukGet)
