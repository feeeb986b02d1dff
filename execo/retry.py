"""Connection retries: an ssh or scp connection that failed before the
remote command started is tried again, after a jittered exponential back-off.

Why: an sshd drops connections beyond ``MaxStartups`` (Debian's stock
``10:30:100``) before authentication, at random. Many connections meeting
one sshd (a gateway, a frontend, ``Remote(cmd, [server] * 40)``) lose some
of their hosts on every run; tried again a little later, one at a time as
the back-off spreads them, they get through.

A command must never run twice, so "did not start" is decided from what
the remote side did, not from ssh's wording alone. With retries on, the
remote command string starts with ``echo <MARKER>``: the remote shell
prints the marker before anything else it runs. Until the marker arrives,
the process's output is held back (`ConnectionRetries._gated_output`);
the marker line is removed and the held output handed on, and from then on
output goes straight to the handlers (nothing more is done per chunk). An
attempt is retried only if it ended with ssh's exit code 255, no byte came
on stdout (so neither the marker nor anything of a shell), and ssh's
stderr names a failure that precedes authentication (`not_started_line`).
With ``pty=True`` the remote pty merges the remote stdout and stderr; the
marker comes first there too (``\\r\\n``-ended). scp prints nothing of the
remote side: a Put or Get is retried on ssh's words alone, which for the
failures retried (connection refused, dropped before the key exchange)
mean that no byte was copied.

Bounds: ``connect_attempts`` in all (1: no retry, no marker), but only
two for a connection that timed out (the host is likely down), a first
delay of ``connect_retry_delay`` seconds doubled at each attempt up to
``connect_retry_max_delay``, each drawn at random between a tenth of it
and all of it; and never beyond the process's own timeout: an attempt is
made only if the time left would hold the delay and the failed attempt's
duration again. Each retry is
logged at DEBUG; the process counts its attempts (``connect_attempts``).
The keys are connection params (per process or action, or in
``default_connection_params``).
"""

from __future__ import annotations

import random
import re
import time
from typing import Any, List, Mapping, Optional, Tuple

from execo.config import declare_connection_params
from execo.conductor import TimerHandle, get_conductor
from execo.log import logger
from execo.output import STDERR, STDOUT

__all__ = ["MARKER", "RETRY_PARAMS", "ConnectionRetries", "RetryPolicy", "marker_command",
           "not_started_line", "retry_policy"]

# What the remote shell prints first; chosen so that no program's output
# starts with it by chance.
MARKER = b"execo-session-started-5f0c"
_MARKER_LINE_ENDS = (b"\n", b"\r\n")
# Output held back before the marker, at most: a remote shell whose start-up
# files print more than this is taken as started (no retry, no harm).
_HELD_LIMIT = 1 << 16

RETRY_PARAMS = {
    'connect_attempts': 10,
    'connect_retry_delay': 0.25,
    'connect_retry_max_delay': 5.0,
}
_RETRY_PARAMS_DOCS = {
    'connect_attempts': "ssh/scp connections tried at most this many times when they fail "
                        "before the remote command started (sshd MaxStartups, connection "
                        "refused, ConnectTimeout); 1: never retried (execo.retry)",
    'connect_retry_delay': "seconds before the first connection retry, doubled at each "
                           "retry, jittered",
    'connect_retry_max_delay': "at most this many seconds between two connection attempts",
}
declare_connection_params(RETRY_PARAMS, _RETRY_PARAMS_DOCS)

# ssh's own words for a connection that failed before authentication, thus
# before any remote command: the TCP connection refused or timed out, the
# server's banner or key exchange cut short (sshd's MaxStartups drop), and
# ssh's untagged packet-layer fatal lines of the key exchange. A session's
# losses are worded otherwise ("Connection to X closed by remote host.",
# "client_loop: ...").
_NOT_STARTED = re.compile(
    r"^(?:ssh: connect to host \S+ port \d+: (?:Connection refused|Connection timed out)"
    r"|(?:kex|ssh)_exchange_identification: .*"
    r"|Connection timed out during banner exchange"
    r"|banner exchange: Connection to \S+ port \S+: .*"
    r"|Connection (?:reset|closed) by \S+ port \d+)$")
_SCP_ENDED = re.compile(r"^(?:scp: )?(?:Connection closed|lost connection)$")
# A host that let a connection time out is most likely down or cut off: it
# has already cost ConnectTimeout seconds, so it gets one more try, not
# ``connect_attempts`` of them (a dead node must not hold an action ten
# times longer than it did without retries).
_TIMED_OUT_TRIES = 2


