"""Where a planning's jobs come from: the Grid5000 API or OAR's database.

``fill_planning`` fills an empty planning skeleton (``{site: {cluster: {}}}``,
plus ``'vlans'``/``'subnets'`` when asked) with each site's alive hosts
and the busy intervals of its jobs, one site per thread; a site that
fails is dropped with a warning, so that one broken site does not hide
the others.

``g5k_configuration['planning_source']`` chooses the source:

- ``'api'`` (default): the Grid5000 REST API, i.e. each site's OAR
  resources (``/sites/S/internal/oarapi/resources/details.json``) and
  current jobs (``/sites/S/jobs``, then each job). A job counts from its
  start (the scheduler's prediction while it waits) for its walltime.
- ``'postgresql'``: OAR's own database, read with psycopg 3 (the
  ``execo[planning]`` extra): the gantt tables that OAR's scheduler fills,
  so waiting jobs are placed on the very hosts it predicts for them, which
  the API only tells once they run. The database is reached at
  ``oar_pgsql_ro_host`` (``{site}`` is replaced; default
  ``oardb.{site}.grid5000.fr``, reachable from inside Grid5000) with the
  ``oar_pgsql_ro_*`` credentials.

execo 2.x used the database whenever psycopg2 happened to be importable;
here nothing changes behind the user's back.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from execo.log import logger
from execo_g5k.api_utils import get_host_cluster, get_resource_attributes
from execo_g5k.config import g5k_configuration
from execo_g5k.exception import G5kValueError

__all__ = ['DEFAULT_PGSQL_HOST', 'PLANNING_SOURCES', 'fill_planning', 'job_interval']

ALL = 1073741824          # "no limit" for the API's collections
# OAR needs about two minutes after a job to clean its nodes
CLEANING_DELAY = 121
DEFAULT_PGSQL_HOST = 'oardb.{site}.grid5000.fr'
_MIN_ROUTED_VLAN = 4      # kavlan 1-3 are not routed: not reservable as such


def job_interval(start: float, end: float) -> Tuple[int, int]:
    """A job's busy interval: whole seconds, plus the cleaning delay."""
    return int(start), int(end) + CLEANING_DELAY


def _host_entry(site_planning: Dict[str, Any], host: str) -> None:
    cluster = get_host_cluster(host)
    if cluster in site_planning:
        site_planning[cluster][host] = {'busy': [], 'free': []}


def _mark_hosts(site_planning: Dict[str, Any], hosts: Iterable[str],
                interval: Tuple[int, int]) -> None:
    for host in hosts:
        if not host:
            continue
        cluster = host.split('.', 1)[0].split('-')[0]
        if host in site_planning.get(cluster, {}):
            site_planning[cluster][host]['busy'].append(interval)


def _mark_vlan(site_planning: Dict[str, Any], vlan: Any, interval: Tuple[int, int]) -> None:
    try:
        number = int(vlan)
    except (TypeError, ValueError):
        return
    if 'vlans' in site_planning and number >= _MIN_ROUTED_VLAN:
        entry = site_planning['vlans'].setdefault('kavlan-%d' % number,
                                                  {'busy': [], 'free': []})
        entry['busy'].append(interval)


def _mark_subnets(site_planning: Dict[str, Any], subnets: Iterable[str],
                  interval: Tuple[int, int]) -> None:
    if 'subnets' not in site_planning:
        return
    for subnet in subnets:
        if subnet:
            site_planning['subnets'].setdefault(subnet, {'busy': [], 'free': []})
            site_planning['subnets'][subnet]['busy'].append(interval)


# ---- the Grid5000 API ---------------------------------------------------------------------

def _api_vlans(site: str) -> List[str]:
    equipments = get_resource_attributes('sites/%s/network_equipments' % (site,))['items']
    names = []
    for equipment in equipments:
        vlans = equipment.get('vlans') or {}
        for description in vlans.values():
            name = description.get('name', '') if isinstance(description, dict) else ''
            if name.startswith('kavlan-') and int(name.split('-')[1]) >= _MIN_ROUTED_VLAN:
                names.append(name)
    return names


def _job_start_end(job: Dict[str, Any]) -> Optional[Tuple[float, float]]:
    """Started jobs from their start, waiting ones from the prediction."""
    start = job.get('started_at') or job.get('scheduled_at')
    walltime = job.get('walltime')
    if start is None or walltime is None:
        return None
    return start, start + walltime


def _fill_site_from_api(site: str, site_planning: Dict[str, Any],
                        ignore_besteffort: bool) -> None:
    resources = get_resource_attributes(
        'sites/%s/internal/oarapi/resources/details.json?limit=%d' % (site, ALL))['items']
    for resource in resources:
        if (resource.get('type') == 'default' and resource.get('state') != 'Dead'
                and resource.get('maintenance') != 'YES'):
            _host_entry(site_planning, str(resource['network_address']))
    if 'vlans' in site_planning:
        for vlan in _api_vlans(site):
            site_planning['vlans'][vlan] = {'busy': [], 'free': []}
    jobs = get_resource_attributes('sites/%s/jobs?limit=%d&state=waiting,launching,running'
                                   % (site, ALL))['items']
    paths = ['/'.join(link['href'].split('/')[2:]) for job in jobs
             for link in job.get('links', []) if link.get('rel') == 'self'
             and not (ignore_besteffort and job.get('queue') == 'besteffort')]
    with ThreadPoolExecutor(8, thread_name_prefix='g5k-planning-%s' % site) as pool:
        details = list(pool.map(get_resource_attributes, paths))
    for job in details:
        dates = _job_start_end(job)
        if dates is None:
            continue
        interval = job_interval(*dates)
        _mark_hosts(site_planning, job.get('assigned_nodes') or [], interval)
        by_type = job.get('resources_by_type') or {}
        if by_type.get('vlans'):
            _mark_vlan(site_planning, by_type['vlans'][0], interval)
        _mark_subnets(site_planning, by_type.get('subnets') or [], interval)


