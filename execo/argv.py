"""Words of a command line: options as users configure them, text escaped for sh.

Connection params and configuration keys give a command or its options
either as one string (``'-o BatchMode=yes'``, split as a shell would) or,
as execo 2.x did, as a sequence of words. Every argv builder (ssh, scp,
taktuk, kadeploy) turns them into words here, so that both forms mean the
same everywhere.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, List, Sequence, Union

from execo.exception import ExecoTypeError

__all__ = ["Command", "check_command", "name_from_cmdline", "option_words", "printf_escape"]

Command = Union[str, Sequence[str]]
"""A command: one string (split as a shell would, or run by one), or argv words."""

# Bytes kept as they are by printf_escape; any other becomes an octal escape.
_PRINTF_SAFE_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               b"0123456789_./=:+@,-")


def option_words(value: Any) -> List[str]:
    """A configured command or option set as argv words.

    >>> option_words("ssh -o 'A=b c'"), option_words(("-p", 22)), option_words(None)
    (['ssh', '-o', 'A=b c'], ['-p', '22'], [])
    """
    if value is None or value is False:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def printf_escape(text: str) -> str:
    """``text`` as a printf format of safe characters and octal escapes:
    it needs no quoting in single or double quotes, at any depth, and
    ``printf "$x"`` gives ``text`` back (trailing newlines aside).

    >>> print(printf_escape("a b%"))
    a\\040b\\045
    """
    return "".join(chr(byte) if byte in _PRINTF_SAFE_BYTES else "\\%03o" % byte
                   for byte in text.encode("utf-8"))


def name_from_cmdline(cmdline: Command, width: int = 39) -> str:
    text = cmdline if isinstance(cmdline, str) else " ".join(shlex.quote(arg) for arg in cmdline)
    text = re.sub(r"\s+", " ", text.strip())
    return text if len(text) <= width else text[:width - 3] + "..."


def check_command(cmd: Any) -> Command:
    if isinstance(cmd, str):
        return cmd
    if isinstance(cmd, (list, tuple)) and cmd and all(isinstance(arg, str) for arg in cmd):
        return cmd
    raise ExecoTypeError("a command is a string or a non-empty list of strings, not %r" % (cmd,))
