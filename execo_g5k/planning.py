"""Finding resources on Grid5000: when can I get N nodes, and how to ask for them.

The path a script follows, as in execo 2.x (and tools built on it, such as
funk)::

    planning = get_planning(['nancy', 'paravance'])        # busy/free per host
    slots = compute_slots(planning, '2:00:00')              # free hosts per instant
    start, end, free = find_free_slot(slots, {'grid5000': 40})
    wanted = distribute_hosts(free, {'grid5000': 40})       # where to take them
    specs = get_jobs_specs(wanted, name='my_exp')           # OarSubmission per site
    for submission, site in specs:
        submission.walltime, submission.reservation_date = '2:00:00', start
    jobs = oarsub(specs)

The answers (slots, chosen slot, distribution, job specifications) are
those of execo 2.8.2 on the same planning, computed faster; the planning
comes from the Grid5000 API or, when ``g5k_configuration['planning_source']``
says so, from OAR's own PostgreSQL database (see
``execo_g5k.planning_sources``). The chapter "Finding and reserving
resources" of the documentation walks through it.
"""

from __future__ import annotations

import time
from math import floor
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from execo.host import Host
from execo.log import logger, style
from execo.time_utils import Date, Duration, get_unixts
from execo_g5k.api_utils import (get_cluster_site, get_g5k_clusters, get_g5k_hosts,
                                 get_g5k_sites, get_host_cluster, get_host_longname,
                                 get_host_shortname, get_host_site, get_site_clusters,
                                 get_site_hosts)
from execo_g5k.charter import (g5k_charter_time, get_charter_el_planning,
                               get_next_charter_period)
from execo_g5k.exception import G5kValueError
from execo_g5k.oar import OarSubmission, get_current_oar_jobs, get_oar_job_info
from execo_g5k.planning_coorm import compute_coorm_slots, find_coorm_slot
from execo_g5k.planning_draw import draw_gantt, draw_slots
from execo_g5k.planning_slots import (Planning, compute_slots, find_first_slot, find_free_slot,
                                      find_max_slot, max_resources)
from execo_g5k.planning_sources import fill_planning

__all__ = ['compute_coorm_slots', 'compute_slots', 'distribute_hosts', 'draw_gantt',
           'draw_slots', 'find_coorm_slot', 'find_first_slot', 'find_free_slot', 'find_max_slot',
           'g5k_charter_time', 'get_charter_el_planning', 'get_hosts_jobs', 'get_job_by_name',
           'get_jobs_specs', 'get_next_charter_period', 'get_planning', 'max_resources',
           'normalize_busy', 'show_resources', 'OarSubmission']

DEFAULT_PLANNING_WEEKS = 4
_EXTRA_RESOURCES = (('vlan', 'vlans'), ('subnet', 'subnets'), ('storage', 'storage'))


# ---- the planning ----------------------------------------------------------------------

