"""The machinery of every taktuk action: one local taktuk root, one process per host.

taktuk deploys itself as a tree of ssh connections and multiplexes every
host's output back to its root. execo runs that root as one local
`Process` (`TaktukRoot`) whose stdout speaks the record format of
`execo.taktuk.protocol`, and turns each record, in the conductor thread,
into events of one `TaktukProcess` per host: output, exit, connection
failure. Those are `ProcessBase` objects like `Remote`'s, so `Report`,
``ok``, ``expect`` and lifecycle handlers treat both alike.

Hosts are given to taktuk with ``-m``, and every record names the
position on the command line it is about; positions are mapped back to
processes (``offset`` counts the hosts already named in
``taktuk_options``, e.g. a gateway). taktuk's root is kept interactive
(commands are read on its stdin) so that execo can kill one host's
command, start transfers once the hosts are numbered, and tell it to quit
when every host has ended.

The actions themselves are in `execo.taktuk.actions`.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import time
from typing import Any, Dict, List, Mapping, Optional

import execo.kill_policy as kill_policy
from execo.argv import option_words
from execo.config import declare_connection_params
from execo.conductor import TimerHandle, get_conductor
from execo.connection import connection_target, resolve_connection_params
from execo.host import Host, unbracketed
from execo.log import logger
from execo.output import STDERR, STDOUT
from execo.process import Process
from execo.fed_process import FedProcess
from execo.host_action import HostAction
from execo.process_base import Command
from execo.ssh import NONINTERACTIVE_SSH_OPTIONS
from execo.time_utils import get_seconds
import execo.taktuk.protocol as wire
from execo.exception import ExecoValueError

__all__ = ["TaktukAction", "TaktukProcess", "TaktukRoot", "connector_command",
           "taktuk_command"]

_HOST_OPTIONS = ("-m", "--machine", "-G", "--gateway")
_LOGIN_OPTIONS = ("-l", "--login")
# characters that taktuk would read as a host list ("node[1-3]", "a,b", "a/b")
_HOST_SPEC_CHARACTERS = re.compile(r"[\[\],/\s]")

# taktuk's connection params, documented beside its argv builder
declare_connection_params({
    'taktuk': 'taktuk',
    'taktuk_options': ('-s',),
    'taktuk_connector': 'ssh',
    'taktuk_connector_options': NONINTERACTIVE_SSH_OPTIONS,
}, {
    'taktuk': "taktuk command",
    'taktuk_options': "options given to taktuk before the hosts (-s self-propagation, "
                      "-w window...)",
    'taktuk_connector': "command taktuk uses to reach a host",
    'taktuk_connector_options': "options of the taktuk connector",
})


def taktuk_command(connection_params: Optional[Mapping[str, Any]] = None) -> List[str]:
    """taktuk's argv up to the hosts: machine-readable templates and
    ``taktuk_options`` (window, self-propagation...).

    >>> taktuk_command({'taktuk_options': ('-s', '-w', '5')})[-3:]
    ['-s', '-w', '5']
    """
    params = resolve_connection_params(connection_params)
    return (option_words(params['taktuk']) + wire.TEMPLATE_OPTIONS
            + ["-E", wire.ESCAPE_CHARACTER] + option_words(params.get('taktuk_options')))


def connector_command(params: Mapping[str, Any], keyfile: Optional[str], port: Optional[int],
                      user: Optional[str] = None) -> str:
    """The connector command line. taktuk runs it through ``/bin/sh`` with
    `` [-l login] host 'taktuk...'`` appended: it ends with ``--`` so that
    the host is never read as an option, and the login is given here,
    before it (a ``-l`` of taktuk's own would land after the ``--``: with
    one in ``taktuk_options``, the ``--`` is left out).

    >>> connector_command({'taktuk_connector': 'ssh'}, None, 2222, "u")
    'ssh -l u -p 2222 --'
    """
    argv = option_words(params.get('taktuk_connector') or 'ssh')
    argv += option_words(params.get('taktuk_connector_options'))
    if user is not None:
        argv += ['-l', str(user)]
    if keyfile is not None:
        argv += ['-i', str(keyfile)]
    if port is not None:
        argv += ['-p', str(port)]
    if not any(word in _LOGIN_OPTIONS for word in option_words(params.get('taktuk_options'))):
        argv.append('--')
    return shlex.join(argv)


class TaktukProcess(FedProcess):
    """One host's part of a taktuk run, fed by the run's record parser.

    ``kill()`` asks taktuk to signal this host's command (which needs
    taktuk's numbering, the default).
    """

    def _reset_state(self) -> None:
        super()._reset_state()
        self.position: Optional[str] = None
        """Position of the host on taktuk's command line."""
        self.rank: Optional[int] = None
        """taktuk's logical number of the host, once numbered."""
        self._pending_signal: Optional[int] = None
        # ended by execo without taktuk's word: taktuk may still be busy with it
        self._given_up = False
        self._last_connector_line = ""

    def _infos(self) -> List[str]:
        return super()._infos() + ["position=%s" % (self.position,), "rank=%s" % (self.rank,)]


