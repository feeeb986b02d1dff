"""The code examples of the doc's .rst pages, as the test suite runs them.

A page's examples are its ``.. code-block:: python`` blocks, in page order.
A reader runs them one after the other in one interpreter, so the test
does the same: one namespace per page, blocks executed in order.

An RST comment right above a block (blank lines allowed between) says how
to treat it; without one, a python block is run and must not make execo
log a warning::

    .. doc-example: may-warn      (run; execo may log warnings: the point)
    .. doc-example: config-file   (the text of a ~/.execo.conf.py: loaded by
                                   a fresh interpreter, not run here)
    .. doc-example: not-run WHY   (shown only; WHY is mandatory)
    .. doc-example: file NAME     (a file the next blocks use, a script...:
                                   written to the working directory as NAME)
    .. doc-example: root          (run as root only: the emulated test bed;
                                   CI runs as root, where it is never skipped)
    .. doc-example: root-may-warn (the same, and execo may log warnings)

Blocks in other languages (``console``, ``text``...) are never run.
"""

from __future__ import annotations

import os
import re
import textwrap
from typing import Iterator, List, NamedTuple, Optional

DOC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "doc")

RUN = "run"
MAY_WARN = "may-warn"
CONFIG_FILE = "config-file"
NOT_RUN = "not-run"
FILE = "file"
ROOT = "root"
ROOT_MAY_WARN = "root-may-warn"
MODES = (RUN, MAY_WARN, CONFIG_FILE, NOT_RUN, FILE, ROOT, ROOT_MAY_WARN)

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<language>\S+)\s*$")
_MARKER = re.compile(r"^\s*\.\. doc-example:\s*(?P<mode>\S+)\s*(?P<reason>.*?)\s*$")


class Example(NamedTuple):
    page: str        # file name, e.g. "tutorial.rst"
    line: int        # line number of the block's first code line (1-based)
    language: str
    mode: str
    reason: str
    code: str

    @property
    def where(self) -> str:
        return "%s:%d" % (self.page, self.line)

    def compiled(self):
        # padded so that tracebacks give the line numbers of the .rst file
        return compile("\n" * (self.line - 1) + self.code, os.path.join("doc", self.page),
                       "exec")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _marker_above(lines: List[str], index: int) -> Optional[re.Match]:
    index -= 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    return _MARKER.match(lines[index]) if index >= 0 else None


def examples(page: str) -> Iterator[Example]:
    """Every code block of ``doc/<page>``, python or not, in order."""
    with open(os.path.join(DOC_DIR, page)) as rst:
        lines = rst.read().splitlines()
    index = 0
    while index < len(lines):
        directive = _DIRECTIVE.match(lines[index])
        if not directive:
            index += 1
            continue
        indent = len(directive.group("indent"))
        marker = _marker_above(lines, index)
        index += 1
        while index < len(lines) and lines[index].strip().startswith(":") \
                and _indent(lines[index]) > indent:
            index += 1  # directive options
        start = index
        while index < len(lines) and (not lines[index].strip()
                                      or _indent(lines[index]) > indent):
            index += 1
        body = lines[start:index]
        while body and not body[0].strip():
            body.pop(0)
            start += 1
        mode, reason = (marker.group("mode"), marker.group("reason")) if marker else (RUN, "")
        if mode not in MODES:
            raise ValueError("doc/%s:%d: unknown doc-example mode %r (one of %s)"
                             % (page, start + 1, mode, ", ".join(MODES)))
        if mode == NOT_RUN and not reason:
            raise ValueError("doc/%s:%d: a not-run example must say why" % (page, start + 1))
        if mode == FILE and not reason:
            raise ValueError("doc/%s:%d: a file example must give its name" % (page, start + 1))
        yield Example(page, start + 1, directive.group("language"), mode, reason,
                      textwrap.dedent("\n".join(body)) + "\n")


def pages() -> List[str]:
    return sorted(name for name in os.listdir(DOC_DIR) if name.endswith(".rst"))