def not_started_line(stderr: str) -> Optional[str]:
    r"""The last line of ssh's ``stderr``, if it says that the connection
    failed before authentication; None otherwise.

    >>> not_started_line("kex_exchange_identification: read: Connection reset by peer\n")
    'kex_exchange_identification: read: Connection reset by peer'
    >>> not_started_line("user@n1: Permission denied (publickey).\n") is None
    True
    >>> not_started_line("ssh: connect to host n1 port 22: Connection refused\n"
    ...                  "scp: Connection closed\n")
    'ssh: connect to host n1 port 22: Connection refused'
    >>> not_started_line("ssh: Could not resolve hostname n1: Name or service not known") is None
    True
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    while lines and _SCP_ENDED.match(lines[-1]):
        lines.pop()  # scp's words after ssh's: they name no cause
    if lines and _NOT_STARTED.match(lines[-1]):
        return lines[-1]
    return None


class RetryPolicy:
    """How many attempts, and the delay before each retry."""

    __slots__ = ("attempts", "first_delay", "max_delay")

    def __init__(self, attempts: int, first_delay: float, max_delay: float) -> None:
        self.attempts = attempts
        self.first_delay = first_delay
        self.max_delay = max_delay

    def delay(self, failed: int) -> float:
        """Seconds to wait after ``failed`` failed attempts: exponential,
        capped, and drawn at random so that connections refused together
        come back apart.

        >>> 0.1 <= RetryPolicy(5, 1.0, 4.0).delay(3) <= 4.0
        True
        """
        ceiling = min(self.max_delay, self.first_delay * 2 ** (failed - 1))
        return random.uniform(0.1, 1.0) * ceiling


def retry_policy(params: Mapping[str, Any]) -> Optional[RetryPolicy]:
    """The policy of resolved connection ``params``; None: no retry.

    >>> retry_policy({'connect_attempts': 1}) is None
    True
    """
    attempts = int(params.get('connect_attempts') or 1)
    if attempts <= 1:
        return None
    return RetryPolicy(attempts, float(params.get('connect_retry_delay') or 0.0),
                       float(params.get('connect_retry_max_delay') or 0.0))


def marker_command() -> str:
    """What precedes the remote command: the remote shell prints the marker
    first (``echo`` is a builtin of every login shell, POSIX or not)."""
    return "echo %s\n" % MARKER.decode()


def _cut_marker(held: bytes) -> Optional[bytes]:
    """``held`` without the marker's line once it is complete; None while
    the marker has not (fully) arrived."""
    start = held.find(MARKER)
    if start < 0:
        return None
    after = start + len(MARKER)
    for end in _MARKER_LINE_ENDS:
        if held.startswith(end, after):
            return held[:start] + held[after + len(end):]
    return None


class _Attempt:
    """One connection attempt's output, held back until the marker."""

    __slots__ = ("stdout", "stdout_end", "stderr")

    def __init__(self) -> None:
        self.stdout = b""
        self.stdout_end: Optional[Tuple[bool, bool]] = None  # (eof, error) once come
        self.stderr: List[Tuple[bytes, bool, bool]] = []

    def stderr_text(self) -> str:
        return b"".join(data for data, _, _ in self.stderr).decode("utf-8", "replace")

    def held_size(self) -> int:
        return len(self.stdout) + sum(len(data) for data, _, _ in self.stderr)


