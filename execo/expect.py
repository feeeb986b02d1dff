"""expect: waiting until a process's output matches, pexpect-style.

`Expecting` is the part of `execo.process_base.ProcessBase` that watches
a stream for regexes on behalf of the threads blocked in `expect` (the
matching itself is `execo.output.ExpectOutputHandler`'s). It keeps apart
what a process's lifecycle does not need: each thread's handler, and the
``expect_fail`` flag it sets when nothing matched.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Optional, Tuple

import execo.failures as failures
from execo.log import style
from execo.output import STDOUT, ExpectOutputHandler, compile_regexes
from execo.time_utils import get_seconds

__all__ = ["Expecting"]


class Expecting:
    """A process's expects. The process provides ``_lock``,
    ``_expect_handlers`` (None until the first expect),
    ``_own_expect_handlers``, ``_dispatchers``, the handler lists,
    ``default_expect_timeout``, the ``expect_fail`` flags and `_check_owner`."""

    _lock: Any
    _expect_handlers: Optional[threading.local]
    _dispatchers: Any

    def expect(self, regexes: Any, timeout: Any = False, stream: int = STDOUT,
               backtrack: bool = True,
               expect_output_handler: Optional[ExpectOutputHandler] = None
               ) -> Tuple[Optional[int], Optional[re.Match]]:
        """Wait until one of ``regexes`` matches the output, pexpect-style.

        Returns ``(index of the regex, match)``, or ``(None, None)`` when the
        timeout passes (False: ``default_expect_timeout``; None: no limit) or
        the stream ends first, which also sets ``expect_fail``. Each thread
        searches from the end of its previous match; the first search starts
        at the beginning of the output if ``backtrack``, else at the next
        output. The search runs on each arrival, and output arrives in
        pieces of any size: a regex that ends where more of the same could
        follow (``(\\d+)``) may match only part of it.
        """
        if timeout is False:
            timeout = self.default_expect_timeout
        timeout = get_seconds(timeout)
        self._check_owner("expect on")
        compiled = compile_regexes(regexes)
        handler = self.watch_expect(stream, backtrack, expect_output_handler)
        found = handler.expect(compiled, timeout, only=(self, stream)).get((self, stream))
        if found is not None:
            return found
        self.expect_fail = True
        failures.log_failure(self, "expect_fail", "%s: %s %s" % (
            self.where(), style.emph("expect failed:"), [r.pattern for r in compiled]))
        return None, None

    def watch_expect(self, stream: int = STDOUT, backtrack: bool = True,
                     expect_output_handler: Optional[ExpectOutputHandler] = None
                     ) -> ExpectOutputHandler:
        """Start recording ``stream`` for this thread's expects, without
        waiting. `expect` does it on its first call; an action calls it on
        all its processes first, so that none misses output while another
        is being waited for. Returns the handler (thread-local by default).
        """
        if self._expect_handlers is None:
            with self._lock:
                if self._expect_handlers is None:
                    self._expect_handlers = threading.local()
        handler = expect_output_handler or getattr(self._expect_handlers, "handler", None)
        if handler is None:
            handler = self._expect_handlers.handler = ExpectOutputHandler()
            self._own_expect_handlers.append(handler)
        handlers = self.stdout_handlers if stream == STDOUT else self.stderr_handlers
        if handler not in handlers:
            def prepare(history: str, ended: bool) -> None:
                handler.start_watching(self, stream, history)
                if ended:
                    handler.read(self, stream, "", True, False)
            # the dispatcher hands the history and adds the handler in one
            # step: output arriving meanwhile is neither lost nor seen twice
            self._dispatchers[stream].add_handler(handler, backtrack, prepare)
        return handler