class TaktukRoot(Process):
    """The local taktuk root. Its stdout goes to the record parser instead
    of a capture; its end ends every host still waiting for news."""

    def __init__(self, action: "TaktukAction") -> None:
        self._action_ref = action
        self._parser = wire.RecordParser()
        super().__init__(["taktuk"], default_stdout_handler=False, nolog_exit_code=True,
                         name="taktuk for %s" % (action.name,))

    def _spawn_args(self) -> List[str]:
        self.cmd = self._action_ref._taktuk_argv()
        return list(self.cmd)

    def _deliver_output(self, stream: int, data: bytes, eof: bool = False,
                        error: bool = False) -> None:
        if stream != STDOUT:
            super()._deliver_output(stream, data, eof, error)
            return
        records = self._parser.feed(data) if data else []
        if eof or error:
            records += self._parser.flush()
        handle = self._action_ref._on_record
        for record in records:
            try:
                handle(record)
            except Exception:  # one bad record must not lose the others
                logger.exception("taktuk record %r could not be handled", record)

    def _set_ended(self, exit_code: Optional[int] = None, error_reason: Optional[str] = None,
                   end_date: Optional[float] = None) -> None:
        super()._set_ended(exit_code, error_reason, end_date)
        self._action_ref._on_run_ended(self)


