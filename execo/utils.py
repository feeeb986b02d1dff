"""Small helpers that 2.x scripts import from ``execo.utils``.

Only what has a use of its own lives here: `get_port` hands out the local
ports of port forwarders (`execo.port_forwarder`) and of anything a script
listens on, from the range a site allows (``configuration['port_range']``).
"""

from __future__ import annotations

import random
import threading
from typing import Optional, Tuple

from execo.config import configuration
from execo.exception import ExecoValueError

__all__ = ["get_port"]

_port_lock = threading.Lock()
_last_port: Optional[int] = None


def _port_range() -> Tuple[int, int]:
    start, end = configuration['port_range']
    start, end = int(start), int(end)
    if not 0 < start < end <= 65536:
        raise ExecoValueError("configuration['port_range'] must be (start, end) with "
                         "0 < start < end <= 65536 (end excluded), not %r"
                         % (configuration['port_range'],))
    return start, end


def get_port() -> int:
    """The next port of ``configuration['port_range']`` (start included, end
    excluded), round-robin from a random first one; safe across threads.

    Random first, so that two scripts started together do not fight over the
    same ports; round-robin after, so that a port just released is the last
    one handed out again. The range is read at each call: a change takes
    effect at once. A port is not reserved: a caller that cannot bind it
    asks for the next one.

    >>> start, end = configuration['port_range']
    >>> start <= get_port() < end
    True
    """
    global _last_port
    start, end = _port_range()
    with _port_lock:
        if _last_port is None or not start <= _last_port < end:
            _last_port = random.randrange(start, end)
        else:
            _last_port = _last_port + 1 if _last_port + 1 < end else start
        return _last_port
