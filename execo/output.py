"""A process's output: captured bytes, text decoding, line splitting, handlers.

Output arrives as byte chunks in the conductor thread. It is kept as bytes
(never lost, whatever the encoding) and decoded once, at the edge: UTF-8 with
replacement characters, so bad bytes never raise. Chunks are appended to a
list and joined only when someone reads the text, so capturing stays linear
in the output size.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Pattern, Sequence, Tuple, Union

from execo.conductor import LIVENESS_PERIOD, check_conductor
from execo.exception import ExecoTypeError, ExecoValueError
from execo.log import log_safely
from execo.writers import WriteAccount, is_writer

__all__ = ["CapturedOutput", "DECODE_ERRORS", "EMPTY_OUTPUT", "ENCODING",
           "ExpectOutputHandler", "LineSplitter", "OutputHandler", "OutputString",
           "ProcessOutputHandler", "STDERR", "STDOUT", "StreamDispatcher", "compact_output",
           "compile_regexes", "new_decoder", "output_handlers", "reads_lines_only",
           "stream_name"]

STDOUT = 1
STDERR = 2

ENCODING = "utf-8"
DECODE_ERRORS = "replace"


def stream_name(stream: int) -> str:
    if stream == STDOUT:
        return "stdout"
    if stream == STDERR:
        return "stderr"
    raise ExecoValueError("invalid stream %r: use STDOUT or STDERR" % (stream,))


class OutputString(str):
    """A str that can also be called.

    The tutorial reads ``process.stdout()`` while execo 2.x scripts use
    ``process.stdout`` as a string: this type serves both.
    """

    __slots__ = ()

    def __call__(self) -> "OutputString":
        return self


EMPTY_OUTPUT = OutputString("")


class CapturedOutput:
    """Everything a stream produced, as bytes, with a cached decoded view.

    Chunks are written to a BytesIO: it grows its buffer in place (realloc of
    large blocks remaps pages instead of copying them) and, once the stream
    has ended, hands that very buffer out as ``bytes``: capturing costs one
    copy of the output, like ``subprocess.run``, and text one decoding more.

    The conductor appends while user threads read: a small lock keeps a view
    computed before an append from being cached after it (which would hide
    that chunk for good). Decoding runs outside the lock, so that a reader of
    a large output never stalls the conductor.
    """

    __slots__ = ("_buffer", "_text", "_bytes", "_appends", "_lock", "_finished")

    def __init__(self) -> None:
        self._buffer: Optional[io.BytesIO] = io.BytesIO()
        self._text: Optional[OutputString] = EMPTY_OUTPUT
        self._bytes: Optional[bytes] = b""
        self._appends = 0
        self._lock = threading.Lock()
        self._finished = False

    def append(self, data: bytes) -> None:
        with self._lock:
            self._buffer.write(data)
            self._appends += 1
            self._text = None
            self._bytes = None

    def finish(self) -> None:
        """The stream has ended: nothing will be appended any more."""
        with self._lock:
            self._finished = True

    def raw(self) -> bytes:
        with self._lock:
            if self._bytes is None:
                if self._buffer is None:  # only the ASCII text is kept: it is the bytes
                    self._bytes = self._text.encode("ascii")
                else:
                    self._bytes = self._buffer.getvalue()
            return self._bytes

    def text(self) -> OutputString:
        with self._lock:
            text = self._text
            if text is not None:
                return text
            if self._bytes is None:
                self._bytes = self._buffer.getvalue()
            if self._finished and self._bytes.isascii():
                return self._ascii_text_locked()
            data, appends = self._bytes, self._appends
        text = OutputString(data.decode(ENCODING, DECODE_ERRORS))
        with self._lock:
            if self._appends == appends:
                self._text = text
        return text

    def _ascii_text_locked(self) -> OutputString:
        # A str subclass is always a copy of a str: bytes + str + copy would
        # peak at 3x the output. ASCII text IS its bytes, so the bytes go
        # before the copy is made (and are re-encoded if asked for): 2x.
        plain = self._bytes.decode("ascii")
        self._bytes = self._buffer = None
        self._text = OutputString(plain)
        return self._text


def new_decoder() -> codecs.IncrementalDecoder:
    """A decoder that keeps a multibyte character cut between two chunks."""
    return codecs.getincrementaldecoder(ENCODING)(DECODE_ERRORS)


class LineSplitter:
    """Turns text chunks into complete lines, incrementally.

    Lines are returned without their ``\\n`` (nor a ``\\r`` before it, as
    sent by ptys). A line longer than any chunk is kept as a list of pieces
    and joined once, when its end arrives: no quadratic concatenation.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: List[str] = []

    def feed(self, text: str) -> List[str]:
        if "\n" not in text:
            if text:
                self._pending.append(text)
            return []
        lines = text.split("\n")
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = "".join(self._pending)
            self._pending = []
        tail = lines.pop()
        if tail:
            self._pending.append(tail)
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    def flush(self) -> Optional[str]:
        """The last, unterminated line, if any."""
        if not self._pending:
            return None
        line = "".join(self._pending)
        self._pending = []
        return line[:-1] if line.endswith("\r") else line