# elements defaults to a list, as 2.x's signature shows; it is never modified
def get_planning(elements: Sequence[str] = ['grid5000'], vlan: bool = False,  # noqa: B006
                 subnet: bool = False, storage: bool = False, out_of_chart: bool = False,
                 starttime: Date = None, endtime: Date = None, ignore_besteffort: bool = True,
                 queues: Any = 'default') -> Optional[Planning]:
    """The busy and free intervals of the hosts of ``elements``.

    :param elements: ``'grid5000'``, sites, clusters and hosts, mixed.
    :param vlan: add each site's KaVLAN VLANs under ``'vlans'``.
    :param subnet: add ``'subnets'`` (as in 2.x, they are dropped when the
      planning is restricted to ``elements``).
    :param storage: add an (empty) ``'storage'`` entry.
    :param out_of_chart: make charter time (work days 9:00-19:00 Paris)
      busy everywhere, to find slots outside it.
    :param starttime: start of the planning (default: in one minute).
    :param endtime: its end (default: four weeks and a minute later).
    :param ignore_besteffort: besteffort jobs leave their hosts free.
    :param queues: clusters of these OAR queues (None: all).

    Returns ``{site: {cluster: {host: {'busy': [(start, end)...],
    'free': [...]}}}}`` (intervals in unix time, free ones filling the gaps
    between ``starttime`` and ``endtime``), or None when no element is known.
    A site whose jobs cannot be read is left out, with a warning.
    Jobs' ends are pushed two minutes later, as OAR needs that long to
    clean a node.

    >>> planning = get_planning(['nancy'])                   # doctest: +SKIP
    >>> sorted(planning['nancy'])                            # doctest: +SKIP
    ['graphene', 'griffon']
    """
    starttime = int(get_unixts(starttime)) if starttime else int(time.time() + 60)
    endtime = (int(get_unixts(endtime)) if endtime else
               int(starttime + DEFAULT_PLANNING_WEEKS * 7 * 86400 + 60))
    if 'grid5000' in elements:
        elements = get_g5k_sites()
    sites = _sites_of(elements, queues)
    if not sites:
        logger.error('get_planning: none of %r is a Grid5000 site, cluster or host', elements)
        return None
    planning: Planning = {}
    for site in sites:
        planning[site] = {cluster: {} for cluster in get_site_clusters(site, queues=queues)}
        for flag, (_, key) in zip((vlan, subnet, storage), _EXTRA_RESOURCES):
            if flag:
                planning[site][key] = {}
    fill_planning(planning, ignore_besteffort)
    charter = get_charter_el_planning(starttime, endtime) if out_of_chart else []
    for site_planning in planning.values():
        for resources in site_planning.values():
            for el_planning in resources.values():
                el_planning['busy'] = normalize_busy(el_planning['busy'] + charter,
                                                     starttime, endtime)
                el_planning['free'] = free_intervals(el_planning['busy'], starttime, endtime)
    return _restrict(planning, set(elements))


def _sites_of(elements: Iterable[str], queues: Any) -> List[str]:
    known_sites = set(get_g5k_sites())
    known_clusters = set(get_g5k_clusters(queues=queues))
    known_hosts = set(get_g5k_hosts())
    sites: List[str] = []
    for element in elements:
        if element in known_sites:
            site = element
        elif element in known_clusters:
            site = get_cluster_site(element)
        elif element in known_hosts or get_host_shortname(element) in known_hosts:
            site = get_host_site(element)
        else:
            continue
        if site not in sites:
            sites.append(site)
    return sites


def _site_cluster_of(name: str) -> Tuple[Optional[str], Optional[str]]:
    try:
        return get_host_site(name), get_host_cluster(name)
    except (KeyError, ValueError, TypeError):
        return None, None


def _short(name: str) -> str:
    try:
        return get_host_shortname(name)
    except (TypeError, ValueError):
        return name


def _restrict(planning: Planning, elements: set) -> Planning:
    """Keep the hosts named by ``elements`` (by site, cluster, or name, short
    or long: OAR may know its hosts by either) and drop the resources left
    empty; VLANs are kept whole."""
    elements = elements | {_short(element) for element in elements}
    for site_planning in planning.values():
        for resource in list(site_planning):
            if resource == 'vlans':
                continue
            names = site_planning[resource]
            for name in list(names):
                site, cluster = _site_cluster_of(name)
                if not (site in elements or cluster in elements or name in elements
                        or _short(name) in elements):
                    del names[name]
            if not names:
                del site_planning[resource]
    return planning


def normalize_busy(busy: List[Tuple[float, float]], starttime: float, endtime: float
                   ) -> List[Tuple[float, float]]:
    """Busy intervals sorted, overlapping ones merged, clipped to the planning.

    The merge follows 2.x to the letter, for identical slots: it never
    merges the *last* interval into the one before (2.x's loop stops one
    step short), so a job overlapping the previous one at the end of the
    list stays a separate interval.
    """
    ordered = sorted(busy)
    if len(ordered) > 2:
        merged = [ordered[0]]
        for start, end in ordered[1:-1]:
            last_start, last_end = merged[-1]
            if last_end >= start:
                if end > last_end:
                    merged[-1] = (last_start, end)
            else:
                merged.append((start, end))
        merged.append(ordered[-1])
        ordered = merged
    clipped = [(max(start, starttime), min(end, endtime)) for start, end in ordered
               if not (end < starttime or start > endtime)]
    clipped.sort()
    return clipped


