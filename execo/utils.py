"""Small helpers that 2.x scripts import from ``execo.utils``.

`get_port` hands out the local ports of port forwarders
(`execo.port_forwarder`) and of anything a script listens on, from the
range a site allows (``configuration['port_range']``). The rest are the
small helpers 2.x scripts call (joining, memoizing, command-line
naming), each with one obvious meaning.
"""

from __future__ import annotations

import functools
import random
import shlex
import threading
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from execo.config import configuration
from execo.exception import ExecoValueError

__all__ = ["checked_min", "comma_join", "do_once", "get_port", "is_string",
           "memoize", "singleton_to_collection", "str_from_cmdline"]

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


def is_string(s: Any) -> bool:
    """True for a str (2.x also took Python 2's unicode)."""
    return isinstance(s, str)


def comma_join(*args: str) -> str:
    """The non-empty strings joined with ", ".

    >>> comma_join("a", "", "b")
    'a, b'
    """
    return ", ".join(arg for arg in args if arg)


def checked_min(a: Any, b: Any) -> Any:
    """min() where None means "no bound".

    >>> checked_min(None, 3), checked_min(2, 3)
    (3, 2)
    """
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def singleton_to_collection(arg: Any) -> Any:
    """A collection for ``arg``: [] for None, [arg] for a string or a
    non-iterable, ``arg`` itself otherwise.

    >>> singleton_to_collection("h1"), singleton_to_collection(None)
    (['h1'], [])
    """
    if arg is None:
        return []
    if isinstance(arg, str) or not hasattr(arg, "__iter__"):
        return [arg]
    return arg


def str_from_cmdline(cmdline: Union[str, Sequence[str]]) -> str:
    """A command line as one shell string (an argv is quoted word by word).

    >>> str_from_cmdline(["echo", "a b"])
    "echo 'a b'"
    """
    return cmdline if isinstance(cmdline, str) else shlex.join(cmdline)


def memoize(obj: Callable) -> Callable:
    """A decorator caching ``obj``'s results by the text of its arguments;
    the cache is ``obj.cache``, public, so that a script can clear it.

    >>> @memoize
    ... def square(x): return x * x
    >>> square(3), square.cache
    (9, {'(3,){}': 9})
    """
    cache: Dict[str, Any] = {}
    obj.cache = cache  # type: ignore[attr-defined]

    @functools.wraps(obj)
    def memoized(*args: Any, **kwargs: Any) -> Any:
        key = str(args) + str(kwargs)
        if key not in cache:
            cache[key] = obj(*args, **kwargs)
        return cache[key]
    return memoized


_done: Dict[Tuple[Any, Any], Any] = {}
_done_lock = threading.Lock()


def do_once(key: Any, func: Callable, *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` the first time ``(func, key)`` is seen; its
    first result afterwards.

    >>> do_once("k", list, "ab"), do_once("k", list, "cd")
    (['a', 'b'], ['a', 'b'])
    """
    with _done_lock:
        if (func, key) not in _done:
            _done[(func, key)] = func(*args, **kwargs)
        return _done[(func, key)]


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
