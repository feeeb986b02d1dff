"""What the ``execo`` command streams: its stdin to every host, and every
host's lines to its terminal as they arrive.

stdin: ``echo x | execo run ... cat`` gives ``x`` to each host, as clush
does; a terminal (or ``--no-stdin``) gives each remote command an empty
stdin (end of file at once): a remote ``cat`` must never wait for
keystrokes nobody knows are awaited. The data is read once, before the
action starts, and each process gets it as soon as it is spawned.

Lines: each host's lines are printed as they arrive, prefixed with the
host's name (``node-3: ...``), as clush prints them. Handlers run in the
conductor thread and must not block, so they only queue the lines; the
command's main thread writes them, until the action's end is queued.
"""

from __future__ import annotations

import queue
import select
import threading
from typing import Any, Optional, TextIO, Tuple

from execo.action import ActionLifecycleHandler
from execo.output import STDERR, ProcessOutputHandler
from execo.process_base import ProcessLifecycleHandler

__all__ = ["LinePrinter", "StdinFeeder"]

_PIPE_BUF = select.PIPE_BUF  # a write of this size into an empty pipe never blocks


class StdinFeeder(ProcessLifecycleHandler):
    """Gives ``data`` to each process's stdin when it starts, then closes
    it (at once when there is no data).

    A host whose command never reads its stdin must not stall the others:
    data that may not fit in the new, empty pipe is written by a thread of
    its own per process, never by the conductor thread (where `start` is
    called); up to PIPE_BUF bytes always fit, so they are written at once.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data

    def start(self, process: Any) -> None:
        if len(self.data) <= _PIPE_BUF:
            self._feed(process)
            return
        threading.Thread(target=self._feed, args=(process,), daemon=True,
                         name="execo stdin of %s" % (getattr(process, "host", ""),)).start()

    def _feed(self, process: Any) -> None:
        # a command that ends without reading all of it makes the write
        # fail: its process is told ignore_write_error, that is no failure
        if self.data:
            process.write(self.data)
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