# ---- OAR's database -------------------------------------------------------------------------

# Grid5000's OAR has the vlan, subnet_address and maintenance properties;
# a plain OAR may lack them: they are read only where they exist.
_OPTIONAL_COLUMNS = ('vlan', 'subnet_address', 'maintenance')


def _alive_resources_sql(columns: Iterable[str]) -> str:
    vlan, subnet, maintenance = (name if name in columns else 'NULL'
                                 for name in _OPTIONAL_COLUMNS)
    return ("SELECT DISTINCT type, network_address, %s, %s FROM resources "
            "WHERE state <> 'Dead' AND %s IS DISTINCT FROM 'YES'" % (vlan, subnet, maintenance))


def _gantt_jobs_sql(columns: Iterable[str]) -> str:
    """One row per job placed by the scheduler: its predicted (or actual)
    start, its end, and the hosts, VLANs and subnets OAR gave it in the gantt."""
    vlan, subnet, _ = ('resource.' + name if name in columns else 'NULL::text'
                       for name in _OPTIONAL_COLUMNS)
    return """
SELECT prediction.start_time,
       prediction.start_time + moldable.moldable_walltime,
       array_agg(DISTINCT resource.network_address),
       array_agg(DISTINCT %s),
       array_agg(DISTINCT %s)
FROM jobs job
JOIN moldable_job_descriptions moldable ON moldable.moldable_job_id = job.job_id
JOIN gantt_jobs_predictions prediction ON prediction.moldable_job_id = moldable.moldable_id
JOIN gantt_jobs_resources placed ON placed.moldable_job_id = moldable.moldable_id
JOIN resources resource ON resource.resource_id = placed.resource_id
WHERE job.state IN ('Waiting', 'Launching', 'Running')
  AND (%%(all_queues)s OR job.queue_name <> 'besteffort')
GROUP BY job.job_id, prediction.start_time, moldable.moldable_walltime
""" % (vlan, subnet)


def _pgsql_connect(site: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ImportError("g5k_configuration['planning_source'] is 'postgresql', which "
                          "needs psycopg 3: pip install 'psycopg[binary]' (or Debian's "
                          "python3-psycopg)") from exc
    host = (g5k_configuration.get('oar_pgsql_ro_host') or DEFAULT_PGSQL_HOST).format(site=site)
    return psycopg.connect(host=host, port=g5k_configuration['oar_pgsql_ro_port'],
                           user=g5k_configuration['oar_pgsql_ro_user'],
                           password=g5k_configuration['oar_pgsql_ro_password'],
                           dbname=g5k_configuration['oar_pgsql_ro_db'],
                           connect_timeout=int(g5k_configuration.get('api_timeout') or 30))


def _fill_site_from_pgsql(site: str, site_planning: Dict[str, Any],
                          ignore_besteffort: bool) -> None:
    with _pgsql_connect(site) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns "
                       "WHERE table_name = 'resources'")
        columns = {row[0] for row in cursor.fetchall()}
        cursor.execute(_alive_resources_sql(columns))
        for kind, address, vlan, subnet in cursor.fetchall():
            if kind == 'default':
                _host_entry(site_planning, address)
            elif kind in ('kavlan', 'kavlan-global') and 'vlans' in site_planning:
                site_planning['vlans']['kavlan-%s' % (vlan,)] = {'busy': [], 'free': []}
            elif kind == 'subnet' and 'subnets' in site_planning:
                site_planning['subnets'][subnet] = {'busy': [], 'free': []}
        cursor.execute(_gantt_jobs_sql(columns), {'all_queues': not ignore_besteffort})
        for start, end, hosts, vlans, subnets in cursor.fetchall():
            interval = job_interval(start, end)
            _mark_hosts(site_planning, hosts or [], interval)
            for vlan in [v for v in vlans or [] if v is not None]:
                _mark_vlan(site_planning, vlan, interval)
            _mark_subnets(site_planning, subnets or [], interval)


PLANNING_SOURCES: Dict[str, Callable[[str, Dict[str, Any], bool], None]] = {
    'api': _fill_site_from_api,
    'postgresql': _fill_site_from_pgsql,
}


def fill_planning(planning: Dict[str, Dict[str, Any]], ignore_besteffort: bool) -> None:
    """Fill ``planning`` in place from the configured source; drop failed sites."""
    name = g5k_configuration.get('planning_source') or 'api'
    if name not in PLANNING_SOURCES:
        raise G5kValueError("g5k_configuration['planning_source'] is %r: use one of %s"
                         % (name, ', '.join(sorted(PLANNING_SOURCES))))
    fill_site = PLANNING_SOURCES[name]

    def one_site(site: str) -> Optional[BaseException]:
        try:
            fill_site(site, planning[site], ignore_besteffort)
        except Exception as exc:  # a failed site is reported, the others go on
            return exc
        return None

    sites = list(planning)
    with ThreadPoolExecutor(max(1, min(8, len(sites))),
                            thread_name_prefix='g5k-planning') as pool:
        failures = list(pool.map(one_site, sites))
    for site, failure in zip(sites, failures):
        if failure is not None:
            logger.warning('planning of %s left out: cannot read its jobs from %s: %s: %s',
                           site, name, type(failure).__name__, failure)
            del planning[site]
