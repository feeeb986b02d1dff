"""ChainPut: broadcast files along a chain of hosts, each storing and forwarding.

The files leave this machine once, as a tar stream, through ssh to the
first host; each host unpacks the stream into its directory while ``tee``
forwards it, at the same moment, through ssh to the next host. With the
chain full, every link carries the stream at once, so the whole copy
takes about as long as one copy, whatever the number of hosts.

Every hop runs the same small POSIX sh program (`_HOP`), carried along
the chain as an argument; the per-hop data (destination directory, how
to reach the next host) travels as printf octal escapes, which need no
quoting at any depth. Each hop reports ``execo-chainput <index> ok`` or
``... failed <why>`` on its stdout, which ssh carries back up the chain
to the local side. A host that is never heard of sits behind a broken
link: the next round builds a new chain of the hosts still missing, with
the first silent host (the likely culprit) moved to its end, so that a
dead host can only cut itself off; a host suspected twice is given up.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from typing import Any, Dict, List, Optional

from execo.action import Action
from execo.argv import printf_escape
from execo.conductor import get_conductor
from execo.config import declare_connection_params
from execo.fed_process import FedProcess
from execo.host import Host
from execo.host_action import ToHostsTransfer
from execo.log import logger
from execo.output import STDERR, ProcessOutputHandler
from execo.process import Process
from execo.ssh import ssh_command
from execo.transports import register_transport

__all__ = ["ChainPut"]

# ChainPut's connection params; execo 2.x's netcat ChainPut had more,
# accepted so that 2.x files load
declare_connection_params({
    'chainput_chain_retry': 10,
    'nc': 'nc',
    'chainput_nc_client_timeout': 5,
    'chainput_nc_server_timeout': 30,
    'chainput_host_retry': 5,
    'chainput_try_delay': 1,
}, {
    'chainput_chain_retry': "ChainPut: rounds of new chains tried for the hosts a chain "
                            "did not reach",
    'nc': "no effect: ChainPut streams through ssh, not netcat (kept for execo 2.x files)",
    'chainput_nc_client_timeout': "no effect (execo 2.x's netcat ChainPut)",
    'chainput_nc_server_timeout': "no effect (execo 2.x's netcat ChainPut)",
    'chainput_host_retry': "no effect (execo 2.x's netcat ChainPut)",
    'chainput_try_delay': "no effect (execo 2.x's netcat ChainPut)",
})

# $1 index, $2 destination, $3 argv (shell words) reaching the next host,
# or empty on the last host; $4... the next hop's own arguments. fd 5 is
# the channel back to the local side. No single quote in it: it travels
# inside single quotes. Nothing but builtins runs before the next hop's
# ssh starts: the chain is set up one hop after the other, so a process
# started first (mktemp) would delay every later hop (store's mktemp runs
# beside it, and a host that cannot store still forwards).
_HOP = r"""
exec 5>&1
idx=$1; dest=$(printf "$2"); next=$(printf "$3"); shift 3
report() { printf "execo-chainput %s %s\n" "$idx" "$*" >&5; }
store() {
  err=$(mktemp) || { report failed cannot create a temporary file; return; }
  if tar -xf - -C "$dest" >/dev/null 2>"$err"; then report ok
  else report failed "$(tr "\n" " " <"$err")"; fi
  rm -f "$err"
}
if [ -z "$next" ]; then
  store
else
  hop="sh -c \"eval \\\"\\\$(printf \\\"\\\$0\\\")\\\"\" \"$0\""
  for arg in "$@"; do hop="$hop \"$arg\""; done
  { tee -p /dev/fd/4 | store; } 4>&1 | eval "$next \"\$hop\""
fi
"""
# how a login shell starts a hop: decode $0 (the program) and run it
_BOOT = "sh -c 'eval \"$(printf \"$0\")\"'"
_REPORT = re.compile(r"^execo-chainput (\d+) (ok|failed)(?: (.*))?$")


class _ReportReader(ProcessOutputHandler):
    """Conductor thread: hands each hop's report to the action."""

    def __init__(self, action: "ChainPut", chain: List[int]) -> None:
        super().__init__()
        self.action = action
        self.chain = chain

    def read_line(self, process: Any, stream: int, string: str) -> None:
        match = _REPORT.match(string.strip())
        if match is None:
            return
        position = int(match.group(1))
        if 0 <= position < len(self.chain):
            self.action._on_report(self.chain[position], match.group(2) == "ok",
                                   match.group(3) or "")