class ProcessOutputHandler:
    """Receives a process's output, in the conductor thread.

    Override `read_line` to get complete lines, or `read` to get chunks as
    they arrive. Both are called from the conductor thread: they must not
    block, or every process stalls. One handler may serve many processes
    and streams.
    """

    def __init__(self) -> None:
        self._splitters: Dict[Tuple[Any, int], LineSplitter] = {}

    def read(self, process: Any, stream: int, string: str, eof: bool, error: bool) -> None:
        """Called with each decoded chunk; ``eof``/``error`` on the last call."""
        key = (process, stream)
        splitters = self.__dict__.setdefault("_splitters", {})
        splitter = splitters.get(key)
        if splitter is None:
            splitter = splitters[key] = LineSplitter()
        for line in splitter.feed(string):
            self.read_line(process, stream, line)
        if eof or error:
            last = splitter.flush()
            if last is not None:
                self.read_line(process, stream, last)
            del splitters[key]

    def read_line(self, process: Any, stream: int, string: str) -> None:
        """Called with each complete line, without its line separator."""


def reads_lines_only(handler: Any) -> bool:
    """True for handlers that only override `read_line`: the process then
    splits lines once for all of them instead of once per handler."""
    return (isinstance(handler, ProcessOutputHandler)
            and type(handler).read is ProcessOutputHandler.read)


OutputHandler = Union[ProcessOutputHandler, str, int, Any]


def _is_handler(value: Any) -> bool:
    return isinstance(value, ProcessOutputHandler) or is_writer(value)


def output_handlers(value: Any, what: str) -> List[OutputHandler]:
    """The handler list of ``stdout_handlers``/``stderr_handlers`` (named
    ``what``), checked now rather than at the first output: None (or the
    2.x False) is none; a single handler or path is a list of one (a path
    read as a sequence would be one file per character).

    >>> output_handlers("out.txt", "stdout_handlers")
    ['out.txt']
    >>> output_handlers([3.5], "stdout_handlers")
    Traceback (most recent call last):
    ...
    execo.exception.ExecoTypeError: stdout_handlers: 3.5 is neither a ProcessOutputHandler, a file path, a file descriptor nor a file object
    """
    if value is None or value is False:
        return []
    if _is_handler(value):
        return [value]
    try:
        handlers = list(value)
    except TypeError:
        handlers = [value]
    for handler in handlers:
        if not _is_handler(handler):
            raise ExecoTypeError("%s: %r is neither a ProcessOutputHandler, a file path, "
                                 "a file descriptor nor a file object" % (what, handler))
    return handlers


