"""Dates and durations as experimenters write them, and a Timer.

Durations may be numbers of seconds, ``datetime.timedelta`` or strings such
as ``"1:30:00"`` (OAR's walltime format) or ``"1h30m"``; dates may be unix
timestamps, ``datetime`` objects or ``"YYYY-MM-DD HH:MM:SS"`` strings in
local time.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Optional, Union

from execo.exception import ExecoTypeError, ExecoValueError

__all__ = ["Date", "Duration", "Timer", "format_date", "format_duration", "get_seconds", "get_timeout",
           "get_unixts", "sleep"]

Duration = Union[None, int, float, str, datetime.timedelta]
Date = Union[None, int, float, str, datetime.datetime, datetime.date]

_UNIT_SECONDS = {'d': 86400, 'h': 3600, 'm': 60, 's': 1}
_UNITS_RE = re.compile(r'^\s*(?:(\d+(?:\.\d*)?)\s*d)?\s*(?:(\d+(?:\.\d*)?)\s*h)?\s*'
                       r'(?:(\d+(?:\.\d*)?)\s*m)?\s*(?:(\d+(?:\.\d*)?)\s*s?)?\s*$')


def get_seconds(duration: Duration) -> Optional[float]:
    """Seconds in ``duration`` (None stays None: "no limit").

    >>> get_seconds("1:02:03"), get_seconds("1h30m"), get_seconds(2)
    (3723.0, 5400.0, 2.0)
    """
    if duration is None:
        return None
    if isinstance(duration, bool):
        raise ExecoTypeError("a duration cannot be a bool: %r" % (duration,))
    if isinstance(duration, (int, float)):
        return float(duration)
    if isinstance(duration, datetime.timedelta):
        return duration.total_seconds()
    if isinstance(duration, str):
        text = duration.strip()
        if ':' in text:
            fields = text.split(':')
            if len(fields) <= 4 and all(re.match(r'^\d+(\.\d*)?$', f) for f in fields):
                seconds = 0.0
                for factor, field in zip((1, 60, 3600, 86400), reversed(fields)):
                    seconds += factor * float(field)
                return seconds
        else:
            match = _UNITS_RE.match(text)
            if match and text and any(match.groups()):
                return sum(float(value) * _UNIT_SECONDS[unit]
                           for value, unit in zip(match.groups(), 'dhms') if value)
    raise ExecoValueError("unsupported duration %r: give seconds, a timedelta, "
                     "'[[D:]H:]M:S' or '1d2h3m4s'" % (duration,))


def get_timeout(duration: Duration, what: str = "a timeout") -> Optional[float]:
    """`get_seconds` for a timeout, refusing nan: it would mean neither
    "at once" nor "no limit", and the waits that compare with it would
    silently pick one.

    >>> get_timeout(float("nan"), "default_expect_timeout")
    Traceback (most recent call last):
    ...
    execo.exception.ExecoValueError: default_expect_timeout cannot be nan
    """
    seconds = get_seconds(duration)
    if seconds is not None and seconds != seconds:
        raise ExecoValueError("%s cannot be nan" % (what,))
    return seconds


def get_unixts(d: Date) -> Optional[float]:
    """Unix timestamp of the date ``d`` (strings are local time).

    >>> get_unixts(12.5)
    12.5
    """
    date = d
    if date is None:
        return None
    if isinstance(date, bool):
        raise ExecoTypeError("a date cannot be a bool: %r" % (date,))
    if isinstance(date, (int, float)):
        return float(date)
    if isinstance(date, datetime.datetime):
        return date.timestamp()
    if isinstance(date, datetime.date):
        return time.mktime(date.timetuple())
    if isinstance(date, str):
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                return datetime.datetime.strptime(date.strip(), fmt).timestamp()
            except ValueError:
                pass
    raise ExecoValueError("unsupported date %r: give a unix timestamp, a datetime "
                     "or 'YYYY-MM-DD HH:MM:SS'" % (date,))


def format_date(d: Date, showms: bool = False) -> str:
    """The date ``d`` as 'YYYY-MM-DD HH:MM:SS+HH:MM' in local time, the
    offset from UTC as RFC 3339 writes it (and as 2.x printed dates); None
    gives 'None'.

    >>> format_date(0.0)[19] in '+-'
    True
    """
    timestamp = get_unixts(d)
    if timestamp is None:
        return "None"
    local = time.localtime(timestamp)
    text = time.strftime("%Y-%m-%d %H:%M:%S", local)
    if showms:
        text += ".%03d" % (int(round((timestamp % 1) * 1000)) % 1000,)
    offset = time.strftime("%z", local)  # '+0200'
    return "%s%s:%s" % (text, offset[:3], offset[3:])


def format_duration(duration: Duration, showms: bool = False) -> str:
    """A compact human reading of ``duration``.

    >>> format_duration(3723.5), format_duration(3723.5, showms=True)
    ('1h2m3s', '1h2m3.500s')
    """
    seconds = get_seconds(duration)
    if seconds is None:
        return "None"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join("%d%s" % (value, unit)
                   for value, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if value)
    if showms:
        text += "%d.%03ds" % (secs, int(round((seconds - whole) * 1000)) % 1000)
    elif secs or not text:
        text += "%ds" % secs
    return sign + text


def sleep(delay: Duration = None, until: Date = None) -> None:
    """Sleep ``delay`` seconds, or until the date ``until``, whichever is later.

    >>> sleep(0.01)
    """
    seconds = get_seconds(delay) or 0.0
    end = time.time() + seconds
    until_ts = get_unixts(until)
    if until_ts is not None:
        end = max(end, until_ts)
    while True:
        remaining = end - time.time()
        if remaining <= 0:
            return
        time.sleep(remaining)


class Timer:
    """Measures time elapsed since its creation, against an optional timeout.

    >>> t = Timer(10); 0 <= t.elapsed() < 10 < t.remaining() + 1
    True
    """

    def __init__(self, timeout: Duration = None):
        self.timeout = get_seconds(timeout)
        self._start = time.time()

    def start_date(self) -> float:
        return self._start

    def elapsed(self) -> float:
        return time.time() - self._start

    def remaining(self) -> Optional[float]:
        """Seconds left before the timeout (may be negative); None if no timeout."""
        if self.timeout is None:
            return None
        return self.timeout - self.elapsed()

    def wait_elapsed(self, elapsed: Duration) -> "Timer":
        """Sleep until ``elapsed`` seconds have passed since the timer started."""
        sleep(until=self._start + (get_seconds(elapsed) or 0.0))
        return self


# execo 2.x's one-type converters: get_seconds and get_unixts take any type


def timedelta_to_seconds(td: datetime.timedelta) -> float:
    """Seconds in ``td``.

    >>> timedelta_to_seconds(datetime.timedelta(minutes=1, microseconds=5))
    60.000005
    """
    return td.total_seconds()


def datetime_to_unixts(dt: datetime.datetime) -> float:
    """Unix timestamp of ``dt`` (a naive datetime is local time)."""
    return dt.timestamp()


def unixts_to_datetime(ts: float, tz: Optional[datetime.tzinfo] = None) -> datetime.datetime:
    """A naive local datetime, or an aware one in ``tz``."""
    return datetime.datetime.fromtimestamp(ts, tz)


def numeric_date_to_unixts(d: Union[int, float]) -> float:
    return float(d)


def numeric_duration_to_seconds(d: Union[int, float]) -> float:
    return float(d)


def str_date_to_unixts(d: str) -> float:
    """Unix timestamp of a 'YYYY-MM-DD HH:MM:SS' string in local time.

    >>> str_date_to_unixts("1970-01-02 00:00:00") == get_unixts("1970-01-02 00:00:00")
    True
    """
    if not isinstance(d, str):
        raise TypeError("not a string date: %r" % (d,))
    return get_unixts(d)  # type: ignore[return-value]


def str_duration_to_seconds(duration: str) -> float:
    """Seconds in a duration string ('[[D:]H:]M:S' or '1d2h3m4s').

    >>> str_duration_to_seconds("1:00:00")
    3600.0
    """
    if not isinstance(duration, str):
        raise TypeError("not a string duration: %r" % (duration,))
    return get_seconds(duration)  # type: ignore[return-value]


def format_unixts(secs: Optional[float], showms: bool = False) -> str:
    """`format_date` of a unix timestamp."""
    return format_date(secs, showms)


def format_seconds(secs: Optional[float], showms: bool = False) -> str:
    """`format_duration` of a number of seconds."""
    return format_duration(secs, showms)


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
