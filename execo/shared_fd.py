"""SharedFd: a file descriptor written by one thread, closed by another.

A process's stdin is written by the user's thread (``write()``) while the
conductor may close it (the process ended); closing must wait for the
write in progress, or the write could land in an fd number already
reused by someone else.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

__all__ = ["SharedFd"]


class SharedFd:
    """An fd that one thread may be writing to while the conductor wants to
    close it: closing is deferred until the writer is done, so a write can
    never land in an fd number that was closed and reused meanwhile."""

    __slots__ = ("fd", "_lock", "_users", "_close_pending")

    def __init__(self, fd: int) -> None:
        self.fd: Optional[int] = fd
        self._lock = threading.Lock()
        self._users = 0
        self._close_pending = False

    def acquire(self) -> Optional[int]:
        with self._lock:
            if self.fd is None or self._close_pending:
                return None
            self._users += 1
            return self.fd

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._close_pending:
                self._really_close()

    def close(self) -> None:
        with self._lock:
            if self._users:
                self._close_pending = True
            elif self.fd is not None:
                self._really_close()

    def _really_close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = None
        self._close_pending = False