class StreamDispatcher:
    """Delivers one stream's chunks to its capture and its handlers.

    `feed` runs in the conductor thread; `add_handler` may run in any thread
    while output flows. Both hold a lock while they touch the capture, the
    handler list and the decoder, so that a handler added mid-stream gets
    every chunk exactly once: in the history it is handed, or as a chunk.
    Handlers themselves are called outside that lock.
    """

    __slots__ = ("process", "stream", "handlers", "capture", "_decoder", "_splitter",
                 "writes", "eof", "_lock", "_tail", "_failed")

    def __init__(self, process: Any, stream: int, handlers: List[OutputHandler],
                 capture: Optional[CapturedOutput]) -> None:
        self.process = process
        self.stream = stream
        self.handlers = handlers  # the process's live list: users may append to it
        self.capture = capture
        # The decoder exists only while handlers receive text; when it is
        # made again, the last bytes of the stream (_tail) put it back on a
        # character boundary, so a character cut between two chunks survives.
        self._decoder: Optional[codecs.IncrementalDecoder] = None
        self._tail = b""
        self._splitter: Optional[LineSplitter] = None
        self.writes: Optional[WriteAccount] = None  # made at the first file-like handler
        self.eof = False
        self._lock = threading.Lock()
        self._failed: Optional[set] = None  # ids of the handlers that raised

    def _new_decoder(self) -> codecs.IncrementalDecoder:
        decoder = new_decoder()
        if self._tail:
            decoder.decode(self._tail)  # only its unfinished character is kept
        return decoder

    def add_handler(self, handler: OutputHandler, backtrack: bool,
                    prepare: Optional[Callable[[str, bool], None]] = None) -> None:
        """Append ``handler``; if ``prepare`` is given, first call it with the
        text the handler will not get as chunks (all the captured output if
        ``backtrack``, else nothing), and whether the stream has ended."""
        with self._lock:
            if handler in self.handlers:
                return
            if prepare is not None:
                history = ""
                if backtrack and self.capture is not None:
                    if self.eof:
                        history = self.capture.text()
                    else:
                        decoder = self._decoder if self._decoder is not None else self._new_decoder()
                        unfinished = len(decoder.getstate()[0])
                        raw = self.capture.raw()
                        history = (self.capture.text() if not unfinished
                                   else raw[:len(raw) - unfinished].decode(ENCODING, DECODE_ERRORS))
                prepare(history, self.eof)
            self.handlers.append(handler)

    def feed(self, data: bytes, eof: bool = False, error: bool = False) -> None:
        final = eof or error
        with self._lock:
            if self.eof:
                return
            if data and self.capture is not None:
                self.capture.append(data)
            if final:
                self.eof = True
                if self.capture is not None:
                    self.capture.finish()
            handlers = list(self.handlers)
            if handlers and self._decoder is None:
                self._decoder = self._new_decoder()  # from the bytes before this chunk
            if data:
                self._tail = data[-3:] if len(data) >= 3 else (self._tail + data)[-3:]
            if not handlers:
                self._decoder = None  # out of step from now on: remade when needed
                return
            text = self._decoder.decode(data, final=final)
        line_handlers = None
        for handler in handlers:
            if reads_lines_only(handler):
                if line_handlers is None:
                    line_handlers = []
                line_handlers.append(handler)
            else:
                try:
                    self._deliver(handler, data, text, eof, error)
                except Exception:
                    self._handler_raised(handler)
        if line_handlers:
            if self._splitter is None:
                self._splitter = LineSplitter()
            lines = self._splitter.feed(text)
            if final:
                last = self._splitter.flush()
                if last is not None:
                    lines.append(last)
            for line in lines:
                for handler in line_handlers:
                    try:
                        handler.read_line(self.process, self.stream, line)
                    except Exception:
                        self._handler_raised(handler)
        if final and self.writes is not None:
            self.writes.end()

    def _handler_raised(self, handler: Any) -> None:
        """A handler raised: the other handlers still get the chunk, and it
        gets the next lines. Said once per handler and stream: one that
        fails on every line must not bury the log."""
        if self._failed is None:
            self._failed = set()
        if id(handler) in self._failed:
            return
        self._failed.add(id(handler))
        log_safely(logging.ERROR, "%s handler %r raised on %s (said once):\n%s",
                   stream_name(self.stream), handler, self.process, traceback.format_exc())

    def _deliver(self, handler: Any, data: bytes, text: str, eof: bool, error: bool) -> None:
        if isinstance(handler, ProcessOutputHandler):
            handler.read(self.process, self.stream, text, eof, error)
        elif is_writer(handler):
            writes = self.writes
            if writes is None:
                process, stream = self.process, self.stream
                writes = self.writes = WriteAccount(lambda: process._pause_output(stream),
                                                    lambda: process._resume_output(stream))
            writes.write(handler, data, text)
        else:
            raise ExecoTypeError("output handler %r is neither a ProcessOutputHandler, "
                            "a file path, a file descriptor nor a file object" % (handler,))


