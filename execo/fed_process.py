"""FedProcess: a process whose events come from a multiplexer it shares.

One local process sometimes serves many hosts: a taktuk root prints every
host's output and exit status as records, a ChainPut round reports each
hop's result on one stream. Each host is then a `FedProcess`: a
`ProcessBase` with the same flags, outputs, handlers, reports and
timeout/kill policy as a local process, but no child of its own. Its
*feeder* (the action owning the multiplexer) starts it, delivers its
output (``_deliver_output``) and ends it (``_end``), all in the conductor
thread, and is asked to deliver its signals::

    feeder._signal_member(process, sig)   # conductor thread

This is the building block for the next multiplexed transport: write the
parser that turns the multiplexer's output into those calls, and
`execo.kill_policy` gives timeouts and kills for free.
"""

from __future__ import annotations

import os
import time
from typing import Any, List, Optional

import execo.failures as failures
import execo.kill_policy as kill_policy
from execo.conductor import get_conductor
from execo.host import Host, HostLike
from execo.log import style
from execo.process_base import Command, ProcessBase
from execo.exception import ExecoValueError

__all__ = ["FedProcess"]

# Process keywords that only make sense for a child of our own.
LOCAL_ONLY_KWARGS = ("pty", "shell", "kill_subprocesses", "cwd", "env")


class FedProcess(ProcessBase):
    """One host's process, fed by a multiplexer (see the module docstring).

    It is started, and can only be started, by its feeder's action.
    Writing to it is not supported (``write_error``). Keywords of a local
    process only (``pty``, ``shell``, ``cwd``...) are ignored.
    """

    def __init__(self, cmd: Command, host: HostLike, feeder: Any = None,
                 **kwargs: Any) -> None:
        for key in LOCAL_ONLY_KWARGS:
            kwargs.pop(key, None)
        super().__init__(cmd, **kwargs)
        self.host = Host(host)
        self.feeder = feeder

    def start(self) -> "FedProcess":
        if self.started:
            return self
        raise ExecoValueError("%s is one host of a multiplexed run: start its action instead"
                         % (self,))

    def write(self, s: Any) -> "FedProcess":
        self.write_error = True
        failures.log_failure(self, "write_error", "%s writing to %s is not supported: %s" % (
            style.emph("write error:"), type(self).__name__, self))
        return self

    # ---- called by the feeder ------------------------------------------------

    def _begin(self, date: float) -> None:
        """Any thread, as the action starts: started, not yet announced."""
        with self._lock:
            self.started = True
            self.start_date = date
            self._owner_pid = os.getpid()

    def _announce(self) -> None:
        """Conductor thread: tell the lifecycle handlers, start the timeout."""
        self._notify_lifecycle("start")
        kill_policy.arm_timeout(self)

    def _end(self, exit_code: Optional[int] = None, error_reason: Optional[str] = None) -> None:
        """Conductor thread: end this process once."""
        if not self.ended:
            self._set_ended(exit_code, error_reason, time.time())

    # ---- the kill policy's hooks ---------------------------------------------------

    def _can_be_signalled(self) -> bool:
        return self.feeder is not None and self.started and not self.ended

    def _send_signal(self, sig: int) -> None:
        get_conductor().call_soon(self.feeder._signal_member, self, int(sig))

    def _args(self) -> List[str]:
        args = super()._args()
        args.insert(1, repr(self.host))
        return args
