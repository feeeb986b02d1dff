"""Process: a local operating-system process, driven asynchronously.

``start()`` only queues the spawn: the conductor thread spawns the child,
then watches its pipes and its exit. Spawning there rather than in the
caller keeps the two threads from passing the GIL back and forth for every
child (the spawn holds it while the kernel execs the child), and lets a
burst of starts interleave with the exits of the children already running,
so that their descriptors are closed as they go. Whatever needs the child
itself (``pid``, ``kill()``, ``write()``) waits for that spawn, which comes
first in the conductor's queue.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import logging
import os
import resource
import signal
import shlex
import subprocess
import threading
import time
import traceback
from typing import Any, Dict, List, Mapping, Optional

import execo.children as children
import execo.exit_watchdog as exit_watchdog
import execo.failures as failures
import execo.fanout as fanout
import execo.kill_policy as kill_policy
from execo.conductor import get_conductor, wait_lock
from execo.log import log_safely, logger, style
from execo.output import STDERR, STDOUT
from execo.process_base import Command, ProcessBase, ProcessLifecycleHandler
from execo.shared_fd import SharedFd
from execo.spawn import close_quietly, spawn_child
from execo.exception import ExecoTypeError, ExecoValueError

__all__ = ["Process", "ProcessBase", "ProcessLifecycleHandler", "STDOUT", "STDERR"]

# Linux pipes start with 64 KiB; a child that fills one between two reads
# outpaces us, and its pipe is then grown once to the size any user may ask
# for (/proc/sys/fs/pipe-max-size): it writes on while the conductor is
# busy, and each read takes up to 16 times more.
PIPE_START_SIZE = 1 << 16
PIPE_GROWN_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux's value, not in Python 3.9
# After the exit, output still in the pipes is read up to this much: enough
# for any pipe buffer, bounded in case a grandchild keeps writing forever.
DRAIN_LIMIT = 1 << 24

@functools.lru_cache(maxsize=1024)
def _split_command(cmd: str) -> tuple:
    """shlex.split, cached: experiments run the same command many times."""
    try:
        return tuple(shlex.split(cmd))
    except ValueError as exc:
        raise ExecoValueError("cannot split command %r: %s" % (cmd, exc)) from None


def _grow_pipe(fd: int) -> int:
    """Grow the pipe read through ``fd``; the read size to use from now on.
    Where the kernel refuses (a pty, or the user's pipe quota spent), reads
    stay as they were, one byte larger so that this is not tried again."""
    try:
        return fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_GROWN_SIZE)
    except OSError:
        return PIPE_START_SIZE + 1


class Process(ProcessBase):
    """A local process.

    >>> Process("echo hello").run().stdout
    'hello\\n'

    :param cmd: a string (split with shlex, or given to ``/bin/sh`` if
      ``shell``) or a list of arguments.
    :param shell: run through ``/bin/sh -c`` (variables, pipes...).
    :param pty: connect stdin and stdout to a pseudo-terminal (stderr
      stays a pipe), for programs that behave differently on a terminal.
    :param kill_subprocesses: signals go to the whole process group (the
      default: a shell pipeline dies with its shell); False: to the process
      only.
    :param cwd: working directory; ``env``: environment (default: ours).
    :param timeout: seconds after which the process is killed and marked
      ``timeouted``.
    :param ignore_exit_code: and ``ignore_timeout``, ``ignore_error``,
      ``ignore_expect_fail``, ``ignore_write_error``: do not count this as
      a failure in ``ok`` (nor log it).
    :param nolog_exit_code: and ``nolog_timeout``, ``nolog_error``,
      ``nolog_expect_fail``, ``nolog_write_error``: do not log a warning
      for it.
    :param default_stdout_handler: and ``default_stderr_handler``: keep the
      output in memory (``stdout``/``stderr``); False for long-running
      chatty processes whose output only goes to handlers.
    :param stdout_handlers: and ``stderr_handlers``: `ProcessOutputHandler`
      objects, file objects, file paths (appended to) or file descriptors.
    :param lifecycle_handlers: `ProcessLifecycleHandler` objects.
    """

    holds_a_local_child = True

    def __init__(self, cmd: Command, shell: bool = False, pty: bool = False,
                 kill_subprocesses: Optional[bool] = None, cwd: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        self.shell = shell
        self.pty = pty
        self.kill_subprocesses = kill_subprocesses
        self.cwd = cwd
        if env is not None and not (isinstance(env, Mapping) and all(
                isinstance(item, (str, bytes)) for pair in env.items() for item in pair)):
            raise ExecoTypeError("env maps variable names to values, all strings: %r" % (env,))
        self.env = env

    def _reset_state(self) -> None:
        super()._reset_state()
        self._pid: Optional[int] = None
        # Held from start() until the conductor has tried to spawn the child.
        self._spawn_gate: Optional[threading.Lock] = None
        self._queued_spawn: Any = None  # the argv start() decided on, or why it could not
        self._popen: Optional[subprocess.Popen] = None
        self._stdin: Optional[SharedFd] = None
        self._readers: Dict[int, int] = {}  # fd -> stream
        self._read_sizes: Dict[int, int] = {}  # fd -> bytes asked for by each read
        self._paused: set = set()  # fds not read while their writes are behind
        self._pidfd: Optional[int] = None
        self._reaped = False
        self._fanout_queued = False  # waiting for a slot of the fan-out limit (execo.fanout)
        self._fanout_share: Any = None  # the action share whose slot it holds

    # ---- what to run ------------------------------------------------------

    def _spawn_args(self) -> Any:
        """The argv (or shell string) given to Popen; subclasses such as
        SshProcess wrap the command here."""
        if self.shell:
            return self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)
        if isinstance(self.cmd, str):
            return list(_split_command(self.cmd))
        return list(self.cmd)

    # ---- start --------------------------------------------------------------

    def start(self) -> "Process":
        """Have the process spawned, and return at once.

        A failure to spawn (missing executable, bad cwd...) is not raised: it
        ends the process with ``error`` and ``error_reason`` set.
        """
        with self._lock:
            if self.started:
                return self
            self.started = True
            self.start_date = time.time()
            self._owner_pid = os.getpid()
            # The command is decided now, from the configuration of this
            # moment, even though the spawn comes a little later.
            try:
                args = self._spawn_args()
                if not args:
                    raise ExecoValueError("empty command")
                self._queued_spawn = args
            except (OSError, ValueError) as exc:
                self._queued_spawn = exc
            gate = threading.Lock()
            gate.acquire()
            self._spawn_gate = gate  # last: from now on, _spawn_now may run
        get_conductor().call_soon(self._spawn_now, gate)
        return self

    @property
    def pid(self) -> Optional[int]:
        """The child's pid (None if it could not be spawned); waits for the
        spawn if ``start()`` has only just queued it."""
        self._wait_spawned()
        return self._pid

    def _wait_spawned(self) -> None:
        gate = self._spawn_gate
        if gate is None:
            return
        if get_conductor().in_conductor_thread():
            self._spawn_now(gate)  # queued behind us: do it now
        else:
            wait_lock(gate)
            exit_watchdog.flush_pending()  # what we now know, the watchdog knows

    def _spawn_now(self, gate: threading.Lock) -> None:
        """Conductor thread: spawn the child start() asked for (once: a
        handler that needed it first may have spawned it already)."""
        if self._spawn_gate is not gate:
            return
        args, self._queued_spawn = self._queued_spawn, None
        failure: Optional[str] = None
        refused_at_exit = False
        try:
            if isinstance(args, Exception):
                raise args
            if not children.spawn_unless_exiting(self, lambda: self._spawn(args)):
                failure = "not started: the interpreter is exiting"
                refused_at_exit = True
        except Exception as exc:  # whatever it is, nobody may wait for this spawn forever
            if not isinstance(exc, (OSError, ValueError, subprocess.SubprocessError)):
                log_safely(logging.ERROR, "unexpected failure spawning %s:\n%s", self.name,
                           traceback.format_exc())
            failure = self._describe_spawn_error(exc)
        finally:
            self._spawn_gate = None
            gate.release()
        if failure is not None:
            if refused_at_exit:
                self.nolog_error = True  # said once, by spawn_unless_exiting
            self._end_unstarted(failure)
            return
        self._attach()

    def _describe_spawn_error(self, exc: BaseException) -> str:
        if isinstance(exc, FileNotFoundError) and self.cwd and not os.path.isdir(self.cwd):
            return "cannot start %r: no such working directory %r" % (self.name, self.cwd)
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            return ("cannot start %r: %s (this interpreter's limit: %d): lower "
                    "configuration['fanout'] or an action's fanout, or raise the limit"
                    % (self._spawn_program(), exc.strerror, soft))
        if isinstance(exc, OSError):
            what = exc.filename if exc.filename else self.name
            return "cannot start %r: %s: %s" % (self.name, exc.strerror or exc, what)
        return "cannot start %r: %s" % (self.name, exc)

    def _spawn_program(self) -> str:
        """The program spawned (ssh for a remote command), for messages."""
        try:
            args = self._spawn_args()
        except Exception:
            return self.name
        if isinstance(args, str):
            return args.split(None, 1)[0] if args.strip() else args
        return str(args[0]) if args else ""

    def _spawn(self, args: Any) -> None:
        child = spawn_child(args, self.shell, self.pty, self.cwd, self.env)
        self._pid, self._popen = child.pid, child.popen
        self._pidfd = get_conductor().open_pidfd(self._pid)
        os.set_blocking(child.stdout, False)
        os.set_blocking(child.stderr, False)
        self._readers = {child.stdout: STDOUT, child.stderr: STDERR}
        self._read_sizes = {child.stdout: PIPE_START_SIZE, child.stderr: PIPE_START_SIZE}
        self._stdin = SharedFd(child.stdin)

    # ---- conductor thread ---------------------------------------------------

    def _attach(self) -> None:
        self._watch_child()
        kill_policy.arm_timeout(self)
        self._notify_lifecycle("start")

    def _watch_child(self) -> None:
        conductor = get_conductor()
        for fd in list(self._readers):
            conductor.watch_fd(fd, lambda fd=fd: self._on_readable(fd))
        conductor.watch_exit(self._pid, self._pidfd, self._on_exited)
        self._pidfd = None  # owned by the conductor from now on

    def _spawn_again(self) -> Optional[str]:
        """Conductor thread, ``_lock`` held: a new child for the same run,
        its previous one reaped (a connection tried again, `execo.retry`).
        The run goes on: start date, timeout, handlers and outputs are
        kept. None, or why the spawn failed."""
        self._reaped = False
        self._pid = None
        self._paused = set()
        try:
            args = self._spawn_args()
            if not children.spawn_unless_exiting(self, lambda: self._spawn(args)):
                return "not started again: the interpreter is exiting"
        except Exception as exc:
            return self._describe_spawn_error(exc)
        self._watch_child()
        return None

    def _read_once(self, fd: int) -> int:
        """Read one chunk and deliver it: its size, 0 at the end of the stream
        (the reader is then closed), -1 when nothing is there yet."""
        size = self._read_sizes[fd]
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return -1
        except OSError as exc:
            # EIO is how a pty master says that the slave side is gone.
            self._close_reader(fd, error=exc.errno != errno.EIO)
            return 0
        if not data:
            self._close_reader(fd)
            return 0
        if len(data) == size == PIPE_START_SIZE:
            self._read_sizes[fd] = _grow_pipe(fd)
        self._deliver_output(self._readers[fd], data)
        return len(data)

    def _on_readable(self, fd: int) -> None:
        self._read_once(fd)

    def _pause_output(self, stream: int) -> None:
        # the pipe fills and the program blocks writing: only it waits
        for fd, fd_stream in self._readers.items():
            if fd_stream == stream and fd not in self._paused:
                self._paused.add(fd)
                get_conductor().unwatch_fd(fd)

    def _resume_output(self, stream: int) -> None:
        for fd in [fd for fd in self._paused if self._readers.get(fd) == stream]:
            self._paused.discard(fd)
            get_conductor().watch_fd(fd, lambda fd=fd: self._on_readable(fd))

    def _close_reader(self, fd: int, error: bool = False) -> None:
        stream = self._readers.pop(fd, None)
        if stream is None:
            return
        self._paused.discard(fd)
        del self._read_sizes[fd]
        get_conductor().unwatch_fd(fd)
        if self.pty and stream == STDOUT:
            self._stdin.close()  # the master is both stdin and stdout
        else:
            os.close(fd)
        self._deliver_output(stream, b"", eof=True, error=error)

    def _drain(self, fd: int) -> None:
        """Read what is already in the pipe, then stop: the process has
        exited, and a grandchild holding the pipe must not delay its end."""
        budget = DRAIN_LIMIT
        while budget > 0 and fd in self._readers:
            size = self._read_once(fd)
            if size <= 0:
                break
            budget -= size
        self._close_reader(fd)

    def _on_exited(self) -> None:
        with self._lock:
            try:
                _, status = os.waitpid(self._pid, 0)
                exit_code: Optional[int] = os.waitstatus_to_exitcode(status)
                reason = None
            except ChildProcessError:
                exit_code = None
                reason = "exit status of pid %d lost: reaped outside execo" % self._pid
            self._reaped = True
        end_date = time.time()
        if self._popen is not None:
            # so that Popen.__del__ does not queue our pid for reaping
            self._popen.returncode = exit_code if exit_code is not None else -1
            self._popen = None
        for fd in list(self._readers):
            self._drain(fd)
        self._stdin.close()
        children.forget(self)
        self._set_ended(exit_code, reason, end_date)

    def _left_to_parent_by_fork(self) -> None:
        """In the child of a fork(), with no other thread alive: this copy
        of a running process is the parent's to follow. Drop the child's
        copy of its stdin (the parent's ``close_stdin()`` must still mean
        end of file); the conductor's copies of its pipes are closed by
        the conductor. No lock is taken: the gone conductor may hold it."""
        self._lock = threading.RLock()
        shared, self._stdin = self._stdin, None
        if shared is not None and shared.fd is not None:
            close_quietly(shared.fd)
            shared.fd = None

    def _end_unstarted(self, reason: str) -> None:
        self._set_ended(None, reason)

    # ---- any thread -----------------------------------------------------------

    def _send_signal(self, sig: int) -> None:
        try:
            if self.kill_subprocesses is False:
                os.kill(self._pid, sig)
            else:
                os.killpg(self._pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            log_safely(logging.DEBUG, "cannot send signal %s to %s: %s", sig, self, exc)

    def kill(self, sig: int = signal.SIGTERM, auto_force_kill_timeout: Any = True) -> "Process":
        """Send ``sig`` to the process (and its process group), by the policy
        of `execo.kill_policy`: SIGKILL follows a SIGTERM unanswered after
        ``auto_force_kill_timeout`` (True: ``configuration['kill_timeout']``)."""
        if self._owner_pid is not None and self._owner_pid != os.getpid():
            logger.warning("%s not signalled: it was started by process %d before a fork(), "
                           "and is that process's to kill", self.name, self._owner_pid)
            return self
        if self._fanout_queued:
            fanout.cancel([self])
        self._wait_spawned()
        return super().kill(sig, auto_force_kill_timeout)

    def _waits_for_a_slot(self) -> bool:
        return self._fanout_queued

    def _can_be_signalled(self) -> bool:
        # With self._lock held and the child not reaped, its pid (and thus
        # its process group id) cannot have been recycled.
        return self._pid is not None and not self._reaped

    def write(self, s: Any) -> "Process":
        """Write ``s`` (str or bytes) to the process's stdin.

        A failure (the process closed its stdin or ended) sets
        ``write_error`` and is logged, not raised.
        """
        data = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        self._wait_spawned()
        shared = self._stdin
        fd = shared.acquire() if shared is not None else None
        if fd is None:
            self._write_failed("stdin is closed" if self.started else "process not started")
            return self
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            self._write_failed("%s" % (exc,))
        finally:
            shared.release()
        return self

    def close_stdin(self) -> "Process":
        """Close stdin, so that a program reading it sees end of file."""
        self._wait_spawned()
        if self._stdin is not None and not self.pty:
            self._stdin.close()
        return self

    def _write_failed(self, reason: str) -> None:
        self.write_error = True
        failures.log_failure(self, "write_error", "%s: %s %s" % (
            self.where(), style.emph("write error:"), reason))

    def _args(self) -> List[str]:
        args = super()._args()
        for option in ("shell", "pty"):
            if getattr(self, option):
                args.append("%s=True" % option)
        if self.kill_subprocesses is not None:
            args.append("kill_subprocesses=%r" % (self.kill_subprocesses,))
        if self.cwd is not None:
            args.append("cwd=%r" % (self.cwd,))
        return args

    def _infos(self) -> List[str]:
        return super()._infos() + ["pid=%s" % (self._pid,)]


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
