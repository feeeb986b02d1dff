"""Slots: how many hosts are free, per Grid5000 element, from each instant on.

A planning (see ``execo_g5k.planning.get_planning``) gives, per site,
cluster and host, the busy and free intervals. A *slot* is
``[start, start + walltime, {element: free hosts}]``: its start is one of
the instants where some element changes state, and a host counts as free
when one of its free intervals covers the whole walltime from the start.

execo 2.x answers by scanning every host for every instant (instants ×
hosts tests). Here each free interval is turned once into the range of
instants it can serve (two bisections), the ranges are added to
difference arrays, and one running sum per element gives all the counts:
the same slots, in time proportional to their size. Tests compare the
answers with 2.8.2's on the benchmark planning and on random ones.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate, chain
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from execo.time_utils import Duration, get_seconds
from execo_g5k.api_utils import get_cluster_site, get_g5k_clusters, get_g5k_sites

__all__ = ['Planning', 'Slot', 'compute_slots', 'find_first_slot', 'find_free_slot',
           'find_max_slot', 'max_resources', 'remove_excluded', 'slot_limits']

Interval = Tuple[float, float]
# {site: {cluster or 'vlans'/'subnets'/'storage': {element: {'busy': [...], 'free': [...]}}}}
Planning = Dict[str, Dict[str, Dict[str, Dict[str, List[Interval]]]]]
# [start, end, {element: free hosts}] (a list, as 2.x hands it out)
Slot = List[Any]
NO_SLOT = (None, None, None)
# kavlan numbers: local VLANs are below 10, global ones above
_GLOBAL_VLAN_MIN = 10


def remove_excluded(planning: Planning, excluded_elements: Iterable[str]) -> None:
    """Delete excluded sites, clusters, hosts and VLANs from ``planning``, in place.

    In place as in 2.x: ``compute_slots(planning, w, excluded_elements=[...])``
    leaves the planning without them, and scripts may rely on it.
    """
    excluded = set(excluded_elements)
    for site in excluded.intersection(get_g5k_sites()):
        planning.pop(site, None)
    for site_planning in planning.values():
        for resource in list(site_planning):
            if resource in excluded:
                del site_planning[resource]
                continue
            elements = site_planning[resource]
            for element in excluded.intersection(elements):
                del elements[element]


def slot_limits(planning: Planning) -> List[float]:
    """The instants where some element of the planning changes state.

    The planning's last instant is left out: no slot starts there.
    """
    instants = set()
    for site_planning in planning.values():
        for elements in site_planning.values():
            for el_planning in elements.values():
                instants.update(chain.from_iterable(el_planning['busy']))
                instants.update(chain.from_iterable(el_planning['free']))
    limits = sorted(instants)
    return limits[:-1]


def _usable_ranges(free: Sequence[Interval], limits: Sequence[float], walltime: float
                   ) -> List[Tuple[int, int]]:
    """Index ranges [lo, hi) of the limits from which ``free`` holds ``walltime``.

    A free interval (a, b) serves the limits t with a <= t and t + walltime <= b.
    Overlapping ranges are merged, so that an element counts once.
    """
    count = len(limits)
    ranges = []
    for start, end in free:
        if end - start < walltime:   # most gaps between jobs: nothing to search
            continue
        low = bisect_left(limits, start)
        high = bisect_right(limits, end - walltime, low)
        # the test is on t + walltime <= end: settle float rounding on that form
        while high < count and limits[high] + walltime <= end:
            high += 1
        while high > low and limits[high - 1] + walltime > end:
            high -= 1
        if low < high:
            ranges.append((low, high))
    if len(ranges) < 2:
        return ranges
    ranges.sort()
    merged = [ranges[0]]
    for low, high in ranges[1:]:
        last_low, last_high = merged[-1]
        if low <= last_high:
            if high > last_high:
                merged[-1] = (last_low, high)
        else:
            merged.append((low, high))
    return merged


class _Counters:
    """One difference array per element; ``columns()`` gives the counts."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.deltas: Dict[str, List[int]] = {}

    def declare(self, name: str) -> List[int]:
        delta = self.deltas.get(name)
        if delta is None:
            delta = self.deltas[name] = [0] * (self.size + 1)
        return delta

    def columns(self) -> Tuple[List[str], List[List[int]]]:
        names = list(self.deltas)
        return names, [list(accumulate(self.deltas[name][:-1])) for name in names]