def free_intervals(busy: Sequence[Tuple[float, float]], starttime: float, endtime: float
                   ) -> List[Tuple[float, float]]:
    """The gaps between busy intervals within [starttime, endtime], as 2.x
    computes them (an overlap left by the merge gives a reversed gap,
    which serves no slot)."""
    if not busy:
        return [(starttime, endtime)]
    free = []
    if busy[0][0] > starttime:
        free.append((starttime, busy[0][0]))
    free.extend((busy[i][1], busy[i + 1][0]) for i in range(len(busy) - 1))
    if busy[-1][1] < endtime:
        free.append((busy[-1][1], endtime))
    return free


# ---- from a slot to reservations --------------------------------------------------------

def distribute_hosts(resources_available: Dict[str, Any], resources_wanted: Dict[str, int],
                     excluded_elements: Optional[Sequence[str]] = None,
                     ratio: Optional[float] = None) -> Dict[str, Any]:
    """How many hosts to take where, from a slot's free hosts.

    :param resources_available: a slot's free hosts (``slot[2]``); it is
      decremented as hosts are handed out (as in 2.x).
    :param resources_wanted: ``{element: number}``; 0 means all available.
      Clusters are served first, then sites; ``'grid5000'`` hosts are then
      taken one per site in turn.
    :param excluded_elements: sites and clusters not to use.
    :param ratio: keep only this fraction (rounded down) of every number.

    >>> distribute_hosts(free, {'grid5000': 40})             # doctest: +SKIP
    {'nancy': 14, 'rennes': 13, 'lyon': 13}
    """
    excluded = list(excluded_elements or [])
    available = resources_available
    clusters, sites = set(get_g5k_clusters(queues=None)), get_g5k_sites()
    resources: Dict[str, Any] = {}
    for cluster, nodes in [(c, n) for c, n in resources_wanted.items() if c in clusters]:
        taken = nodes if nodes > 0 else available[cluster]
        available[get_cluster_site(cluster)] -= taken
        resources[cluster] = taken
    for cluster in excluded:
        if cluster in clusters and cluster in available:
            available['grid5000'] -= available[cluster]
            available[get_cluster_site(cluster)] -= available[cluster]
            available[cluster] = 0
    for site, nodes in [(s, n) for s, n in resources_wanted.items()
                        if s in sites and s not in excluded]:
        resources[site] = nodes if nodes > 0 else available[site]
    for site in excluded:
        if site in sites and site in available:
            available['grid5000'] -= available[site]
            available[site] = 0
    if 'grid5000' in resources_wanted:
        wanted = resources_wanted['grid5000']
        wanted = wanted if wanted > 0 else available['grid5000']
        _deal_round_robin(available, resources, wanted, [s for s in available if s in sites])
    if 'kavlan' in resources_wanted:
        resources['kavlan'] = available['kavlan']
    if ratio is not None:
        # (a list of sites for a global VLAN is kept as is; 2.x failed on it)
        resources = {name: count if isinstance(count, list) else int(floor(count * ratio))
                     for name, count in resources.items()}
    return resources


def _deal_round_robin(available: Dict[str, Any], resources: Dict[str, Any], wanted: int,
                      sites: List[str]) -> None:
    """One host per site in turn; a site found empty leaves the round, and
    the round then starts again from the first site (2.x's order)."""
    given, position = 0, 0
    while given < wanted:
        if not sites:
            raise G5kValueError('distribute_hosts: %d hosts wanted on grid5000, only %d available'
                             % (wanted, given))
        site = sites[position]
        if available[site] == 0:
            sites.remove(site)
            position = 0
            continue
        available[site] -= 1
        resources[site] = resources.get(site, 0) + 1
        given += 1
        position = (position + 1) % len(sites)


