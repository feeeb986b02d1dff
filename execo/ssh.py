"""The ssh transport: argv builders for ssh/scp, and SshProcess.

Everything here turns a host and connection params into the argv of the
real ``ssh``/``scp`` binaries; the process mechanics are `Process`'s.

Killing an SshProcess kills the local ``ssh``; the remote command must die
too. Without a remote pty, sshd signals nothing when the connection drops,
so by default the remote command string is prefixed with a small POSIX-sh
watchdog (connection param ``'kill_remote_on_disconnect'``): a background
loop, detached from the remote shell's jobs, that checks once a second
that the sshd session process serving the connection is alive, and when it
is gone sends SIGHUP to the remote command's process group (sshd made that
group a session of its own) -- the signal a terminal hangup would have
sent. stdout and stderr stay separate and unaltered, unlike with
``ssh -tt`` (execo 2.x's way), which merges them and writes ``\\r\\n``.
``'pty': True`` still gives 2.x's behaviour: a local pty for ssh and
``-tt``; the remote pty's hangup then does the job and no watchdog is
added. The watchdog needs a POSIX login shell on the remote side (sh,
bash, dash, zsh, ksh); set ``'kill_remote_on_disconnect': False`` for
others. With the opt-in ``'connection_sharing'`` (ssh ControlMaster) the
sshd session outlives each command, so the watchdog cannot see a kill:
add ``'pty': True`` where remote commands must die with their
SshProcess.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import tempfile
import time
from typing import Any, Callable, Hashable, List, Mapping, Optional, Tuple

import execo.endpoint_gate as endpoint_gate
from execo.argv import option_words
from execo.ssh_params import NONINTERACTIVE_SSH_OPTIONS
from execo.connection import connection_target, pick_connection_params, \
    resolve_connection_params
from execo.host import Host, HostLike
from execo.process import Process
from execo.process_base import Command
from execo.retry import ConnectionRetries, marker_command, retry_policy
from execo.log import style
from execo.output import STDOUT
from execo.ssh_route import gateway_host, proxy_command_options, setup_endpoint
from execo.exception import ExecoValueError

__all__ = ["NONINTERACTIVE_SSH_OPTIONS", "ScpProcess", "SshProcess", "gateway_host",
           "gateway_options", "get_process", "remote_command", "remote_path", "scp_command",
           "ssh_command", "ssh_failure_summary"]

# Started in a subshell that exits at once, so the loop is no job of the
# remote shell (a user's bare ``wait`` must not wait for it) and does not
# change ``$!``. It holds no fd of the session: sshd closes the channel
# when the command is done, without waiting for it.
_WATCHDOG = ("((while kill -0 $$ 2>/dev/null; do kill -0 $PPID 2>/dev/null || "
             "{ kill -HUP 0; exit; }; sleep 1; done) &) </dev/null >/dev/null 2>&1")

_MAX_STARTUPS = ("refused by the server before authentication: too many connections at "
                 "once (sshd MaxStartups?)")
_SSH_FAILURE_HINTS = (
    # sshd drops connections beyond MaxStartups right after accepting them
    (re.compile(r"(kex|ssh)_exchange_identification: (read: Connection reset by peer|"
                r"Connection closed by remote host)"), _MAX_STARTUPS),
    (re.compile(r"Connection refused"), "nothing listens on the ssh port"),
    (re.compile(r"Could not resolve hostname"), "unknown host name"),
    (re.compile(r"timed out|Connection timed out during banner exchange"),
     "no ssh answer within ConnectTimeout"),
    (re.compile(r"Permission denied"), "authentication refused"),
    (re.compile(r"closed by remote host|Connection closed by|Connection reset|Broken pipe|"
                r"not responding"),
     "connection lost"),
)
_LOST = "connection lost"
# scp's own words when the ssh under it ended: they name no cause, so they
# are read only where no line of ssh's names one (a partition, keepalives
# given up at LogLevel=ERROR: scp exits 255 "scp: Connection closed" when
# fetching, 1 "lost connection" when sending)
_SCP_CONNECTION_ENDED = re.compile(r"^(scp: )?(Connection closed|lost connection)$")


# A remote command killed by a signal, or exiting 255, after running that
# long ends the same way: said too, second.
_KEEPALIVES_LOST = ("the host stopped answering keepalives (or the remote command was killed "
                    "by a signal)")
_OPTION = re.compile(r"^(ServerAliveInterval|ServerAliveCountMax)[ =]+(\d+)$", re.IGNORECASE)


def _keepalive_window(argv: List[str]) -> Optional[float]:
    """Seconds of silence after which ``argv``'s ssh gives up on keepalives
    (ServerAliveInterval x ServerAliveCountMax, ssh's first value winning);
    None if it sends none.

    >>> _keepalive_window(['ssh', '-o', 'ServerAliveInterval=20', '-o', 'ServerAliveCountMax=3'])
    60.0
    """
    found = {}
    for word in argv:
        match = _OPTION.match(word[2:] if word.startswith("-o") and len(word) > 2 else word)
        if match is not None:
            found.setdefault(match.group(1).lower(), int(match.group(2)))
    interval = found.get("serveraliveinterval", 0)
    return float(interval * found.get("serveralivecountmax", 3)) if interval else None


def _control_options(params: Mapping[str, Any]) -> List[str]:
    """ssh options for the opt-in ``'connection_sharing'`` param.

    One master connection per (host, port, user) is opened by the first ssh
    and kept ``persist`` seconds after its last use; later ssh/scp runs go
    through it, skipping the TCP and key exchanges: an experiment running
    many commands on the same hosts pays for the connection once. The
    masters outlive the script by ``persist`` seconds, and a killed
    SshProcess ends its remote command only with ``'pty': True`` (see the
    module's docstring).
    """
    sharing = params.get('connection_sharing')
    if not sharing:
        return []
    persist = 60 if sharing is True else int(sharing)
    directory = os.path.join(tempfile.gettempdir(), "execo-ssh-%d" % os.getuid())
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() \
                or info.st_mode & 0o077:
            # another user's sockets would be someone else's connections
            raise ExecoValueError("%s is not a private directory of ours: not sharing ssh "
                             "connections through it" % directory) from None
    return ['-o', 'ControlMaster=auto', '-o', 'ControlPersist=%d' % persist,
            '-o', 'ControlPath=%s/%%C' % directory]


def gateway_options(params: Mapping[str, Any]) -> List[str]:
    """ssh options for the ``'gateway'`` param: reach the host through it.

    A ProxyCommand rather than ssh's ``-J``, which starts its own ssh for
    the hop with none of our command-line options: this one carries
    ``ssh_options`` (the test bed's ``-F``, BatchMode...) and, with
    ``'connection_sharing'``, the ControlMaster options, so that one master
    connection to the gateway carries every host's connection.

    >>> gateway_options({'gateway': 'gw', 'ssh': 'ssh', 'ssh_options': ()})
    ['-o', "ProxyCommand=ssh -W '[%h]:%p' -- gw"]
    """
    gateway = params.get('gateway')
    if not gateway:
        return []
    return proxy_command_options(ssh_command(gateway_host(gateway),
                                             dict(params, gateway=None, pty=False)))


def ssh_command(host: HostLike, connection_params: Optional[Mapping[str, Any]] = None,
                address: Optional[str] = None) -> List[str]:
    """The argv that opens an ssh connection to ``host``, remote command excluded.

    The options end with ``--``: nothing after it (host, remote command)
    can be read as an option, even where ssh would parse options after the
    host.

    >>> ssh_command(Host("n1", user="u", port=2222), {'ssh_options': ()})
    ['ssh', '-l', 'u', '-p', '2222', '--', 'n1']
    """
    params = resolve_connection_params(connection_params)
    target = connection_target(host, params, address)
    argv = list(params.derived('ssh argv', _ssh_options))
    if target.user is not None:
        argv += ['-l', str(target.user)]
    if target.keyfile is not None:
        argv += ['-i', str(target.keyfile)]
    if target.port is not None:
        argv += ['-p', str(target.port)]
    argv += ['--', target.address]
    return argv


def _ssh_options(params: Mapping[str, Any]) -> Tuple[str, ...]:
    """ssh's argv up to the per-host options: the same for every host of a run."""
    argv = (option_words(params['ssh']) + _control_options(params)
            + gateway_options(params) + option_words(params.get('ssh_options')))
    if params.get('pty') and '-tt' not in argv:
        argv.append('-tt')
    return tuple(argv)


def _scp_options(params: Mapping[str, Any]) -> Tuple[str, ...]:
    """scp's argv up to the per-host options: the same for every host of a run."""
    return tuple(option_words(params['scp']) + _control_options(params)
                 + gateway_options(params) + option_words(params.get('scp_options')))


def scp_command(connection_params: Optional[Mapping[str, Any]] = None,
                host: Optional[HostLike] = None, address: Optional[str] = None) -> List[str]:
    """The argv of scp with its options and the keyfile/port for ``host``,
    ended by ``--``; sources and destination are the caller's (see
    `remote_path`), and a local file name starting with ``-`` is a path.

    >>> scp_command({'scp_options': ('-r',)}, Host("n1", port=2222))
    ['scp', '-r', '-P', '2222', '--']
    """
    params = resolve_connection_params(connection_params)
    argv = list(params.derived('scp argv', _scp_options))
    target = connection_target(host if host is not None else Host("localhost"), params, address)
    if target.keyfile is not None:
        argv += ['-i', str(target.keyfile)]
    if target.port is not None:
        argv += ['-P', str(target.port)]
    argv.append('--')
    return argv


def remote_path(host: HostLike, path: str,
                connection_params: Optional[Mapping[str, Any]] = None,
                address: Optional[str] = None) -> str:
    """``[user@]address:path`` as scp wants it; an IPv6 address is bracketed.

    >>> remote_path(Host("::1", user="u"), "/tmp/f")
    'u@[::1]:/tmp/f'
    """
    target = connection_target(host, resolve_connection_params(connection_params), address)
    address = "[%s]" % target.address if ":" in target.address else target.address
    user = "%s@" % target.user if target.user is not None else ""
    return "%s%s:%s" % (user, address, path)


def remote_command(cmd: Command, connection_params: Optional[Mapping[str, Any]] = None) -> str:
    """The string sshd will give the remote login shell for ``cmd``.

    A list is an argv, as for a local `Process`: each item is quoted for
    the remote shell and stays one word (execo 2.x joined the items raw;
    see doc/migrating.rst).

    >>> remote_command(["echo", "a; b"], {'kill_remote_on_disconnect': False})
    "echo 'a; b'"
    """
    params = resolve_connection_params(connection_params)
    text = cmd if isinstance(cmd, str) else shlex.join(cmd)
    if params.get('pty') or not params.get('kill_remote_on_disconnect', True):
        return text
    return _WATCHDOG + "\n" + text


def ssh_failure_reason(host: Host, stderr: str, tool: str = "ssh", exit_code: int = 255) -> str:
    r"""Why an ssh or scp run that exited 255 failed, naming the host: the
    one classifier of connection failures, for every transport on ssh.

    The cause is the LAST line in which ssh names one: scp always ends
    with a vague "scp: Connection closed", after ssh's own reason, and a
    long command's stderr may hold older lines that look like causes.
    Only when no line names a cause does scp's vague line count, as a
    connection lost.

    >>> ssh_failure_reason(Host("n1"), "ssh: connect to host n1 port 22: Connection refused\n"
    ...                    "scp: Connection closed\n", tool="scp")
    "scp to 'n1' failed (exit 255, nothing listens on the ssh port): ssh: connect to host n1 port 22: Connection refused"
    """
    meaning, line = _ssh_cause(stderr, tool)
    if line is None:
        # with LogLevel=ERROR, ssh is silent about keepalive timeouts too
        return ("%s to %r exited %d without a message: the remote command was killed by "
                "a signal or exited %d, or the host stopped answering keepalives"
                % (tool, host.address, exit_code, exit_code))
    if meaning is not None:
        return "%s to %r failed (exit %d, %s): %s" % (tool, host.address, exit_code, meaning,
                                                     line)
    return "%s to %r failed (exit %d): %s" % (tool, host.address, exit_code, line)


def _ssh_cause(stderr: str, tool: str = "ssh") -> tuple:
    """(meaning, line) of the last stderr line naming a cause (see
    `ssh_failure_reason`); (None, last line) or (None, None)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        for pattern, meaning in _SSH_FAILURE_HINTS:
            if pattern.search(line):
                return meaning, line
    if tool == "scp" and lines and _SCP_CONNECTION_ENDED.match(lines[-1]):
        return _LOST, lines[-1]
    return None, lines[-1] if lines else None


def _scp_lost_connection(stderr: str) -> bool:
    r"""Whether scp's stderr ends with its own words for an ssh connection
    that ended under it (exit 1 "lost connection" when sending): scp's
    exit 1 is otherwise a failure of the copy itself (a missing file),
    which is no error of the connection.

    >>> _scp_lost_connection("lost connection\n"), _scp_lost_connection("scp: x: No such file\n")
    (True, False)
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return bool(lines) and _SCP_CONNECTION_ENDED.match(lines[-1]) is not None


def ssh_failure_summary(stderr: str, tool: str = "ssh") -> str:
    r"""An ssh or scp exit 255 in a few words, without the host, so that
    the failures of a fan-out can be grouped by it.

    >>> ssh_failure_summary("ssh: connect to host n1 port 22: Connection refused\n")
    'ssh could not connect: nothing listens on the ssh port'
    """
    meaning, line = _ssh_cause(stderr, tool)
    if meaning == _LOST:
        return "%s connection lost" % (tool,)
    if meaning is not None:
        return "%s could not connect: %s" % (tool, meaning)
    if line is None:
        return "%s exit 255 without a message" % (tool,)
    return "%s exit 255: %s" % (tool, line)


class SshProcess(ConnectionRetries, Process):
    """A command run on ``host`` through the ``ssh`` binary.

    >>> SshProcess("hostname", "node-1").run().stdout  # doctest: +SKIP
    'node-1\\n'

    The connection params are merged over the defaults when the process
    starts, not when it is created. ``pty`` and ``shell`` are the
    connection params' business: ``pty`` comes from the params (a process
    keyword wins if given), ``shell`` is ignored since the remote login
    shell always runs the command. An ssh exit code of 255 (connection
    failure) sets ``error`` and an ``error_reason`` quoting ssh's message.
    ``cwd`` and ``env`` are the local ``ssh``'s, as in execo 2.x; the
    remote command's are `execo.remote.Remote`'s ``remote_cwd`` and
    ``remote_env``.
    A connection that fails before the remote command started is tried
    again (`execo.retry`); ``connect_attempts`` counts the attempts.
    """

    _retry_marker = True

    def __init__(self, cmd: Command, host: HostLike,
                 connection_params: Optional[Mapping[str, Any]] = None,
                 connexion_params: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        chosen = pick_connection_params(connection_params, connexion_params)  # fail early
        self._pty_given = kwargs.pop('pty', None)
        kwargs.pop('shell', None)
        super().__init__(cmd, **kwargs)
        self.host = Host(host)
        self.connection_params = chosen
        self.real_cmd: Optional[List[str]] = None

    @property
    def remote_cmd(self) -> Command:
        """The command run remotely (``cmd``; kept under its 2.x name)."""
        return self.cmd

    @property
    def connexion_params(self) -> Optional[Mapping[str, Any]]:
        return self.connection_params

    def _spawn_args(self) -> List[str]:
        run = self._run_connection
        if run is not None and run[0] is self.connection_params:  # its action's, resolved
            _, params, address = run
        else:
            params, address = resolve_connection_params(self.connection_params), None
        self.pty = bool(params.get('pty')) if self._pty_given is None else self._pty_given
        self._retry = retry_policy(params)
        command = remote_command(self.cmd, params)
        if self._retry is not None:
            command = marker_command() + command
        self.real_cmd = ssh_command(self.host, params, address) + [command]
        return self.real_cmd

    def setup_endpoint(self) -> Optional[Tuple[Hashable, int, bool]]:
        """Where this connection is set up, for `execo.endpoint_gate`."""
        run = self._run_connection
        if run is not None and run[0] is self.connection_params:  # its action's, resolved
            return setup_endpoint(self.host, run[1], address=run[2])
        return setup_endpoint(self.host, resolve_connection_params(self.connection_params))

    def _deliver_output(self, stream: int, data: bytes, eof: bool = False,
                        error: bool = False) -> None:
        if data and stream == STDOUT:  # only the remote side writes there
            endpoint_gate.setup_done(self)
        super()._deliver_output(stream, data, eof, error)

    def _open_gate(self) -> None:
        # the marker came (execo.retry): the remote command started, the
        # connection's set-up is over
        endpoint_gate.setup_done(self)
        super()._open_gate()

    def _failure_reason(self, exit_code: Optional[int]) -> Optional[str]:
        # 255 is ssh's own failure code; name the host and quote ssh.
        if exit_code == 255 and not self.killed:
            if self._lost_keepalives():
                return self._with_attempts(
                    "ssh to %r exited 255 without a message after %.0f s: the host stopped "
                    "answering keepalives (ServerAliveInterval x ServerAliveCountMax = %g s), "
                    "or the remote command was killed by a signal or exited 255"
                    % (self.host.address, time.time() - self.start_date,
                       _keepalive_window(self.real_cmd or [])))
            return self._with_attempts(ssh_failure_reason(self.host, self.stderr))
        return None

    def _lost_keepalives(self) -> bool:
        """Whether ssh exited 255 silently after long enough to have given
        up on keepalives: at LogLevel=ERROR it does not say so itself."""
        window = _keepalive_window(self.real_cmd or [])
        return (window is not None and not self.stderr.strip() and self.start_date is not None
                and time.time() - self.start_date >= window)

    def _error_summary(self) -> str:
        if self.exit_code == 255:
            if self._lost_keepalives():
                return "ssh connection lost: %s" % (_KEEPALIVES_LOST,)
            return self._with_attempts(ssh_failure_summary(self.stderr))
        return super()._error_summary()

    def _user_command(self) -> str:
        return self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)

    def _args(self) -> List[str]:
        args = super()._args()
        args.insert(1, repr(self.host))
        if self.connection_params:
            args.append("connection_params=%r" % (self.connection_params,))
        return args

    def _infos(self) -> List[str]:
        infos = super()._infos()
        if self.real_cmd is not None:
            infos.append("real_cmd=%s" % (style.command(shlex.join(self.real_cmd)),))
        return infos


class ScpProcess(ConnectionRetries, Process):
    """One scp run of a Put or Get, for one host.

    Its argv is built again when it starts, so that connection defaults
    changed in between (a test bed installed, an option added) apply, as
    they do for `SshProcess`. An scp exit code of 255 (ssh could not
    connect, or the connection was lost), or 1 with scp's "lost
    connection" as its last word, sets ``error`` and an ``error_reason``
    quoting scp. A connection that fails before authentication is tried
    again (`execo.retry`): no byte was copied.
    """

    def __init__(self, build_argv: Callable[[], List[str]], host: Host,
                 run_params: Optional[Callable[[], Mapping[str, Any]]] = None,
                 **kwargs: Any) -> None:
        self._build_argv = build_argv
        # the connection params of the run, for the retries' keys (execo.retry)
        self._run_params = run_params
        super().__init__(build_argv(), **kwargs)
        self.host = host  # lets filter_bad_hosts and logs tell which host failed

    def setup_endpoint(self) -> Optional[Tuple[Hashable, int, bool]]:
        """Where this connection is set up, for `execo.endpoint_gate`."""
        params = self._run_params() if self._run_params is not None \
            else resolve_connection_params(None)
        run = getattr(self, "_run_connection", None)  # (..., address rewritten by the action)
        return setup_endpoint(self.host, params, tool="scp",
                              address=run[2] if run is not None else None)

    def _spawn_args(self) -> List[str]:
        self.cmd = self._build_argv()
        self._retry = retry_policy(self._run_params() if self._run_params is not None
                                   else resolve_connection_params(None))
        return list(self.cmd)

    def _failure_reason(self, exit_code: Optional[int]) -> Optional[str]:
        if self.killed:
            return None
        if exit_code == 255 or (exit_code == 1 and _scp_lost_connection(self.stderr)):
            return self._with_attempts(
                ssh_failure_reason(self.host, self.stderr, tool="scp", exit_code=exit_code))
        return None

    def _error_summary(self) -> str:
        if self.exit_code == 255 or (self.exit_code == 1 and _scp_lost_connection(self.stderr)):
            return self._with_attempts(ssh_failure_summary(self.stderr, tool="scp"))
        return super()._error_summary()

    def _user_command(self) -> str:
        # scp's argv carries every ssh option: its name says what it copies
        return self.name


def get_process(cmd: Command, host: Optional[HostLike] = None,
                connection_params: Optional[Mapping[str, Any]] = None,
                connexion_params: Optional[Mapping[str, Any]] = None,
                **kwargs: Any) -> Process:
    """A `Process` if ``host`` is None, else an `SshProcess` on ``host``.

    >>> type(get_process("true")).__name__
    'Process'
    """
    if host is None:
        return Process(cmd, **kwargs)
    return SshProcess(cmd, host, pick_connection_params(connection_params, connexion_params),
                      **kwargs)
