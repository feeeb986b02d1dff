"""What the OAR and oargrid helpers share, under public names.

`execo_g5k.oar` and `execo_g5k.oargrid` both run one frontend command per
site at once, filter jobs by a window of dates (``start_between``,
``end_between``) and list nodes in their natural order (``node-2`` before
``node-10``). The date and duration formats of OAR themselves are
`execo_g5k.oar_submission`'s (``format_oar_date``, ``format_oar_duration``,
2.x's names).
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from execo.process import Process
from execo.time_utils import Date, get_unixts

__all__ = ["date_window", "in_date_window", "natural_sorted", "run_all"]


def run_all(processes: Sequence[Process]) -> None:
    """Start every process, then wait for all: one per frontend, in parallel."""
    for process in processes:
        process.start()
    for process in processes:
        process.wait()


def _natural_key(name: str) -> List[Union[int, str]]:
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', name)]


def natural_sorted(names: Iterable[str]) -> List[str]:
    """``names`` with their numbers compared as numbers.

    >>> natural_sorted(["node-10", "node-2"])
    ['node-2', 'node-10']
    """
    return sorted(names, key=_natural_key)


def date_window(between: Optional[Sequence[Date]]) -> Optional[Tuple[float, float]]:
    """A ``(low, high)`` pair of dates as unix timestamps (None: no window)."""
    if between is None:
        return None
    low, high = between
    return get_unixts(low), get_unixts(high)


def in_date_window(date: Optional[float], window: Optional[Tuple[float, float]]) -> bool:
    """True if there is no window, or ``date`` is known and inside it."""
    if window is None:
        return True
    if date is None:
        return False
    low, high = window
    return (low is None or date >= low) and (high is None or date <= high)