class ChainPut(ToHostsTransfer):
    """Copy the same local files to many hosts along a chain of ssh links.

    >>> ChainPut(["node-1", "node-2"], ["big.img"], "/tmp").run().ok  # doctest: +SKIP
    True

    :param local_files: local files (the same for every host).
    :param remote_location: an existing directory on each host, into
      which the files are unpacked; ``{{{host}}}`` and ``{{expr}}`` are
      substituted per host.

    Each host reaches the next with ssh and the same connection params
    (its ssh options, user, port, keyfile, host rewriting), so the hosts
    must be able to ssh to each other as this machine does to them. The
    hosts need ``sh``, ``tar``, GNU ``tee`` and ``mktemp``. One process
    per host: exit code 0 once its copy is complete, 1 (and the reason on
    stderr) if unpacking failed, an error if the chain never reached it
    after ``chainput_chain_retry`` rounds. A host in the middle of a
    chain carries the others' stream: killing one host (or its timeout)
    stops the whole chain, and every host not served yet ends killed.
    """

    _name_format = "ChainPut to %d hosts"
    _per_host_sources = False  # one stream, the same files for every host

    def _prepare_transport(self) -> None:
        self.cmd = "chainput"
        self._destinations: List[str] = []
        self._round: Optional[Process] = None

    def _new_transfer(self, host: Host, address: str, sources: List[str], destination: str,
                      args: Dict[str, Any]) -> FedProcess:
        self._destinations.append(destination)
        args.setdefault("name", "chainput to %s:%s" % (address, destination))
        return FedProcess("chainput", host, feeder=self, **args)

    # ---- the chain ------------------------------------------------------------

    def _hop_arguments(self, chain: List[int], params: Dict[str, Any]) -> List[List[str]]:
        """Per position in ``chain``: the arguments of its hop program."""
        arguments: List[List[str]] = [[] for _ in chain]
        for position in range(len(chain)):
            index = chain[position]
            if position + 1 < len(chain):
                following = self._processes[chain[position + 1]].host
                next_ssh = shlex.join(ssh_command(following, params,
                                                  self._run_address(following)))
            else:
                next_ssh = ""
            arguments[position] = [str(position), printf_escape(self._destinations[index]),
                                   printf_escape(next_ssh)]
        return arguments

    def _round_command(self, chain: List[int]) -> str:
        params = self._run_params  # resolved when the run started (HostAction._resolve_run)
        per_hop = self._hop_arguments(chain, params)
        # the first hop's arguments, then, flattened, every later hop's:
        # each hop passes "$@" after its own three on to the next
        first = per_hop[0] + [arg for later in per_hop[1:] for arg in later]
        remote = " ".join([_BOOT, "'%s'" % printf_escape(_HOP)] + ["'%s'" % a for a in first])
        archive = ["tar", "-cf", "-"]
        for path in self.local_files:
            absolute = os.path.abspath(path)
            archive += ["-C", os.path.dirname(absolute), os.path.basename(absolute)]
        first = self._processes[chain[0]].host
        ssh = ssh_command(first, params, self._run_address(first))
        return "%s | %s %s" % (
            shlex.join(archive), shlex.join(ssh), shlex.quote(remote))

    def _launch(self) -> None:
        if not self._processes:
            self._set_ended()
            return
        self._suspicions: Dict[int, int] = {}
        self._rounds_left = int(self._run_params.get('chainput_chain_retry', 10) or 1)
        now = time.time()
        for process in self._processes:
            process._begin(now)
        conductor = get_conductor()
        conductor.call_soon(self._announce_started)
        missing = [f for f in self.local_files if not os.path.exists(f)]
        if missing:
            conductor.call_soon(self._give_up_all, "local file(s) %s do not exist" % missing)
            return
        self._start_round(list(range(len(self._processes))))

    def _announce_started(self) -> None:
        for process in self._processes:
            process._announce()

    def _give_up_all(self, why: str) -> None:
        for process in self._processes:
            process._end(None, why)

    def _start_round(self, chain: List[int]) -> None:
        self._rounds_left -= 1
        self._chain = chain
        run = Process(self._round_command(chain), shell=True, nolog_exit_code=True,
                      name="chainput round", stdout_handlers=[_ReportReader(self, chain)])
        run.lifecycle_handlers.append(_RoundEnd(self))
        self._round = run
        run.start()

    def _on_report(self, index: int, ok: bool, why: str) -> None:
        process = self._processes[index]
        if process.ended:
            return
        if not ok:
            process._deliver_output(STDERR, ("chainput: %s\n" % why).encode())
        process._end(0 if ok else 1, None)

    def _on_round_ended(self, run: Process) -> None:
        """Conductor thread: retry the hosts the chain did not reach."""
        if run is not self._round:
            return
        silent = [i for i in self._chain if not self._processes[i].ended]
        if not silent:
            return
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else "no message"
        if self._kill_requested:
            for index in silent:
                self._processes[index].killed = True
                self._processes[index]._end(None, None)
            return
        culprit = silent[0]
        self._suspicions[culprit] = self._suspicions.get(culprit, 0) + 1
        if self._suspicions[culprit] >= 2 or self._rounds_left <= 0:
            self._processes[culprit]._deliver_output(STDERR, (detail + "\n").encode())
            self._processes[culprit]._end(None, "chainput never reached %r: %s" % (
                self._processes[culprit].host.address, detail))
            silent.remove(culprit)
            if self._rounds_left <= 0:
                for index in silent:
                    self._processes[index]._end(None, "chainput never reached %r: %s" % (
                        self._processes[index].host.address, detail))
                return
        else:
            silent.remove(culprit)
            silent.append(culprit)
        if silent:
            logger.info("chainput: retrying %d host(s) after: %s", len(silent), detail)
            self._start_round(silent)

    # ---- control -----------------------------------------------------------------

    def _signal_member(self, process: FedProcess, sig: int) -> None:
        """Conductor thread: a host is killed (or timed out). A host in the
        middle of the chain carries the others' stream, so the whole round
        is signalled, and the hosts it had not served end killed."""
        self._kill_requested = True
        for member in self._processes:
            if member.started and not member.ended:
                member.killed = True
        if self._round is not None:
            self._round.kill(sig)

    def kill(self) -> "ChainPut":
        self._kill_requested = True
        return Action.kill(self)

    def wait(self, timeout: Any = None) -> "ChainPut":
        Action.wait(self, timeout)
        if self.ended and self._round is not None and self._round.started:
            self._round.wait(5)
        return self

    def _reset_members(self) -> None:
        self._round = None
        super()._reset_members()


class _RoundEnd:
    """Lifecycle handler of a round's local process."""

    def __init__(self, action: ChainPut) -> None:
        self.action = action

    def start(self, process: Process) -> None:
        pass

    def end(self, process: Process) -> None:
        self.action._on_round_ended(process)

    def reset(self, process: Process) -> None:
        pass


register_transport("chainput", put=ChainPut)
