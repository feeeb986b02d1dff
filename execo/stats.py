"""The counters that processes, actions and reports share."""

from __future__ import annotations

from typing import Any, Dict, Iterable

import execo.failures as failures

__all__ = ["COUNTERS", "aggregate_stats", "empty_stats", "process_stats"]

# one counter per kind of failure (execo.failures.KINDS), between these
COUNTERS = (('num_processes', 'num_started', 'num_ended') + failures.COUNTERS
            + ('num_ok', 'num_finished_ok'))


def empty_stats() -> Dict[str, Any]:
    """All counters at zero, no dates, no sub-stats."""
    stats: Dict[str, Any] = {'name': None, 'start_date': None, 'end_date': None}
    stats.update((counter, 0) for counter in COUNTERS)
    stats['sub_stats'] = []
    return stats


def aggregate_stats(name: Any, sub_stats: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Sum counters; earliest start; latest end, or None while any part runs."""
    stats = empty_stats()
    stats['name'] = name
    stats['sub_stats'] = list(sub_stats)
    end_known = True
    for sub in stats['sub_stats']:
        for counter in COUNTERS:
            stats[counter] += sub.get(counter, 0)
        start = sub.get('start_date')
        if start is not None and (stats['start_date'] is None or start < stats['start_date']):
            stats['start_date'] = start
        end = sub.get('end_date')
        if end is None:
            end_known = False
        elif stats['end_date'] is None or end > stats['end_date']:
            stats['end_date'] = end
    if not end_known:
        stats['end_date'] = None
    return stats


def process_stats(process: Any) -> Dict[str, Any]:
    """The counters of one process, live (`execo.process_base.ProcessBase`)
    or loaded (`execo.results.LoadedProcess`)."""
    stats = empty_stats()
    stats.update(name=process.name, start_date=process.start_date, end_date=process.end_date,
                 num_processes=1, num_started=int(process.started),
                 num_ended=int(process.ended), num_ok=int(bool(process.ok)),
                 num_finished_ok=int(bool(process.finished_ok)))
    stats.update(failures.counts(process))
    return stats
