"""The taktuk wire: what we ask taktuk to print, and how we read it back.

taktuk prints each event of each host through an output template, a Perl
expression given with ``-o stream=template``. Its default templates are
for humans: a host's output that happens to look like a status line would
be taken for one. Ours are for a parser: every record starts with a
two-byte marker and a kind letter, then ASCII header fields on one line,
then, for records that carry data (a command's output, a connector's
message...), exactly as many raw bytes as the header announces. Data is
never scanned for separators, so output containing the marker, newlines,
NUL or invalid UTF-8 bytes, or megabyte-long lines, comes back intact.

Records (``pos`` is the position of the host on taktuk's command line,
``1``, ``2``... or ``0`` for the local root, ``len`` a byte count)::

    O pos len   + data      stdout of the command run on pos
    E pos len   + data      stderr of the command run on pos
    S pos status            wait status of the command (as waitpid gives it)
    T pos pPEER code rank len + peers   a state event (see EVENT_*)
    C pos pPEER len + line  what the connector to PEER wrote on its stderr
    K pos len   + line      a taktuk diagnostic ("LEVEL message")
    X type pos len + line   anything else (info, message...)

This module knows nothing of processes or actions: it turns bytes into
`Record` objects, incrementally, and builds the bits of taktuk's command
line that must be escaped.
"""

from __future__ import annotations

import os
import re
from typing import List, NamedTuple, Optional, Sequence

from execo.argv import printf_escape

__all__ = ["MARKER", "Record", "RecordParser", "TEMPLATE_OPTIONS", "encode_command",
           "escape_argument", "exit_code_from_status", "EVENT_NAMES"]

MARKER = b"\x1e\x1f"
# Perl string escapes for the same two bytes, for use inside the templates.
_PERL_MARKER = r"\036\037"

# taktuk's state codes (taktuk(1), stream "state") that execo acts upon.
EVENT_READY = 0
EVENT_NUMBERED = 1
EVENT_TERMINATED = 2
EVENT_CONNECTION_FAILED = 3
EVENT_CONNECTION_INITIALIZED = 4
EVENT_CONNECTION_LOST = 5
EVENT_COMMAND_STARTED = 6
EVENT_COMMAND_FAILED = 7
EVENT_COMMAND_TERMINATED = 8
EVENT_RECEPTION_STARTED = 13
EVENT_RECEPTION_FAILED = 14
EVENT_RECEPTION_TERMINATED = 15
EVENT_SEND_FAILED = 16

EVENT_NAMES = {
    0: "ready", 1: "numbered", 2: "terminated", 3: "connection failed",
    4: "connection initialized", 5: "connection lost", 6: "command started",
    7: "command failed", 8: "command terminated", 9: "numbering update failed",
    10: "pipe input started", 11: "pipe input failed", 12: "pipe input terminated",
    13: "file reception started", 14: "file reception failed",
    15: "file reception terminated", 16: "file send failed", 17: "invalid target",
    18: "no target", 19: "message delivered", 20: "invalid destination",
    21: "destination not available anymore", 22: "wait complete", 23: "wait reduce complete",
}


def _with_data(kind: str, header: str, header_args: str, data: str) -> str:
    """A template printing ``marker kind header len\\n`` then ``data``."""
    return 'sprintf("%s%s %s %%d\\n",%s,length(%s)).%s' % (
        _PERL_MARKER, kind, header, header_args, data, data)


# stream -> Perl template. $line has its newline removed; $eol holds it
# (or nothing, when taktuk forwards a partial line), so $line.$eol is
# exactly what the command wrote.
TEMPLATES = {
    "output": _with_data("O", "%s", "$position", "$line.$eol"),
    "error": _with_data("E", "%s", "$position", "$line.$eol"),
    "status": '"%sS $position $line\\n"' % _PERL_MARKER,
    "state": _with_data("T", "%s p%s %s %s", "$position,$peer_position,$line,$rank",
                        '(defined($peers_given)?$peers_given:"")'),
    "connector": _with_data("C", "%s p%s", "$position,$peer_position", "$line"),
    "taktuk": _with_data("K", "%s", "$position", '"$level_name $line"'),
    "info": _with_data("X", "%s %s", "$type,$position", "$line"),
    "message": _with_data("X", "%s %s", "$type,$position", "$line"),
    "default": _with_data("X", "%s %s", "$type,$position", "$line"),
}

# taktuk's own diagnostics go to its stderr by default: into the stream too.
TEMPLATE_OPTIONS: List[str] = [arg for stream, template in TEMPLATES.items()
                               for arg in ("-o", "%s=%s" % (stream, template))]
TEMPLATE_OPTIONS += ["-R", "taktuk=>&=1"]

