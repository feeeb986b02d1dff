"""The network side of the Grid5000 API: equipments, KaVLAN, metrology.

Kept apart from `execo_g5k.api_utils` (the sites/clusters/hosts
snapshot), which serves these names under their 2.x path lazily.

Network equipments (``sites/{site}/network_equipments``: routers with
their ``vlans``, switches with their ``linecards``) are asked for only by
the scripts that need them, so they are not part of the reference
snapshot: they are fetched on the first such question, one request
sequence per site, and kept like it, in memory and on disk for
``api_cache_max_age`` seconds.

Which equipments serve a host is read from the host's own description:
the ``switch`` of each of its mountable, non-management Ethernet
adapters, as the API links them.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional, Tuple

from execo.time_utils import Date, Duration, get_seconds, get_unixts
import execo_g5k.api_utils as api_utils
from execo_g5k.exception import G5kKeyError, G5kValueError
from execo_g5k.hostnames import HostLike, get_host_interface, get_host_shortname

__all__ = [
    'get_backbone_network_equipments', 'get_cluster_jobtypes',
    'get_cluster_network_equipments', 'get_cluster_queues',
    'get_host_interface', 'get_host_network_equipments', 'get_hosts_metric',
    'get_kavlan_network',
    'get_network_equipment_attributes', 'get_network_equipment_site',
    'get_site_network_equipments', 'set_nodes_vlan',
]

logger = logging.getLogger('execo.g5k.api')

_network_snapshots: Dict[str, Dict[str, Any]] = {}   # api_uri -> snapshot
_backbone_snapshots: Dict[str, Dict[str, Any]] = {}  # api_uri -> snapshot


def _fetch_network(connection: Any) -> Dict[str, Any]:
    sites = api_utils.get_g5k_sites()
    with ThreadPoolExecutor(api_utils._FETCH_THREADS, thread_name_prefix='g5k-api') as pool:
        equipments = list(pool.map(lambda site: api_utils._get_collection(
            connection, 'sites/%s/network_equipments' % (site,)), sites))
    return {'format': api_utils._CACHE_FORMAT, 'api_uri': connection.base_uri,
            'fetched_at': time.time(),
            'sites': {site: {equipment['uid']: equipment for equipment in site_equipments}
                      for site, site_equipments in zip(sites, equipments)}}


def _network_data() -> Dict[str, Dict[str, Any]]:
    """{site: {equipment uid: description}}: memory, else disk, else the API
    (a stale copy is used, with a warning, when the API is unreachable)."""
    return api_utils._cached_snapshot(_network_snapshots, 'network', _fetch_network,
                                     'network data')['sites']


def _fetch_backbone(connection: Any) -> Dict[str, Any]:
    return {'format': api_utils._CACHE_FORMAT, 'api_uri': connection.base_uri,
            'fetched_at': time.time(),
            'equipments': api_utils._get_collection(connection, 'network_equipments')}


def get_backbone_network_equipments() -> List[Dict[str, Any]]:
    """The API's descriptions of the backbone's equipments (``/network_equipments``,
    RENATER's), cached as the sites' are; only `execo_g5k.topology` needs them."""
    return api_utils._cached_snapshot(_backbone_snapshots, 'backbone', _fetch_backbone,
                                     'backbone network data')['equipments']


def clear_network_cache() -> None:
    """Forget the network data held in memory (`api_utils.clear_cache` calls it)."""
    with api_utils._lock:
        _network_snapshots.clear()
        _backbone_snapshots.clear()


def get_site_network_equipments(site: str) -> List[str]:
    """The uids of ``site``'s network equipments, in the API's order.

    >>> get_site_network_equipments('nancy')                 # doctest: +SKIP
    ['gw-nancy', 'sgraphene1', ...]
    """
    sites = _network_data()
    if site not in sites:
        raise G5kKeyError('unknown Grid5000 site %r (known: %s)' % (site, ', '.join(sites)))
    return list(sites[site])


def get_network_equipment_site(equip: str) -> Optional[str]:
    """The site owning network equipment ``equip`` (None if no site has it)."""
    for site, equipments in _network_data().items():
        if equip in equipments:
            return site
    return None


def get_network_equipment_attributes(equip: str) -> Dict[str, Any]:
    """The API's description of a network equipment (``kind``, ``vlans``,
    ``linecards``...)."""
    site = get_network_equipment_site(equip)
    if site is None:
        raise G5kKeyError('unknown Grid5000 network equipment %r' % (equip,))
    return _network_data()[site][equip]


def get_host_network_equipments(host: HostLike) -> List[str]:
    """The switches the host's experiment Ethernet interfaces plug into,
    sorted (management and unmountable interfaces are left out)."""
    adapters = api_utils.get_host_attributes(host).get('network_adapters') or []
    return sorted({adapter['switch'] for adapter in adapters
                   if adapter.get('switch') and adapter.get('interface') == 'Ethernet'
                   and adapter.get('mountable') and not adapter.get('management')})


def get_cluster_network_equipments(cluster: str) -> List[str]:
    """The switches any host of ``cluster`` plugs into, sorted."""
    return sorted({equipment for host in api_utils.get_cluster_hosts(cluster)
                   for equipment in get_host_network_equipments(host)})


def get_cluster_queues(cluster: str) -> List[str]:
    """The OAR queues of ``cluster`` (admin, default and besteffort when its
    description lists none)."""
    attributes = api_utils.get_cluster_attributes(cluster)
    return list(attributes.get('queues') or api_utils._DEFAULT_QUEUES)


def get_cluster_jobtypes(cluster: str) -> List[str]:
    """The OAR job types a job on ``cluster`` must have: ``['exotic']`` for
    the clusters the API marks ``exotic``, else none."""
    return ['exotic'] if api_utils.get_cluster_attributes(cluster).get('exotic') else []


def _site_metric(site: str, hosts: List[HostLike], metric: str, from_ts: Optional[int],
                 to_ts: Optional[int], resolution: Optional[float]) -> Dict[Any, Dict[str, Any]]:
    names = {get_host_shortname(host): host for host in hosts}
    query = ['only=' + ','.join(names)]
    for key, value in (('from', from_ts), ('to', to_ts), ('resolution', resolution)):
        if value is not None:
            query.append('%s=%s' % (key, int(value) if float(value).is_integer() else value))
    document = api_utils.get_resource_attributes(
        'sites/%s/metrics/%s/timeseries?%s' % (site, metric, '&'.join(query)))
    result: Dict[Any, Dict[str, Any]] = {}
    for series in document.get('items') or []:
        host = names.get(series.get('uid'))
        if host is None:
            continue
        values = series.get('values') or []
        if 'timestamps' in series:
            timestamps = series['timestamps']
        else:
            timestamps = range(series['from'], series['to'], series['resolution'])
        entry: Dict[str, Any] = {'values': list(zip(timestamps, values))}
        for key in ('from', 'to', 'resolution', 'type'):
            if key in series:
                entry[key] = series[key]
        result[host] = entry
    return result


def get_hosts_metric(hosts: Iterable[HostLike], metric: str, from_ts: Date = None,
                     to_ts: Date = None, resolution: Duration = None
                     ) -> Dict[Any, Dict[str, Any]]:
    """Time series of ``metric`` (``'power'``, ``'cpu_user'``...) for
    ``hosts``, from the metrology API, one request per site, in parallel.

    Returns ``{host (as given): {'values': [(timestamp, value)...], 'from',
    'to', 'resolution', 'type'}}`` with the API's from/to/resolution/type.
    Series that come with their own ``timestamps`` (kwapi's) are zipped
    with them; the others (ganglia's) get ``from, from+resolution...``.

    >>> get_hosts_metric(['griffon-1.nancy.grid5000.fr'], 'power',
    ...                  from_ts=time.time() - 600)        # doctest: +SKIP
    """
    from_ts = int(get_unixts(from_ts)) if from_ts is not None else None
    to_ts = int(get_unixts(to_ts)) if to_ts is not None else None
    resolution = get_seconds(resolution) if resolution is not None else None
    grouped = api_utils.group_hosts(hosts)
    if None in grouped:
        raise G5kValueError('no Grid5000 site known for %s' % (
            ', '.join(repr(h) for cluster in grouped[None].values() for h in cluster),))
    per_site = [(site, [h for cluster in clusters.values() for h in cluster])
                for site, clusters in grouped.items()]
    result: Dict[Any, Dict[str, Any]] = {}
    with ThreadPoolExecutor(max(1, min(len(per_site), api_utils._FETCH_THREADS)),
                            thread_name_prefix='g5k-metrics') as pool:
        for answer in pool.map(lambda pair: _site_metric(pair[0], pair[1], metric, from_ts,
                                                         to_ts, resolution), per_site):
            result.update(answer)
    return result


def _interface_address(host: HostLike, interface: str) -> str:
    """``griffon-1.nancy.grid5000.fr`` on eth1 -> ``griffon-1-eth1.nancy.grid5000.fr``."""
    address = getattr(host, 'address', host)
    name, dot, domain = address.partition('.')
    return '%s-%s%s%s' % (name, interface, dot, domain)


def set_nodes_vlan(site: str, hosts: Iterable[HostLike], interface: str,
                   vlan_id: Any) -> Any:
    """Put ``interface`` of ``hosts`` in KaVLAN ``vlan_id`` of ``site``,
    through the API's ``POST sites/{site}/vlans/{vlan_id}`` with
    ``{"nodes": [interface addresses]}``; returns the API's answer.

    >>> set_nodes_vlan('nancy', ['griffon-1.nancy.grid5000.fr'], 'eth1', 4)  # doctest: +SKIP
    """
    addresses = [_interface_address(host, interface) for host in hosts]
    logger.info('putting %s in vlan %s of site %s', addresses, vlan_id, site)
    return api_utils._connection().post('sites/%s/vlans/%s' % (site, vlan_id),
                                        {'nodes': addresses})


def get_kavlan_network(kavlan: int, site: str) -> Tuple[Optional[str], Optional[str]]:
    """``(network address, mask size)`` of KaVLAN ``kavlan`` of ``site``, as
    strings, from the ``vlans`` of the site's router; ``(None, None)`` if the
    router does not list it.

    >>> get_kavlan_network(4, 'nancy')                       # doctest: +SKIP
    ('10.16.0.0', '18')
    """
    equipments = _network_data().get(site)
    if equipments is None:
        raise G5kKeyError('unknown Grid5000 site %r' % (site,))
    routers = [equipment for equipment in equipments.values()
               if equipment.get('kind') == 'router' and 'vlans' in equipment]
    if not routers:
        raise G5kValueError('the Grid5000 API lists no router with vlans for site %r: KaVLAN '
                         'networks are only known on Grid5000 sites' % (site,))
    wanted = 'kavlan-%s' % (kavlan,)
    for vlan in routers[0]['vlans'].values():
        if isinstance(vlan, dict) and vlan.get('name') == wanted and vlan.get('addresses'):
            network, _, mask_size = vlan['addresses'][0].partition('/')
            return network, mask_size
    return None, None