def _add(deltas: Sequence[List[int]], ranges: Sequence[Tuple[int, int]]) -> None:
    for low, high in ranges:
        for delta in deltas:
            delta[low] += 1
            delta[high] -= 1


def _vlan_number(name: str) -> int:
    return int(name.split('-')[1])


def _walltime_seconds(walltime: Duration) -> float:
    """Seconds, typed as 2.x types them: an integral "H:M:S" string gives an
    int (slot ends are then ints), numbers and timedeltas a float."""
    seconds = get_seconds(walltime)
    if isinstance(walltime, str) and ':' in walltime and float(seconds).is_integer():
        return int(seconds)
    return seconds


def compute_slots(planning: Planning, walltime: Duration,
                  excluded_elements: Optional[Iterable[str]] = None,
                  include_hosts: bool = False) -> List[Slot]:
    """The slots of ``planning`` for a reservation of ``walltime``.

    Each slot is ``[start, start + walltime, free]`` where ``free`` counts
    the free hosts of ``'grid5000'``, of each site and of each cluster (and
    of each host, 0 or 1, with ``include_hosts``). When the planning has
    VLANs, ``free['kavlan']`` is the number of free local VLANs (one site)
    or the list of sites with a free global VLAN (several sites, a site
    listed once per free VLAN). Subnets and storage are not counted.
    ``excluded_elements`` are first removed from ``planning`` itself.

    >>> slots = compute_slots(get_planning(['nancy']), '2:00:00')  # doctest: +SKIP
    >>> find_free_slot(slots, {'griffon': 4})[0]                  # doctest: +SKIP
    1924300800
    """
    walltime = _walltime_seconds(walltime)
    if excluded_elements is not None:
        remove_excluded(planning, excluded_elements)
    limits = slot_limits(planning)
    known_clusters = set(get_g5k_clusters(queues=None))
    counters = _Counters(len(limits))
    grid = counters.declare('grid5000')
    host_ranges: List[Tuple[str, List[Tuple[int, int]]]] = []
    for site, site_planning in planning.items():
        site_delta = counters.declare(site)
        for cluster, hosts in site_planning.items():
            if cluster not in known_clusters:
                continue
            deltas = (grid, site_delta, counters.declare(cluster))
            for host, host_planning in hosts.items():
                ranges = _usable_ranges(host_planning['free'], limits, walltime)
                _add(deltas, ranges)
                if include_hosts:
                    host_ranges.append((host, ranges))
    vlan_counts = _vlan_counts(planning, limits, walltime)
    names, columns = counters.columns()
    free_per_slot = [dict(zip(names, counts)) for counts in zip(*columns)]
    if include_hosts:
        _add_hosts(free_per_slot, host_ranges)
    if vlan_counts is not None:
        for free, vlans in zip(free_per_slot, vlan_counts):
            free['kavlan'] = vlans
    return [[limit, limit + walltime, free] for limit, free in zip(limits, free_per_slot)]


def _add_hosts(free_per_slot: List[Dict[str, Any]],
               host_ranges: Sequence[Tuple[str, Sequence[Tuple[int, int]]]]) -> None:
    for host, _ in host_ranges:
        for free in free_per_slot:
            free[host] = 0
    for host, ranges in host_ranges:
        for low, high in ranges:
            for index in range(low, high):
                free_per_slot[index][host] = 1


def _vlan_counts(planning: Planning, limits: Sequence[float], walltime: float
                 ) -> Optional[List[Union[int, List[str]]]]:
    """Per slot, the free local VLANs (one site) or the sites with a free
    global VLAN (several sites); None when the planning has no VLANs."""
    if not planning or 'vlans' not in next(iter(planning.values())):
        return None
    if len(planning) == 1:
        site_planning = next(iter(planning.values()))
        delta = [0] * (len(limits) + 1)
        for vlan, vlan_planning in site_planning['vlans'].items():
            if _vlan_number(vlan) < _GLOBAL_VLAN_MIN:
                _add((delta,), _usable_ranges(vlan_planning['free'], limits, walltime))
        return list(accumulate(delta[:-1]))
    sites_per_slot: List[List[str]] = [[] for _ in limits]
    for site, site_planning in planning.items():
        for vlan, vlan_planning in site_planning['vlans'].items():
            if _vlan_number(vlan) > _GLOBAL_VLAN_MIN:
                for low, high in _usable_ranges(vlan_planning['free'], limits, walltime):
                    for index in range(low, high):
                        sites_per_slot[index].append(site)
    return sites_per_slot