def _quoted(names: Iterable[str]) -> str:
    return ', '.join("'%s'" % name for name in names)


def get_jobs_specs(resources: Dict[str, Any], excluded_elements: Optional[Sequence[str]] = None,
                   name: Optional[str] = None) -> List[Tuple[OarSubmission, str]]:
    """One ``(OarSubmission, site)`` per site, asking for ``resources``.

    :param resources: ``{element: number of hosts}`` for sites, clusters
      and hosts (long names, count 1), plus ``'kavlan'`` for a VLAN (a
      global one when several sites are used), e.g. from
      ``distribute_hosts``.
    :param excluded_elements: clusters and hosts (long names) to keep out
      of the site-wide requests.
    :param name: the jobs' name.

    Walltime and reservation date are left for the caller to set. Hosts
    and clusters come in the order of ``resources`` (2.x took a set's
    order); a site-wide request with exclusions is written
    ``{...}/nodes=N`` (2.x wrote ``{...}/+nodes=N``, which OAR refuses).

    >>> get_jobs_specs({'griffon': 4, 'rennes': 2}, name='exp')   # doctest: +SKIP
    [(OarSubmission(resources="{cluster='griffon'}/nodes=4", name='exp'), 'nancy'),
     (OarSubmission(resources='nodes=2', name='exp'), 'rennes')]
    """
    excluded = list(excluded_elements or [])
    clusters, known_sites = set(get_g5k_clusters(queues=None)), set(get_g5k_sites())
    g5k_nodes = set(get_host_longname(host) for host in get_g5k_hosts(queues=None))
    sites: List[str] = []
    for resource in resources:
        if resource in excluded:
            continue
        if resource in known_sites:
            site = resource
        elif resource in clusters:
            site = get_cluster_site(resource)
        elif resource in g5k_nodes:
            site = get_host_site(resource)
        else:
            continue
        if site not in sites:
            sites.append(site)
    vlan_kind = None
    if 'kavlan' in resources:
        vlan_kind = 'kavlan-global' if len(sites) > 1 else 'kavlan'
    specs = []
    for site in sites:
        if site in excluded:
            continue
        requests = _site_requests(site, resources, excluded)
        if vlan_kind and (vlan_kind != 'kavlan-global' or site in resources['kavlan']):
            requests.append("{type='%s'}/vlan=1+" % (vlan_kind,))
            vlan_kind = None
        if requests:
            specs.append((OarSubmission(resources='+'.join(requests), name=name), site))
    return specs


def _site_requests(site: str, resources: Dict[str, Any], excluded: List[str]) -> List[str]:
    site_nodes = set(get_host_longname(host) for host in get_site_hosts(site, queues=None))
    site_clusters = get_site_clusters(site, queues=None)
    excluded_hosts = [host for host in excluded if host in site_nodes]
    excluded_clusters = [cluster for cluster in excluded if cluster in site_clusters]
    constraints = []
    if excluded_hosts:
        constraints.append('host NOT IN (%s)' % (_quoted(excluded_hosts),))
    cluster_constraints = constraints[:]
    if excluded_clusters:
        constraints.append('cluster NOT IN (%s)' % (_quoted(excluded_clusters),))
    requests = []
    hosts = [host for host in resources if host in site_nodes and host not in excluded
             and get_host_cluster(host) not in excluded]
    if hosts:
        requests.append('{host IN (%s)}/nodes=%d' % (_quoted(hosts), len(hosts)))
    for cluster in resources:
        if cluster in site_clusters and cluster not in excluded:
            requests.append('{%s}/nodes=%s' % (' AND '.join(["cluster='%s'" % (cluster,)]
                                                            + cluster_constraints),
                                               resources[cluster]))
    if site in resources:
        prefix = '{%s}/' % (' AND '.join(constraints),) if constraints else ''
        requests.append('%snodes=%s' % (prefix, resources[site]))
    return requests