class ExpectOutputHandler(ProcessOutputHandler):
    """Watches streams for regexes, as pexpect does.

    Each (process, stream) it is added to is searched from the end of the
    previous match. `read` runs in the conductor thread and only appends and
    notifies; the searching happens in the thread that calls `expect`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()
        self._buffers: Dict[Tuple[Any, int], str] = {}
        # chunks not yet joined to the buffer: joined when an expect looks,
        # so that output arriving while nobody expects costs one append each
        # (concatenating every chunk to the buffer would be quadratic).
        self._pending: Dict[Tuple[Any, int], List[str]] = {}
        self._eof: Dict[Tuple[Any, int], bool] = {}

    def start_watching(self, process: Any, stream: int, history: str) -> None:
        with self._cond:
            self._buffers[(process, stream)] = history
            self._pending[(process, stream)] = []
            self._eof[(process, stream)] = False

    def read(self, process: Any, stream: int, string: str, eof: bool, error: bool) -> None:
        key = (process, stream)
        with self._cond:
            if string:
                self._pending.setdefault(key, []).append(string)
            self._eof[key] = self._eof.get(key, False) or eof or error
            self._cond.notify_all()

    def _buffer(self, key: Tuple[Any, int]) -> Optional[str]:
        pending = self._pending.get(key)
        if pending:
            self._buffers[key] = self._buffers.get(key, "") + "".join(pending)
            pending.clear()
        return self._buffers.get(key)

    def expect(self, regexes: Union[str, Pattern, Sequence[Union[str, Pattern]]],
               timeout: Optional[float] = None, only: Optional[Tuple[Any, int]] = None
               ) -> Dict[Tuple[Any, int], Tuple[int, Any]]:
        """Block until a regex matches in a watched stream, the timeout passes
        (None: no limit, 0: do not block) or every watched stream is at EOF.

        Returns ``{(process, stream): (regex_index, match)}`` for the streams
        that matched, each consumed up to the end of its match. ``only``
        restricts the search to one (process, stream), leaving the others'
        output for their own expects.
        """
        compiled = compile_regexes(regexes)
        if timeout is not None and timeout != timeout:
            raise ValueError("an expect's timeout cannot be nan")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                matches = {}
                keys = [only] if only is not None else list(self._eof)
                for key in keys:
                    buffer = self._buffer(key)
                    if buffer is None:
                        continue
                    for index, regex in enumerate(compiled):
                        match = regex.search(buffer)
                        if match:
                            matches[key] = (index, match)
                            self._buffers[key] = buffer[match.end():]
                            break
                if matches:
                    return matches
                if only is not None:
                    if self._eof.get(only, True):
                        return {}
                elif self._eof and all(self._eof.values()):
                    return {}
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return {}
                if not self._cond.wait(LIVENESS_PERIOD if remaining is None
                                       else min(remaining, LIVENESS_PERIOD)):
                    check_conductor()


def compile_regexes(regexes: Any) -> List[Pattern]:
    """Regexes given as strings are compiled with re.MULTILINE, so that ``^``
    and ``$`` anchor at line boundaries of the output."""
    if isinstance(regexes, (str, re.Pattern)):
        regexes = [regexes]
    return [r if isinstance(r, re.Pattern) else re.compile(r, re.MULTILINE) for r in regexes]


def compact_output(s: str, threshold: Optional[int] = None) -> str:
    """Head and tail of ``s`` when it is longer than the configured threshold."""
    if threshold is None:
        from execo.config import configuration
        threshold = configuration.get("compact_output_threshold", 0)
    if not threshold or len(s) <= threshold:
        return s
    half = threshold // 2
    return s[:half] + "\n[...]\n" + s[-half:]