# ---- choosing a slot -----------------------------------------------------------------

def _vlan_free(free: Mapping[str, Any], resources_wanted: Any) -> bool:
    if 'kavlan' not in resources_wanted:
        return True
    vlans = free['kavlan']
    if isinstance(vlans, int):
        return vlans != 0
    if isinstance(vlans, list):
        return len(vlans) > 0
    return True


def _node_counter(resources_wanted: Any):
    """A function summing a slot's free hosts over the wanted elements."""
    if isinstance(resources_wanted, (dict, set, frozenset, list, tuple)):
        wanted = [name for name in set(resources_wanted) if name != 'kavlan']
        return lambda free: sum(free[name] for name in wanted if name in free)
    # anything else is tested with "in", as 2.x did (a string matches substrings)
    return lambda free: sum(nodes for name, nodes in free.items()
                            if name in resources_wanted and name != 'kavlan')


def find_first_slot(slots: Sequence[Slot], resources_wanted: Any) -> Any:
    """The first slot where any of the wanted elements has a free host.

    ``resources_wanted`` is a dict (or list) of element names; with
    ``'kavlan'`` in it, a VLAN must be free too. ``(None, None, None)`` when
    no slot fits.
    """
    count = _node_counter(resources_wanted)
    for slot in slots:
        if count(slot[2]) > 0 and _vlan_free(slot[2], resources_wanted):
            return slot
    return NO_SLOT


def find_max_slot(slots: Sequence[Slot], resources_wanted: Any) -> Any:
    """The earliest slot with the most free hosts over the wanted elements.

    ``(None, None, None)`` when no slot has any.

    >>> find_max_slot(slots, {'grid5000': 0})[2]['grid5000']    # doctest: +SKIP
    712
    """
    count = _node_counter(resources_wanted)
    best_nodes, best = 0, NO_SLOT
    for slot in slots:
        nodes = count(slot[2])
        if nodes > best_nodes and _vlan_free(slot[2], resources_wanted):
            best_nodes, best = nodes, slot
    return best


def find_free_slot(slots: Sequence[Slot], resources_wanted: Dict[str, Any]) -> Any:
    """The first slot with at least the wanted number of hosts on each element.

    ``resources_wanted`` is ``{'grid5000': 50, 'lyon': 20, 'sagittaire': 10}``;
    hosts asked on a cluster add to those asked on its site when both are
    given. With ``'kavlan'`` wanted, a VLAN must be free, and the slot's
    VLANs are written back into ``resources_wanted['kavlan']`` (as 2.x
    does, for ``get_jobs_specs``). ``(None, None, None)`` when no slot fits.
    """
    needed = dict(resources_wanted)
    known_clusters = set(get_g5k_clusters(queues=None))
    for cluster, nodes in resources_wanted.items():
        if cluster in known_clusters:
            site = get_cluster_site(cluster)
            if site in resources_wanted:
                needed[site] += nodes
    needs = [(name, nodes) for name, nodes in needed.items() if name != 'kavlan']
    for slot in slots:
        free = slot[2]
        if all(name not in free or not nodes > free[name] for name, nodes in needs) \
                and _vlan_free(free, resources_wanted):
            if 'kavlan' in resources_wanted:
                resources_wanted['kavlan'] = free['kavlan']
            return slot
    return NO_SLOT


def max_resources(planning: Planning) -> Dict[str, int]:
    """How many hosts the planning holds, per grid, site and cluster.

    Every resource of a site but ``'vlans'`` is counted as a cluster, as in
    2.x. Handy as ``show_resources(found, max_resources=max_resources(p))``.
    """
    resources = {'grid5000': 0}
    for site, site_planning in planning.items():
        resources[site] = 0
        for cluster, hosts in site_planning.items():
            if cluster == 'vlans':
                continue
            resources[cluster] = len(hosts)
            resources[site] += len(hosts)
            resources['grid5000'] += len(hosts)
    return resources