def get_hosts_jobs(hosts: Iterable[Any], walltime: Duration, out_of_chart: bool = False
                   ) -> List[Tuple[OarSubmission, str]]:
    """Reservations of exactly these hosts, at the first date all are free.

    One ``(OarSubmission, site)`` per site, with its reservation date set;
    the walltime is left for the caller. Raises ValueError when the hosts
    are never free together within the planning (four weeks).
    """
    names = [host.address if isinstance(host, Host) else host for host in hosts]
    planning = get_planning(elements=names, out_of_chart=out_of_chart)
    if planning is None:
        raise G5kValueError('get_hosts_jobs: no Grid5000 host in %r' % (names,))
    known_clusters = set(get_g5k_clusters(queues=None))
    total = sum(len(hosts_) for site_planning in planning.values()
                for cluster, hosts_ in site_planning.items() if cluster in known_clusters)
    start = next((slot[0] for slot in compute_slots(planning, walltime)
                  if slot[2]['grid5000'] == total), None)
    if start is None:
        raise G5kValueError('get_hosts_jobs: %s are never free together for %s'
                         % (', '.join(names), walltime))
    specs = []
    for site in planning:
        site_hosts = [get_host_longname(h) for h in names if get_host_site(h) == site]
        request = "{host in ('%s')}/nodes=%d" % ("','".join(site_hosts), len(site_hosts))
        specs.append((OarSubmission(resources=request, reservation_date=start), site))
    return specs


def show_resources(resources: Dict[str, Any], msg: str = 'Resources',
                   max_resources: Optional[Dict[str, Any]] = None,
                   queues: Any = 'default') -> None:
    """Log (level INFO) ``resources`` site by site, as ``site cluster: n/max``."""
    maxima = max_resources or {}

    def count(name: str) -> str:
        return str(resources[name]) + ('/%s' % maxima[name] if name in maxima else '')

    lines = [style.log_header(msg)]
    total = 0
    for site in get_g5k_sites():
        clusters = get_site_clusters(site, queues=queues)
        shown = [c for c in clusters if c in resources]
        if site not in resources and not (clusters and
                                          set(get_site_clusters(site)) & set(resources)):
            continue
        line = style.log_header(site).ljust(20)
        line += ' ' + count(site) + ' ' if site in resources else (
            '/%s ' % maxima[site] if site in maxima else ' ')
        line += ''.join('%s: %s ' % (style.emph(c), count(c)) for c in shown)
        total += sum(resources[c] for c in shown)
        lines.append(line)
    if 'grid5000' in resources:
        lines.append(style.log_header('Grid5000').ljust(20) + count('grid5000'))
    elif total > 0:
        lines.append(style.log_header('Total ').ljust(20) + str(total))
    logger.info('\n'.join(lines))


# ---- reusing a job ----------------------------------------------------------------------

def get_job_by_name(job_name: str, sites: Optional[Sequence[str]] = None
                    ) -> Tuple[Optional[int], Optional[str]]:
    """Our waiting or running job named ``job_name``: ``(job_id, site)``.

    ``(None, None)`` when there is none: the way to run a script twice
    without reserving twice::

        job_id, site = get_job_by_name('my_exp', ['nancy'])
        if job_id is None:
            (job_id, site), = oarsub([(OarSubmission('nodes=4', name='my_exp'), 'nancy')])

    :param sites: the frontends to ask (default: every Grid5000 site).
    """
    logger.debug('looking for a job named %s', job_name)
    for job_id, site in get_current_oar_jobs(list(sites) if sites else get_g5k_sites()):
        if get_oar_job_info(job_id, site).get('name') == job_name:
            logger.info('job %s found on %s', job_id, site)
            return job_id, site
    return None, None


# execo 2.x names this module served (see execo_g5k.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES  # noqa: E402
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)
__dir__ = legacy_dir(__name__, globals(), G5K_LEGACY_MODULES)