class ConnectionRetries:
    """Mixin of a `execo.process.Process` whose child opens an ssh
    connection (`execo.ssh.SshProcess`, `execo.ssh.ScpProcess`): retries
    the attempts that fail before the remote command started.

    The transport sets ``_retry`` to a `RetryPolicy` when it builds the
    argv (None: no retry) and ``_retry_marker`` to whether the remote
    command prints the marker.
    """

    _retry_marker = False

    def _reset_state(self) -> None:
        super()._reset_state()  # type: ignore[misc]
        self.connect_attempts = 0
        self._retry: Optional[RetryPolicy] = None
        self._attempt: Optional[_Attempt] = None  # output held back, marker awaited
        self._retry_timer: Optional[TimerHandle] = None
        self._failed_attempt: Optional[Tuple[Optional[int], _Attempt]] = None
        self._retry_deadline: Optional[float] = None
        self._attempt_date = 0.0
        self._timed_out_tries = 0
        self._ending = False  # no retry: decided once (an end may wait for file writes)

    # ---- each attempt (conductor thread) --------------------------------------

    def _begin_attempt(self) -> None:
        self.connect_attempts += 1
        self._attempt_date = time.time()
        if self._retry is not None and self._retry_marker:
            self._attempt = _Attempt()
            # an instance attribute: once the marker is seen it is deleted,
            # and output goes to the class's own method again, at no cost
            self._deliver_output = self._gated_output

    def _attach(self) -> None:
        if self._retry is not None and self.timeout is not None:
            self._retry_deadline = (self.start_date or time.time()) + self.timeout
        self._begin_attempt()
        super()._attach()  # type: ignore[misc]

    def _gated_output(self, stream: int, data: bytes, eof: bool = False,
                      error: bool = False) -> None:
        attempt = self._attempt
        if stream == STDERR:
            attempt.stderr.append((data, eof, error))
        else:
            attempt.stdout += data
            if eof:
                attempt.stdout_end = (eof, error)
            rest = _cut_marker(attempt.stdout)
            if rest is not None:
                attempt.stdout = rest
                self._open_gate()
                return
        if attempt.held_size() > _HELD_LIMIT:
            self._open_gate()

    def _open_gate(self) -> None:
        """Hand the held output on, and deliver from now on directly."""
        attempt, self._attempt = self._attempt, None
        self.__dict__.pop("_deliver_output", None)
        if attempt is None:
            return
        for data, eof, error in attempt.stderr:
            self._deliver_output(STDERR, data, eof, error)
        if attempt.stdout or attempt.stdout_end is not None:
            eof, error = attempt.stdout_end or (False, False)
            self._deliver_output(STDOUT, attempt.stdout, eof, error)

    # ---- the end of an attempt (conductor thread) ----------------------------

    def _set_ended(self, exit_code: Optional[int] = None, error_reason: Optional[str] = None,
                   end_date: Optional[float] = None) -> None:
        if self._retry is not None and not self._ending and not self.ended \
                and error_reason is None and self._may_retry(exit_code):
            return
        self._ending = True
        self._open_gate()
        super()._set_ended(exit_code, error_reason, end_date)  # type: ignore[misc]

    def _not_started_line(self, exit_code: Optional[int]) -> Optional[str]:
        """ssh's line saying the attempt failed before authentication, if
        the remote side did nothing either; None: the attempt may have
        started the command, or failed for a reason not worth a retry."""
        if exit_code != 255 or self.killed or self.timeouted:
            return None
        attempt = self._attempt
        if attempt is not None:
            return None if attempt.stdout else not_started_line(attempt.stderr_text())
        if self._retry_marker:
            return None  # the gate opened: the marker, or too much output, came
        return not_started_line(self.stderr)  # scp: ssh's words alone

    def _may_retry(self, exit_code: Optional[int]) -> bool:
        line = self._not_started_line(exit_code)
        if line is None or self.connect_attempts >= self._retry.attempts:
            return False
        if "timed out" in line:
            self._timed_out_tries += 1
            if self._timed_out_tries >= _TIMED_OUT_TRIES:
                return False
        delay = self._retry.delay(self.connect_attempts)
        now = time.time()
        if self._retry_deadline is not None \
                and now + delay + (now - self._attempt_date) >= self._retry_deadline:
            return False
        logger.debug("%s: connection attempt %d of %d failed before the remote command "
                     "started (%s): tried again in %.2f s", self.where(),
                     self.connect_attempts, self._retry.attempts, line, delay)
        attempt, self._attempt = self._attempt, None
        self.__dict__.pop("_deliver_output", None)
        self._failed_attempt = (exit_code, attempt)
        with self._lock:
            self._retry_timer = get_conductor().call_later(delay, self._retry_now)
        return True

    def _retry_now(self) -> None:
        with self._lock:
            if self._retry_timer is None:
                return  # killed meanwhile
            self._retry_timer = None
            self._failed_attempt = None
            self._begin_attempt()
            failure = self._spawn_again()
        if failure is not None:
            self._open_gate()
            super()._set_ended(None, failure)  # type: ignore[misc]

    def _end_instead_of_retry(self) -> None:
        """Conductor thread: killed (or timed out) between two attempts:
        end with the last attempt's outcome."""
        failed, self._failed_attempt = self._failed_attempt, None
        exit_code = None
        if failed is not None:
            exit_code, self._attempt = failed
        self._open_gate()
        super()._set_ended(exit_code)  # type: ignore[misc]

    # ---- the kill policy's hooks (with _lock held) ----------------------------

    def _between_attempts(self) -> bool:
        # the child reaped, the run not ended: a retry is being decided or
        # waited for; a kill now must stop it (kill_policy sets ``killed``)
        return self._retry is not None and self._reaped and not self.ended  # type: ignore

    def _can_be_signalled(self) -> bool:
        return self._between_attempts() or super()._can_be_signalled()  # type: ignore[misc]

    def _send_signal(self, sig: int) -> None:
        if not self._between_attempts():
            super()._send_signal(sig)  # type: ignore[misc]
            return
        timer, self._retry_timer = self._retry_timer, None
        if timer is not None:
            timer.cancel()
            get_conductor().call_soon(self._end_instead_of_retry)

    # ---- reports ----------------------------------------------------------------

    def _with_attempts(self, text: str) -> str:
        """``text`` followed by the number of attempts, if there were several."""
        if self.connect_attempts > 1:
            return "%s (%d connection attempts)" % (text, self.connect_attempts)
        return text

    def _infos(self) -> List[str]:
        infos = super()._infos()  # type: ignore[misc]
        if self.started:
            infos.append("connect_attempts=%d" % (self.connect_attempts,))
        return infos