class TaktukAction(HostAction):
    """What TaktukRemote, TaktukPut and TaktukGet share: one taktuk run,
    positions mapped to processes, events dispatched to them. It is the
    feeder of its `TaktukProcess` objects."""

    def _prepare_transport(self) -> None:
        self._run: Optional[TaktukRoot] = None
        self._by_position: Dict[str, TaktukProcess] = {}
        self._quit_sent = False
        self._hard_kill_timer: Optional[TimerHandle] = None
        for address in self._addresses:
            if "[" in address and ":" in address:
                raise ExecoValueError("host address %r cannot be given to taktuk, which reads "
                                      "brackets as a host list: write the IPv6 address "
                                      "without them (%r)" % (address, unbracketed(address)))
            if _HOST_SPEC_CHARACTERS.search(address):
                raise ExecoValueError("host address %r cannot be given to taktuk: it would read "
                                 "brackets, commas, slashes and spaces as a host list"
                                 % (address,))

    def _new_process(self, cmd: Command, host: Host, args: Dict[str, Any]) -> TaktukProcess:
        return TaktukProcess(cmd, host, feeder=self, **args)

    # ---- what subclasses say -------------------------------------------------

    def _host_arguments(self, index: int, params: Mapping[str, Any]) -> List[str]:
        """Arguments after ``-m host`` for the index-th host."""
        return []

    def _on_numbered(self, process: TaktukProcess) -> None:
        pass

    def _on_transfer_event(self, code: int, position: str, peer: str) -> None:
        pass

    def _on_terminated(self, process: TaktukProcess) -> None:
        process._end(None, "taktuk on %r ended before reporting the end of the command"
                     % (process.host.address,))

    # ---- launching ------------------------------------------------------------

    def _taktuk_argv(self) -> List[str]:
        """Called when the run starts, from the params and addresses the
        action resolved for this run (connection defaults changed after
        the action was built apply)."""
        params = self._run_params  # resolved when the run started (HostAction._resolve_run)
        argv = taktuk_command(params)
        offset = sum(1 for word in option_words(params.get('taktuk_options'))
                     if word in _HOST_OPTIONS)
        # Hosts sharing a connector (login, keyfile, port) are grouped, so
        # that each connector is given once. Positions follow this order,
        # not the action's.
        targets = [(connection_target(p.host, params, self._run_address(p.host)), index)
                   for index, p in enumerate(self._processes)]
        targets.sort(key=lambda item: (item[0].user is not None, item[0].user or "", item[1]))
        connector = None
        self._by_position = {}
        for number, (target, index) in enumerate(targets):
            process = self._processes[index]
            host_connector = connector_command(params, target.keyfile, target.port, target.user)
            if host_connector != connector:
                argv += ["-c", host_connector]
                connector = host_connector
            argv += ["-m", target.address] + self._host_arguments(index, params)
            position = str(offset + number + 1)
            self._by_position[position] = process
            process.position = position
        return argv

    def _launch(self) -> None:
        self._quit_sent = False
        self._hard_kill_timer = None
        if not self._processes:
            self._set_ended()
            return
        now = time.time()
        for process in self._processes:
            process._begin(now)
        conductor = get_conductor()
        self._run = TaktukRoot(self)
        # queued before the run starts: hosts are announced started before
        # anything (even a failure to spawn taktuk) can end them
        conductor.call_soon(self._announce_started)
        self._run.start()
        conductor.call_soon(self._prepare)

    def _announce_started(self) -> None:
        for process in self._processes:
            process._announce()

    def _prepare(self) -> None:
        """Conductor thread, once taktuk is started: hosts that end before
        taktuk is asked anything (e.g. a missing local file)."""

    # ---- records (conductor thread) ---------------------------------------------

    def _on_record(self, record: wire.Record) -> None:
        kind = record.kind
        if kind in ("O", "E"):
            process = self._by_position.get(record.position)
            if process is not None and not process.ended:
                process._deliver_output(STDOUT if kind == "O" else STDERR, record.data)
        elif kind == "S":
            process = self._by_position.get(record.position)
            if process is not None and not process.ended:
                exit_code = wire.exit_code_from_status(record.fields[1])
                process._end(exit_code, None if exit_code is not None else
                             "taktuk reported an unreadable status %r" % (record.fields[1],))
                self._host_ended()
        elif kind == "T":
            self._on_state(record)
        elif kind == "C":
            self._on_connector_line(record)
        elif kind == "K":
            self._on_diagnostic(record)
        elif kind == "junk":
            logger.warning("unexpected output of taktuk, ignored: %r", record.data[:500])
        else:
            logger.debug("taktuk %s: %r", record.fields, record.data[:500])

    def _on_state(self, record: wire.Record) -> None:
        position, code, rank = record.position, int(record.fields[2]), int(record.fields[3])
        peer = wire.peer_of(record)
        process = self._by_position.get(position)
        if process is not None and rank >= 0 and process.rank != rank:
            process.rank = rank
            if process._pending_signal is not None:
                self._send_kill(process, process._pending_signal)
        if code == wire.EVENT_CONNECTION_FAILED:
            self._fail_peer(peer, "taktuk could not connect to %r: %s")
        elif code == wire.EVENT_CONNECTION_LOST:
            self._fail_peer(peer, "taktuk lost its connection to %r: %s")
            # the hosts that peer was deploying are lost with it
            for given in record.data.decode("utf-8", "replace").split():
                lost = self._by_position.get(given.rpartition(":")[2])
                if lost is not None and not lost.ended:
                    lost._end(None, "taktuk lost the connection to %r through which %r was "
                              "reached" % (self._address_at(peer), lost.host.address))
            self._host_ended()
        elif process is None:
            if position == "0" or peer:
                self._on_transfer_event(code, position, peer)
        elif code == wire.EVENT_COMMAND_FAILED:
            process._end(None, "taktuk could not start the command on %r"
                         % (process.host.address,))
            self._host_ended()
        elif code == wire.EVENT_NUMBERED:
            self._on_numbered(process)
        elif code == wire.EVENT_TERMINATED:
            if not process.ended:
                self._on_terminated(process)
                self._host_ended()
        else:
            self._on_transfer_event(code, position, peer)

    def _address_at(self, position: str) -> str:
        process = self._by_position.get(position)
        return process.host.address if process is not None else "position %s" % position

    def _fail_peer(self, peer: str, reason: str) -> None:
        process = self._by_position.get(peer)
        if process is None or process.ended:
            return
        detail = process._last_connector_line or "no message from the connector"
        process._end(None, reason % (process.host.address, detail))
        self._host_ended()

    def _on_connector_line(self, record: wire.Record) -> None:
        # what ssh says about a host is that host's stderr, as with Remote
        process = self._by_position.get(wire.peer_of(record))
        line = record.data.rstrip(b"\r\n")
        if process is not None and not process.ended:
            process._last_connector_line = line.decode("utf-8", "replace").strip()
            process._deliver_output(STDERR, line + b"\n")
        else:
            logger.debug("taktuk connector at %s: %r", record.fields, line)

    def _on_diagnostic(self, record: wire.Record) -> None:
        process = self._by_position.get(record.position)
        if process is not None and not process.ended:
            process._deliver_output(STDERR, b"taktuk: " + record.data.rstrip(b"\n") + b"\n")
        else:
            logger.debug("taktuk diagnostic at position %s: %s", record.position,
                         record.data.decode("utf-8", "replace"))

    # ---- ending -----------------------------------------------------------------

    def _host_ended(self) -> None:
        if not all(process.ended for process in self._processes):
            return
        self._send_quit()
        # taktuk would not quit before what it still does for a host given
        # up (a deployment, a transfer) is over, and nobody waits for that
        run = self._run
        if run is not None and run.running and any(p._given_up for p in self._processes):
            run.kill()

    def _send(self, text: str) -> None:
        run = self._run
        if run is not None and run.running and not self._quit_sent:
            run.write(text)

    def _send_quit(self) -> None:
        run = self._run
        if self._quit_sent or run is None:
            return
        self._send("quit\n")
        self._quit_sent = True
        run.close_stdin()

    def _on_run_ended(self, run: TaktukRoot) -> None:
        if run is not self._run:
            return
        if self._hard_kill_timer is not None:
            self._hard_kill_timer.cancel()
        stderr_lines = [line for line in run.stderr.splitlines() if line.strip()]
        why = run.error_reason or ("exit code %s" % (run.exit_code,))
        if stderr_lines:
            why += ": " + stderr_lines[-1].strip()
        for process in self._processes:
            if process.ended:
                continue
            if process.killed or self._kill_requested:
                process.killed = True
                process._end(None, None)
            else:
                process._end(None, "taktuk ended (%s) before reporting on %r"
                             % (why, process.host.address))

    def _signal_member(self, process: TaktukProcess, sig: int) -> None:
        """Conductor thread: signal one host's command through taktuk.

        A host taktuk has not numbered yet has no command to signal: it is
        given up at once (the signal is still sent if taktuk reaches it),
        so that a timeout is not delayed by a slow deployment."""
        if process.ended:
            return
        if process.rank is None:
            process._pending_signal = sig
            self._give_up(process)
            return
        self._send_kill(process, sig)

    def _send_kill(self, process: TaktukProcess, sig: int) -> None:
        process._pending_signal = None
        self._send("%d kill %d\n" % (process.rank, sig))

    def _give_up(self, process: TaktukProcess) -> None:
        process._given_up = True
        process._end(None, None)
        self._host_ended()

    # ---- control (any thread) ---------------------------------------------------

    def kill(self) -> "TaktukAction":
        """Kill every host's command: taktuk signals them, then quits; if it
        has not within ``configuration['kill_timeout']`` seconds, the local
        taktuk is killed, which closes every connection (the remote
        commands then die of their watchdog, see `execo.ssh`)."""
        self._kill_requested = True
        for process in self._processes:
            if process.started and not process.ended:
                process.killed = True
        if self._run is not None and self._run.started and not self._run.ended:
            get_conductor().call_soon(self._kill_run)
        return self

    def _kill_run(self) -> None:
        run = self._run
        if run is None or run.ended:
            return
        self._send("broadcast kill %d\n" % signal.SIGTERM)
        self._send_quit()
        self._hard_kill_timer = get_conductor().call_later(
            kill_policy.force_kill_delay(signal.SIGTERM), run.kill)

    def wait(self, timeout: Any = None) -> "TaktukAction":
        """Wait for every host, then for the local taktuk to exit."""
        timeout = get_seconds(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        super().wait(timeout)
        run = self._run
        if self.ended and run is not None and run.started:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            run.wait(remaining)
        return self

    def _reset_members(self) -> None:
        run = self._run
        if run is not None and run.running:
            run.kill(signal.SIGKILL)
            run.wait()
        self._run = None
        super()._reset_members()

    @property
    def taktuk(self) -> Optional[Process]:
        """The local taktuk process of the current run (None before start)."""
        return self._run