_PAYLOAD_KINDS = frozenset((b"O", b"E", b"T", b"C", b"K", b"X"))
# number of header fields, the length excluded, per kind
_FIELD_COUNTS = {b"O": 1, b"E": 1, b"S": 2, b"T": 4, b"C": 2, b"K": 1, b"X": 2}
_MAX_HEADER = 4096


class Record(NamedTuple):
    """One parsed record. ``fields`` are the header fields (str) after the
    kind letter and without the length; ``data`` the attached bytes."""
    kind: str
    fields: Sequence[str]
    data: bytes = b""

    @property
    def position(self) -> str:
        return self.fields[1] if self.kind == "X" else self.fields[0]


class RecordParser:
    """Turns taktuk's stdout, fed chunk by chunk, into `Record` objects.

    Bytes that are not a well-formed record (taktuk or Perl printing
    something without a template, a truncated stream) come out as
    ``Record("junk", (), data)``, and parsing resumes at the next marker:
    nothing stalls and nothing is silently dropped.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> List[Record]:
        buffer = self._buffer
        buffer += data
        records: List[Record] = []
        start = 0
        size = len(buffer)
        while start < size:
            if not buffer.startswith(MARKER, start):
                next_marker = buffer.find(MARKER, start)
                if next_marker >= 0:
                    end = next_marker
                else:  # keep a final byte that may begin a marker
                    end = size - 1 if buffer.endswith(MARKER[:1]) else size
                if end <= start:
                    break
                records.append(Record("junk", (), bytes(buffer[start:end])))
                start = end
                continue
            newline = buffer.find(b"\n", start, start + _MAX_HEADER)
            if newline < 0:
                if size - start < _MAX_HEADER:
                    break  # the header is not all here yet
                records.append(Record("junk", (), bytes(buffer[start:start + 2])))
                start += 2
                continue
            record, consumed = self._parse_record(buffer, start, newline)
            if record is None:
                break  # the data is not all here yet
            records.append(record)
            start += consumed
        del buffer[:start]
        return records

    def _parse_record(self, buffer: bytearray, start: int,
                      newline: int) -> "tuple[Optional[Record], int]":
        header = bytes(buffer[start + 2:newline])
        kind = header[:1]
        parts = header[1:].split(b" ")
        expected = _FIELD_COUNTS.get(kind)
        bad = Record("junk", (), bytes(buffer[start:newline + 1]))
        if expected is None or not header[1:2] == b" ":
            return bad, newline + 1 - start
        parts = parts[1:]
        if kind in _PAYLOAD_KINDS:
            if len(parts) != expected + 1 or not parts[-1].isdigit():
                return bad, newline + 1 - start
            length = int(parts[-1])
            end = newline + 1 + length
            if end > len(buffer):
                return None, 0
            fields = tuple(p.decode("ascii", "replace") for p in parts[:-1])
            return (Record(kind.decode(), fields, bytes(buffer[newline + 1:end])),
                    end - start)
        if len(parts) != expected:
            return bad, newline + 1 - start
        fields = tuple(p.decode("ascii", "replace") for p in parts)
        return Record(kind.decode(), fields), newline + 1 - start

    def flush(self) -> List[Record]:
        """At end of stream: whatever is left is an incomplete record."""
        if not self._buffer:
            return []
        rest = bytes(self._buffer)
        self._buffer.clear()
        return [Record("junk", (), rest)]


def peer_of(record: Record) -> str:
    """The peer position of a T or C record ("" when there is none)."""
    return record.fields[1][1:]


def encode_command(command: str) -> str:
    """``command`` as a shell line that taktuk passes through untouched.

    taktuk parses the text between ``exec [`` and ``]`` itself, and parses
    it again on each remote node: brackets, quotes and separators in a
    user's command would be mangled or cut. The returned line only holds
    characters taktuk leaves alone; ``/bin/sh`` on the remote node decodes
    it with its printf builtin and evaluates the original text.

    >>> encode_command("echo a]")
    'eval "$(printf \\'echo\\\\040a\\\\135\\')"'
    """
    return "eval \"$(printf '%s')\"" % printf_escape(command)


ESCAPE_CHARACTER = "!"  # found in no template and no encoded command
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./=:+@,-]")


def escape_argument(text: str) -> str:
    """``text`` with every character taktuk could interpret preceded by
    `ESCAPE_CHARACTER` (taktuk's ``-E``), for put/get paths."""
    return "".join(c if _SAFE_PATH.match(c) else ESCAPE_CHARACTER + c for c in text)


def exit_code_from_status(status: str) -> Optional[int]:
    """A wait status as taktuk reports it, in subprocess's convention
    (negative for a signal); None if it is not a number."""
    try:
        value = int(status)
    except ValueError:
        return None
    try:
        return os.waitstatus_to_exitcode(value)
    except ValueError:
        return value
