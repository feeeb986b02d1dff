"""What the ``execo`` command streams: its stdin to every host, and every
host's lines to its terminal as they arrive.

stdin: ``echo x | execo run ... cat`` gives ``x`` to each host, as clush
does; a terminal (or ``--no-stdin``) gives each remote command an empty
stdin (end of file at once): a remote ``cat`` must never wait for
keystrokes nobody knows are awaited. stdin is read while the action runs
and forwarded as it comes: a stdin that never ends (an idle pipe) does
not keep the command alive once every host is done.

Lines: each host's lines are printed as they arrive, prefixed with the
host's name (``node-3: ...``), as clush prints them. Handlers run in the
conductor thread and must not block, so they only queue the lines; the
command's main thread writes them, until the action's end is queued.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, List, Optional, TextIO, Tuple

from execo.action import ActionLifecycleHandler
from execo.output import STDERR, ProcessOutputHandler
from execo.process_base import ProcessLifecycleHandler

__all__ = ["LinePrinter", "StdinFeeder"]


class StdinFeeder(ProcessLifecycleHandler):
    """Forwards a stream (our stdin) to the stdin of every process of an
    action, as it comes; each process's stdin is closed at the stream's
    end, at once for a process started after it.

    The stream is read by a thread of its own, from the moment `read_from`
    is called, while the action runs: a command that never reads its stdin
    ends whenever it ends, and the action with it, even if the stream stays
    open forever (an idle pipe inherited from a parent). A process started
    late (fan-out) is given everything read so far first. Each process is
    written to by its own thread, never by the conductor thread (where
    `start` is called): a host that does not read cannot stall the others.
    With ``fd=None`` there is no stream: every stdin is closed at start.
    """

    def __init__(self) -> None:
        self._chunks: List[bytes] = []
        self._ended = True  # no stream until read_from
        self._changed = threading.Condition()

    def read_from(self, fd: int) -> None:
        """Start forwarding what ``fd`` gives (a daemon thread)."""
        self._ended = False
        threading.Thread(target=self._read, args=(fd,), daemon=True,
                         name="execo stdin reader").start()

    def _read(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._changed:
                if chunk:
                    self._chunks.append(chunk)
                else:
                    self._ended = True
                self._changed.notify_all()
            if not chunk:
                return

    def start(self, process: Any) -> None:
        if self._ended and not self._chunks:
            _close_stdin(process)
            return
        threading.Thread(target=self._feed, args=(process,), daemon=True,
                         name="execo stdin of %s" % (_host_of(process),)).start()

    def _feed(self, process: Any) -> None:
        # a command that ends without reading everything makes a write
        # fail: its process is told ignore_write_error, that is no failure
        sent = 0
        while not process.ended:
            with self._changed:
                while sent == len(self._chunks) and not self._ended:
                    self._changed.wait()
                chunks, ended = self._chunks[sent:], self._ended
            sent += len(chunks)
            if chunks:
                process.write(b"".join(chunks))
            if ended and sent == len(self._chunks):
                break
        _close_stdin(process)


def _close_stdin(process: Any) -> None:
    close_stdin = getattr(process, "close_stdin", None)
    if close_stdin is not None:  # taktuk's processes have no stdin of ours
        close_stdin()


def _host_of(process: Any) -> str:
    host = getattr(process, "host", None)
    return "localhost" if host is None else str(getattr(host, "address", host))


class LinePrinter(ProcessOutputHandler, ActionLifecycleHandler):
    """Queues ``host: line`` for each line of each process (stdout lines to
    stdout, stderr lines to stderr) and the action's end; `print_until_end`
    writes them from the caller's thread.

    Set as the processes' output handler and as the action's lifecycle
    handler (both called from the conductor thread).
    """

    def __init__(self) -> None:
        ProcessOutputHandler.__init__(self)
        self._lines: "queue.Queue[Optional[Tuple[bool, str]]]" = queue.Queue()

    def read_line(self, process: Any, stream: int, string: str) -> None:
        self._lines.put((stream == STDERR, "%s: %s\n" % (_host_of(process), string)))

    def end(self, action: Any) -> None:
        self._lines.put(None)

    def print_until_end(self, stdout: TextIO, stderr: TextIO) -> None:
        """Write each queued line as it comes, until the action ends;
        flushed whenever no other line is waiting."""
        while True:
            item = self._lines.get()
            if item is None:
                return
            to_stderr, line = item
            (stderr if to_stderr else stdout).write(line)
            if self._lines.empty():
                stdout.flush()
                stderr.flush()
