"""Free cores per element, for CoORM-style requests (2.x's undocumented helpers).

execo 2.x shipped ``compute_coorm_slots`` and ``find_coorm_slot`` for the
CoORM resource manager experiments: instead of hosts free for a walltime,
they count the *cores* of the hosts free at each instant, and a request is
an amount of core-hours per element. They are kept here because scripts
import them, with 2.x's counting rule unchanged, since a script resumed
with us must get the same numbers:

- the instants are the planning's state changes (``slot_limits``);
- at an instant, every free interval that has *started* counts its host's
  cores once (the interval's end is not looked at, so a host free in two
  earlier intervals counts twice), unless it starts at or after the slot's
  end found so far;
- the slot ends at the earliest end of the intervals counted.

Hence a slot may end before it starts; ``find_coorm_slot`` then never
chooses it for a positive request. Tests compare with 2.8.2.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from execo.log import logger
from execo.time_utils import format_date
from execo_g5k.api_utils import get_g5k_clusters, get_host_attributes
from execo_g5k.exception import G5kKeyError
from execo_g5k.planning_slots import Planning, remove_excluded, slot_limits

__all__ = ['compute_coorm_slots', 'find_coorm_slot']

# 2.x's "no end yet" for a slot with no free interval started
_NO_END = 10 ** 25

CoormSlot = Tuple[float, float, Dict[str, int]]


def _free_intervals_with_cores(planning: Planning) -> List[Tuple[float, float, int, str, str]]:
    """Every free interval of the clusters' hosts, in the planning's order,
    with its host's cores, cluster and site."""
    clusters = set(get_g5k_clusters(queues=None))
    intervals = []
    for site, site_planning in planning.items():
        for cluster, hosts in site_planning.items():
            if cluster not in clusters:  # 'vlans', 'subnets', 'storage'
                continue
            for host, el_planning in hosts.items():
                cores = get_host_attributes(host)['architecture']['nb_cores']
                intervals.extend((start, end, cores, cluster, site)
                                 for start, end in el_planning['free'])
    return intervals


def compute_coorm_slots(planning: Planning, excluded_elements: Optional[Iterable[str]] = None
                        ) -> List[CoormSlot]:
    """``[(start, end, {element: free cores})...]``, by 2.x's rule (module docstring).

    Every site and every resource of a site gets a count, zero if nothing
    is free there, plus ``'grid5000'``. The hosts' core counts come from the
    API (``architecture.nb_cores``). ``excluded_elements`` (sites, clusters,
    hosts) are left out of the counts; 2.x accepted and ignored them. The
    planning is not modified.

    >>> slots = compute_coorm_slots(get_planning(['nancy']))  # doctest: +SKIP
    >>> slots[0][2]['nancy']                                  # doctest: +SKIP
    512
    """
    if excluded_elements:
        planning = copy.deepcopy(planning)
        remove_excluded(planning, excluded_elements)
    intervals = _free_intervals_with_cores(planning)
    slots = []
    for start in slot_limits(planning):
        free_cores = {'grid5000': 0}
        for site, site_planning in planning.items():
            free_cores[site] = 0
            free_cores.update(dict.fromkeys(site_planning, 0))
        end = _NO_END
        for interval_start, interval_end, cores, cluster, site in intervals:
            if interval_start <= start and interval_start < end:
                free_cores[cluster] += cores
                free_cores[site] += cores
                free_cores['grid5000'] += cores
                end = min(end, interval_end)
        slots.append((start, end, free_cores))
    return slots


def find_coorm_slot(slots: Iterable[CoormSlot], resources_wanted: Mapping[str, float]
                    ) -> Optional[CoormSlot]:
    """The first slot offering, on every wanted element, its cores × hours.

    ``resources_wanted`` is ``{element: cores}``: a slot fits when each
    element's free cores reach ``cores`` times the slot's length in hours.
    None when no slot fits (as 2.x, not ``(None, None, None)``).

    >>> find_coorm_slot(slots, {'nancy': 64})                 # doctest: +SKIP
    (1924300800, 1924315200, {'grid5000': 512, 'nancy': 512, ...})
    """
    for start, end, free in slots:
        logger.debug('coorm slot %s - %s: %s', format_date(start), format_date(end), free)
        try:
            # cores * length / 3600, in 2.x's order: the same rounding
            if all(free[element] >= cores * (end - start) / 3600
                   for element, cores in resources_wanted.items()):
                return start, end, free
        except KeyError as exc:
            raise G5kKeyError('find_coorm_slot: %s is not an element of the slots (known: %s)'
                              % (exc, ', '.join(sorted(free)))) from None
    return None
