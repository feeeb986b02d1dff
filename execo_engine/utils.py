"""Where an experiment's stdout and stderr go, and file names from values.

`copy_outputs` keeps the console and also writes to files (a ``tee``
per stream); `redirect_outputs` sends them to files only. Both act on
the file descriptors 1 and 2, so the outputs of child processes that
inherit them and of C code are caught too, not only Python's prints.
`slugify` turns a combination into the name 2.x would give its result
file.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import termios
import unicodedata
from typing import Any, List, Tuple

__all__ = ["slugify", "copy_outputs", "redirect_outputs"]


def slugify(value: Any, separator: str = '-') -> str:
    """A file-name-safe, lower-case ASCII form of ``str(value)``.

    ``slugify({'size': 10, 'algo': 'Fast B'}) == 'size-10-algo-fast-b'``:
    the same name as execo 2.x gives, so a resumed run finds the result
    files of a 2.x run. Accents are dropped, characters other than
    letters, digits, ``_`` and ``-`` removed, runs of blanks and
    separators become one ``separator``.
    """
    text = unicodedata.normalize('NFKD', str(value)).encode('ascii', 'ignore').decode('ascii')
    text = re.sub(r'[^\w\s-]', '', text).strip().lower()
    return re.sub('[%s\\s]+' % re.escape(separator), separator, text)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _line_buffered_stdout() -> None:
    # a file is block-buffered by default; an experiment's log must be
    # readable while it runs, and not lose its end when killed
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)


def redirect_outputs(stdout_filename: str, stderr_filename: str) -> None:
    """Send fds 1 and 2 to these files (appended; the same name twice
    merges them)."""
    _flush_std_streams()
    for fd, filename in ((1, stdout_filename), (2, stderr_filename)):
        target = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    _line_buffered_stdout()


# (the fd, the descriptor it had before, the tee writing it to a file)
_tees: List[Tuple[int, int, subprocess.Popen]] = []


def _stop_tees() -> None:
    """At exit: hand the original descriptors back, so each tee sees the
    end of its input and finishes writing its file before we are gone."""
    _flush_std_streams()
    while _tees:
        fd, original, tee = _tees.pop()
        os.dup2(original, fd)
        os.close(original)
        try:
            tee.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass   # something else holds the pipe (a detached child): let tee run on


def copy_outputs(stdout_filename: str, stderr_filename: str, use_pty: bool = False) -> None:
    """Keep fds 1 and 2 where they go, and append a copy to these files.

    Each stream goes through a ``tee`` process in a session of its own, so
    that a Ctrl-C on the terminal interrupts the script but not the copy:
    the last lines, traceback included, reach the file. ``use_pty`` puts a
    pseudo-terminal instead of a pipe in front of tee (programs then see a
    terminal and keep line buffering).
    """
    _flush_std_streams()
    if not _tees:
        atexit.register(_stop_tees)
    for fd, filename in ((1, stdout_filename), (2, stderr_filename)):
        if use_pty:
            read_end, write_end = os.openpty()
            # keep "\n" as it is written: no "\r\n" in the files
            attributes = termios.tcgetattr(write_end)
            attributes[1] &= ~termios.OPOST
            termios.tcsetattr(write_end, termios.TCSANOW, attributes)
        else:
            read_end, write_end = os.pipe()
        # A pty's reader gets EIO, not an end of file, when the writer is
        # gone: tee would report that as an error, at every exit.
        tee = subprocess.Popen(["tee", "-a", "-i", filename], stdin=read_end, stdout=fd,
                               stderr=subprocess.DEVNULL if use_pty else None,
                               start_new_session=True)
        os.close(read_end)
        original = os.dup(fd)
        os.dup2(write_end, fd)
        os.close(write_end)
        _tees.append((fd, original, tee))
    _line_buffered_stdout()
