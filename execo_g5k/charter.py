"""Grid5000's usage charter in time: when big reservations are frowned upon.

The charter asks users not to hold many resources during French working
hours: weekdays from 9:00 to 19:00, Paris time, public holidays excepted.
Everything here reasons on Paris wall-clock time through ``zoneinfo``,
whatever the machine's time zone, so the answers do not change when a
script runs on a laptop set to UTC. (execo 2.x forked a process per date
to switch ``TZ``; its ``get_next_charter_period`` also read the period's
*end* in the machine's time zone: the two agree on a machine set to Paris
time, as Grid5000's frontends are.)

>>> g5k_charter_time("2030-01-02 10:00:00")  # doctest: +SKIP
True
"""

from __future__ import annotations

import datetime
import functools
from typing import FrozenSet, List, Optional, Tuple

from execo.time_utils import Date, get_unixts

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover - python < 3.9 is not supported anyway
    raise

__all__ = ['PARIS', 'french_holidays', 'g5k_charter_time', 'get_charter_el_planning',
           'get_next_charter_period', 'get_oar_day_start_end', 'is_work_day',
           'oar_datetime_to_unixts', 'unixts_to_oar_datetime']

PARIS = ZoneInfo('Europe/Paris')
DAY_START = datetime.time(9)
DAY_END_HOUR = 19

# month, day of the holidays that do not move with Easter
_FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
# Easter Monday, Ascension Thursday, Whit Monday: days after Easter Sunday
_EASTER_OFFSETS = (1, 39, 50)


def _easter_sunday(year: int) -> datetime.date:
    """Gregorian Easter Sunday (the "anonymous" computus, Meeus' form)."""
    golden = year % 19
    century, year_in_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    moon_correction = (century + 8) // 25
    synchrony = (century - moon_correction + 1) // 3
    epact = (19 * golden + century - leap_centuries - synchrony + 15) % 30
    quarter, year_rest = divmod(year_in_century, 4)
    weekday_shift = (32 + 2 * century_rest + 2 * quarter - epact - year_rest) % 7
    late = (golden + 11 * epact + 22 * weekday_shift) // 451
    month, day = divmod(epact + weekday_shift - 7 * late + 114, 31)
    return datetime.date(year, month, day + 1)


@functools.lru_cache(maxsize=None)
def french_holidays(year: int) -> FrozenSet[datetime.date]:
    """The French public holidays of ``year`` (cached: asked once per date).

    >>> datetime.date(2030, 7, 14) in french_holidays(2030)
    True
    """
    easter = _easter_sunday(year)
    return frozenset([datetime.date(year, month, day) for month, day in _FIXED_HOLIDAYS]
                     + [easter + datetime.timedelta(days=n) for n in _EASTER_OFFSETS])


def is_work_day(day: datetime.date) -> bool:
    """Monday to Friday and not a French public holiday."""
    return day.weekday() < 5 and day not in french_holidays(day.year)


def _next_work_day(day: datetime.date) -> datetime.date:
    day += datetime.timedelta(days=1)
    while not is_work_day(day):
        day += datetime.timedelta(days=1)
    return day


def unixts_to_oar_datetime(ts: Date) -> datetime.datetime:
    """The naive Paris wall-clock datetime of a date, to the second.

    >>> unixts_to_oar_datetime(0)
    datetime.datetime(1970, 1, 1, 1, 0)
    """
    seconds = int(get_unixts(ts))
    return datetime.datetime.fromtimestamp(seconds, PARIS).replace(tzinfo=None)


def oar_datetime_to_unixts(dt: datetime.datetime) -> float:
    """The timestamp of a naive datetime read as Paris wall-clock time.

    >>> oar_datetime_to_unixts(datetime.datetime(1970, 1, 1, 1, 0))
    0.0
    """
    return dt.replace(tzinfo=PARIS).timestamp()


def get_oar_day_start_end(day: datetime.date) -> Tuple[float, float]:
    """First and last second of ``day`` in Paris, as timestamps."""
    start = oar_datetime_to_unixts(datetime.datetime(day.year, day.month, day.day))
    return start, start + 24 * 3600 - 1


def _in_charter(paris: datetime.datetime) -> bool:
    return 9 <= paris.hour < DAY_END_HOUR and is_work_day(paris.date())


def g5k_charter_time(t: Date) -> bool:
    """Whether the date falls in charter time (a work day, 9:00-19:00 Paris).

    >>> g5k_charter_time(datetime.datetime(2030, 7, 14, 10))  # a holiday
    False
    """
    return _in_charter(unixts_to_oar_datetime(t))


def get_next_charter_period(start: Date, end: Date
                            ) -> Tuple[Optional[float], Optional[float]]:
    """The first charter period met between ``start`` and ``end``, clipped to them.

    Returns ``(period_start, period_end)`` as timestamps, or ``(None, None)``
    when the whole interval is outside charter time. A ``start`` inside a
    period starts the answer; an ``end`` inside one ends it.

    >>> get_next_charter_period("2030-07-13 12:00", "2030-07-13 13:00")
    (None, None)
    """
    first = unixts_to_oar_datetime(start)
    last = unixts_to_oar_datetime(end)
    if last <= first:
        return None, None
    if _in_charter(first):
        period_start = first
    else:
        if first.time() < DAY_START and is_work_day(first.date()):
            day = first.date()
        else:
            day = _next_work_day(first.date())
        period_start = datetime.datetime.combine(day, DAY_START)
        if period_start > last:
            return None, None
    period_end = period_start.replace(hour=DAY_END_HOUR, minute=0, second=0)
    return oar_datetime_to_unixts(period_start), oar_datetime_to_unixts(min(last, period_end))


def get_charter_el_planning(start_time: Date, end_time: Date) -> List[Tuple[int, int]]:
    """Every charter period between two dates, as ``(start, end)`` integers.

    This is the busy list that ``get_planning(out_of_chart=True)`` adds to
    every element: a reservation found then avoids charter time.
    """
    periods = []
    start, end = int(get_unixts(start_time)), int(get_unixts(end_time))
    while True:
        period_start, period_end = get_next_charter_period(start, end)
        if period_start is None:
            return periods
        periods.append((int(period_start), int(period_end)))
        start = int(period_end)


# execo 2.x names this module served (see execo_g5k.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES  # noqa: E402
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)
__dir__ = legacy_dir(__name__, globals(), G5K_LEGACY_MODULES)
