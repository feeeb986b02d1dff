"""Spawning a local child: its pipes, what it inherits, the fastest way to
start it.

`execo.process.Process` decides when a child is spawned (in the conductor
thread) and then watches it; this module only makes it. Everything the
child inherits is decided in `spawn_child`, in one place: its own session
(and process group, so that a kill reaches its children), only its three
standard fds from us (ours are all close-on-exec), default SIGPIPE/SIGXFSZ
dispositions (Python ignores them), and stdin always a pipe or pty of
ours, never our terminal (ssh would read our keystrokes).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import subprocess
import termios
from typing import Any, Dict, NamedTuple, Optional, Tuple

__all__ = ["Spawned", "close_quietly", "spawn_child"]

_DEFAULT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ")
                         if hasattr(signal, name))


class Spawned(NamedTuple):
    """A child just spawned: its pid, the Popen object when Popen spawned
    it (None otherwise), and our ends of its stdin, stdout and stderr (a
    pty's master is both stdin and stdout)."""
    pid: int
    popen: Optional[subprocess.Popen]
    stdin: int
    stdout: int
    stderr: int


def close_quietly(*fds: Optional[int]) -> None:
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def spawn_child(args: Any, shell: bool, pty: bool, cwd: Optional[str],
                env: Optional[Dict[str, str]]) -> Spawned:
    """Spawn ``args`` (an argv, or a string for ``/bin/sh -c`` if ``shell``)
    with new pipes (stdin and stdout on a pty if ``pty``). Raises what the
    spawn raised, with every descriptor it opened closed."""
    out_r = out_w = err_r = err_w = in_r = in_w = None
    popen = None
    try:
        err_r, err_w = os.pipe()
        if pty:
            in_w, in_r = os.openpty()  # master, slave
            out_r, out_w = in_w, in_r
        else:
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
        if pty or cwd is not None or min(in_r, out_w, err_w) <= 2:
            popen = _spawn_with_popen(args, shell, pty, cwd, env, in_r, out_w, err_w)
            pid = popen.pid
        else:
            pid = _spawn_with_posix_spawn(args, shell, env, in_r, out_w, err_w)
    except BaseException:
        close_quietly(*{out_r, out_w, err_r, err_w, in_r, in_w} - {None})
        raise
    close_quietly(*{in_r, out_w, err_w})  # a pty's slave is both stdin and stdout
    return Spawned(pid, popen, in_w, out_r, err_r)


def _our_environment() -> Any:
    """Our environment, for posix_spawn. ``os.environ`` decodes and
    re-encodes every variable on each spawn (a sixth of the cost of
    starting ``true``); its underlying dict of bytes is what the OS holds
    and is kept in step by ``os.environ`` itself."""
    return getattr(os.environ, "_data", os.environ)


_found_executables: Dict[Tuple[str, str], str] = {}


def _find_executable(name: str, search_path: str) -> Optional[str]:
    """Where a PATH search finds ``name`` (None: nowhere). Hits are
    remembered: otherwise each spawn tries every PATH directory with a
    failing execve. Misses are not, so a program installed later is found."""
    if "/" in name:
        return name
    key = (name, search_path)
    found = _found_executables.get(key)
    if found is None:
        found = shutil.which(name, path=search_path)
        if found is not None:
            if len(_found_executables) > 1024:
                _found_executables.clear()
            _found_executables[key] = found
    return found


def _spawn_with_posix_spawn(args: Any, shell: bool, env: Optional[Dict[str, str]],
                            stdin: int, stdout: int, stderr: int) -> int:
    """The fast path: vfork+exec in C, several times cheaper than Popen."""
    argv = ["/bin/sh", "-c", args] if shell else args
    options = dict(file_actions=[(os.POSIX_SPAWN_DUP2, stdin, 0),
                                 (os.POSIX_SPAWN_DUP2, stdout, 1),
                                 (os.POSIX_SPAWN_DUP2, stderr, 2)],
                   setsid=True, setsigdef=_DEFAULT_SIGNALS)
    # The PATH search is ours: posix_spawnp would search the PATH of our
    # own environment, not of the child's ``env``.
    search_path = env.get("PATH", os.defpath) if env is not None \
        else os.environ.get("PATH", os.defpath)
    child_env = env if env is not None else _our_environment()
    for attempt in (1, 2):
        executable = _find_executable(argv[0], search_path)
        if executable is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
        try:
            return os.posix_spawn(executable, argv, child_env, **options)
        except FileNotFoundError:
            if attempt == 2 or "/" in argv[0]:
                raise
            # moved or removed since it was found: search again
            _found_executables.pop((argv[0], search_path), None)
    raise AssertionError("unreachable")


def _become_tty_owner() -> None:
    # In the child, after setsid: make the pty slave (fd 0) our controlling
    # terminal, as programs run "on a terminal" expect.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _spawn_with_popen(args: Any, shell: bool, pty: bool, cwd: Optional[str],
                      env: Optional[Dict[str, str]], stdin: int, stdout: int,
                      stderr: int) -> subprocess.Popen:
    """For what posix_spawn cannot do here: a cwd, a controlling tty."""
    return subprocess.Popen(
        args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
        cwd=cwd, env=env, start_new_session=True, close_fds=True,
        preexec_fn=_become_tty_owner if pty else None)
