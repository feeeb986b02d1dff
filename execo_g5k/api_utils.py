"""Questions about Grid5000's sites, clusters and hosts, answered from the API.

The reference part of the API (sites, clusters, nodes and their
descriptions) changes rarely, and asking for all of it takes dozens of
requests, so it is fetched as a whole, kept in memory, and kept on disk
under ``g5k_configuration['api_cache_dir']`` (default
``~/.execo/g5k_api_cache``; None disables it) for
``g5k_configuration['api_cache_max_age']`` seconds. A stale copy is still
used, with a warning, when the API cannot be reached. Several scripts may
refresh the cache at once: each writes a temporary file and renames it over
the old one, so a reader sees one whole snapshot or another, never a mix.

Functions that only need a host's name (its cluster, its short name) read
it from the name without any request: see ``execo_g5k.hostnames``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from execo_g5k.api import APIConnection, APIException
from execo_g5k.config import FromConfiguration, g5k_configuration
from execo_g5k.hostnames import (HostLike, canonical_host_name, g5k_host_get_cluster,
                                 get_host_interface, get_host_shortname,
                                 get_host_site_from_name)
from execo_g5k.exception import G5kKeyError
from execo.compat import legacy_getattr
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES, G5K_NETWORK_NAMES

__all__ = [
    'APIConnection', 'APIException', 'canonical_host_name', 'clear_cache',
    'filter_clusters', 'get_api_data', 'get_cluster_attributes', 'get_cluster_hosts',
    'get_cluster_site', 'get_g5k_clusters', 'get_g5k_hosts', 'get_g5k_sites',
    'get_host_attributes', 'get_host_cluster', 'get_host_longname',
    'get_host_shortname', 'get_host_site', 'get_resource_attributes',
    'get_site_attributes', 'get_site_clusters', 'get_site_hosts', 'group_hosts',
    'get_host_interface',
]

# The network side of the API (equipments, KaVLAN, metrology) lives in
# execo_g5k.api_network, which builds on this module; 2.x scripts import it
# from here, served like every other 2.x name by execo_g5k.compat's table
# (imported when first asked for: this module never imports its user).
__all__ += list(G5K_NETWORK_NAMES)
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)

logger = logging.getLogger('execo.g5k.api')


_CACHE_FORMAT = 1
# Queues of a cluster whose description does not list them.
_DEFAULT_QUEUES = ('admin', 'default', 'besteffort')
_FETCH_THREADS = 8

_lock = threading.RLock()
_snapshots: Dict[str, Dict[str, Any]] = {}      # api_uri -> snapshot
_connections: Dict[tuple, APIConnection] = {}


def _natural_key(name: str) -> List[Union[int, str]]:
    """Sort key putting griffon-2 before griffon-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', name)]


def _connection() -> APIConnection:
    """One connection per API and user, created only when a request is due."""
    key = (g5k_configuration['api_uri'], g5k_configuration.get('api_username'))
    with _lock:
        connection = _connections.get(key)
        if connection is None:
            connection = _connections[key] = APIConnection()
        return connection


def clear_cache(disk: bool = False) -> None:
    """Forget the API data held in memory (and on disk with ``disk=True``).

    The next question refetches it: useful after the platform changed, or
    in tests that point ``api_uri`` elsewhere.
    """
    with _lock:
        if disk:
            for kind in ('reference', 'network', 'backbone'):
                path = _cache_file(g5k_configuration['api_uri'], kind)
                if path:
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
        _snapshots.clear()
        if 'execo_g5k.api_network' in sys.modules:
            sys.modules['execo_g5k.api_network'].clear_network_cache()
        for connection in _connections.values():
            connection.close()
        _connections.clear()


def get_resource_attributes(path: str) -> Any:
    """The JSON document at ``path`` of the API, uncached.

    >>> get_resource_attributes('sites/nancy')['uid']        # doctest: +SKIP
    'nancy'
    """
    return _connection().get(path)


# the snapshot of the reference API

def _get_collection(connection: APIConnection, path: str) -> List[Dict[str, Any]]:
    """All items of a collection, following its pagination."""
    items: List[Dict[str, Any]] = []
    while True:
        separator = '&' if '?' in path else '?'
        page = connection.get(path if not items else
                              '%s%soffset=%d' % (path, separator, len(items)))
        batch = page.get('items') or []
        items.extend(batch)
        total = page.get('total', len(items))
        if not batch or len(items) >= total:
            return items


def _fetch_snapshot(connection: APIConnection) -> Dict[str, Any]:
    sites = {site['uid']: site for site in _get_collection(connection, 'sites')}
    with ThreadPoolExecutor(_FETCH_THREADS, thread_name_prefix='g5k-api') as pool:
        site_clusters = dict(zip(sites, pool.map(
            lambda site: _get_collection(connection, 'sites/%s/clusters' % (site,)), sites)))
        pairs = [(site, cluster['uid']) for site, clusters in site_clusters.items()
                 for cluster in clusters]
        nodes = pool.map(lambda pair: _get_collection(
            connection, 'sites/%s/clusters/%s/nodes' % pair), pairs)
        snapshot: Dict[str, Any] = {
            'format': _CACHE_FORMAT, 'api_uri': connection.base_uri,
            'fetched_at': time.time(),
            'sites': sites, 'clusters': {}, 'hosts': {},
            'hierarchy': {site: {} for site in sorted(sites, key=_natural_key)},
        }
        for site, clusters in site_clusters.items():
            for cluster in clusters:
                snapshot['clusters'][cluster['uid']] = cluster
        for (site, cluster), cluster_nodes in zip(pairs, nodes):
            for node in cluster_nodes:
                snapshot['hosts'][node['uid']] = node
            snapshot['hierarchy'][site][cluster] = sorted(
                (node['uid'] for node in cluster_nodes), key=_natural_key)
    return snapshot


def _cache_file(api_uri: str, kind: str = 'reference',
                cache_dir: Any = FromConfiguration('api_cache_dir')) -> Optional[str]:
    directory = FromConfiguration.resolve(cache_dir)
    if not directory:
        return None
    digest = hashlib.sha256(api_uri.rstrip('/').encode()).hexdigest()[:16]
    return os.path.join(os.path.expanduser(directory), '%s-%s.json' % (kind, digest))


def _read_cache(path: str, api_uri: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as cache:
            snapshot = json.load(cache)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning('ignoring unreadable Grid5000 API cache %s: %s', path, exc)
        return None
    if (not isinstance(snapshot, dict) or snapshot.get('format') != _CACHE_FORMAT
            or snapshot.get('api_uri') != api_uri.rstrip('/')):
        return None
    return snapshot


def _write_cache(path: str, snapshot: Dict[str, Any]) -> None:
    """Replace the cache file in one step, whatever other writers do."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix='.reference-', suffix='.tmp', dir=directory)
        try:
            with os.fdopen(fd, 'w') as out:
                json.dump(snapshot, out)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:  # a cache we cannot write only costs requests
        logger.warning('cannot write the Grid5000 API cache %s: %s', path, exc)


def _is_fresh(snapshot: Optional[Dict[str, Any]]) -> bool:
    if not snapshot:
        return False
    age = time.time() - snapshot.get('fetched_at', 0)
    return 0 <= age <= float(g5k_configuration['api_cache_max_age'])


def get_api_data(cache_dir: Any = FromConfiguration('api_cache_dir')) -> Dict[str, Any]:
    """The snapshot of the reference API: memory, else disk, else the API.

    A dict with ``sites``, ``clusters`` and ``hosts`` (uid -> the API's
    description) and ``hierarchy`` ({site: {cluster: [hosts]}}).
    ``cache_dir`` is the directory of the disk cache (None or '': none, as
    in 2.x); the files there are ours, not 2.x's.

    >>> sorted(get_api_data(cache_dir=None)['hierarchy'])     # doctest: +SKIP
    ['grenoble', 'lille', 'luxembourg', 'lyon', 'nancy', ...]
    """
    return _cached_snapshot(_snapshots, 'reference', _fetch_snapshot, 'API data', cache_dir)


def _cached_snapshot(snapshots: Dict[str, Dict[str, Any]], kind: str,
                    fetch: Callable[[Any], Dict[str, Any]], what: str,
                    cache_dir: Any = FromConfiguration('api_cache_dir')) -> Dict[str, Any]:
    """One snapshot of the API, per ``api_uri``: from ``snapshots`` (memory),
    else the disk cache of ``kind``, else ``fetch(connection)``; a stale copy
    is used, with a warning, when the API is unreachable, since an
    experiment is better served by yesterday's description than by none."""
    api_uri = g5k_configuration['api_uri']
    with _lock:
        snapshot = snapshots.get(api_uri)
        if _is_fresh(snapshot):
            return snapshot
        path = _cache_file(api_uri, kind, cache_dir)
        on_disk = _read_cache(path, api_uri) if path else None
        if _is_fresh(on_disk):
            snapshots[api_uri] = on_disk
            return on_disk
        stale = snapshot or on_disk
        try:
            fetched = fetch(_connection())
        except APIException as exc:
            if stale is None:
                raise
            logger.warning('using Grid5000 %s from %s, the API is unreachable: %s', what,
                           time.strftime('%Y-%m-%d %H:%M', time.localtime(stale['fetched_at'])),
                           exc)
            snapshots[api_uri] = stale
            return stale
        if path:
            _write_cache(path, fetched)
        snapshots[api_uri] = fetched
        return fetched


# listings

def filter_clusters(clusters: Iterable[str],
                    queues: Union[None, str, Sequence[str]] = 'default') -> List[str]:
    """The clusters having at least one of ``queues`` (None: no filtering).

    A cluster whose description lists no queue is taken to be in the
    admin, default and besteffort queues.
    """
    clusters = list(clusters)
    if not queues:
        return clusters
    wanted = {queues} if isinstance(queues, str) else set(queues)
    return [cluster for cluster in clusters
            if wanted.intersection(get_cluster_attributes(cluster).get('queues')
                                   or _DEFAULT_QUEUES)]


def get_g5k_sites() -> List[str]:
    """The sites' names, sorted.

    >>> get_g5k_sites()                                      # doctest: +SKIP
    ['grenoble', 'lille', 'luxembourg', 'lyon', 'nancy', ...]
    """
    return list(get_api_data()['hierarchy'])


def get_site_clusters(site: str, queues: Union[None, str, Sequence[str]] = 'default'
                      ) -> List[str]:
    """The clusters of ``site`` in one of ``queues`` (None: all of them).

    >>> get_site_clusters('rennes')                          # doctest: +SKIP
    ['paradoxe', 'parasilo', 'paravance', ...]
    """
    hierarchy = get_api_data()['hierarchy']
    if site not in hierarchy:
        raise G5kKeyError('unknown Grid5000 site %r (known: %s)'
                       % (site, ', '.join(hierarchy)))
    return filter_clusters(sorted(hierarchy[site], key=_natural_key), queues)


def get_site_hosts(site: str, queues: Union[None, str, Sequence[str]] = 'default'
                   ) -> List[str]:
    """The short names of the hosts of ``site``'s clusters in ``queues``."""
    hierarchy = get_api_data()['hierarchy']
    return [host for cluster in get_site_clusters(site, queues)
            for host in hierarchy[site][cluster]]


def get_g5k_clusters(queues: Union[None, str, Sequence[str]] = 'default') -> List[str]:
    """All clusters in one of ``queues`` (None: all), sorted."""
    return filter_clusters(sorted(get_api_data()['clusters'], key=_natural_key), queues)


def get_g5k_hosts(queues: Union[None, str, Sequence[str]] = 'default') -> List[str]:
    """The short names of all hosts of the clusters in ``queues``."""
    return [host for cluster in get_g5k_clusters(queues)
            for host in get_cluster_hosts(cluster)]


def get_cluster_site(cluster: str) -> Optional[str]:
    """The site of ``cluster``, None if the API does not know it."""
    for site, clusters in get_api_data()['hierarchy'].items():
        if cluster in clusters:
            return site
    return None


def get_cluster_hosts(cluster: str) -> List[str]:
    """The short names of the hosts of ``cluster``.

    >>> get_cluster_hosts('griffon')[:2]                     # doctest: +SKIP
    ['griffon-1', 'griffon-2']
    """
    site = get_cluster_site(cluster)
    if site is None:
        raise G5kKeyError('unknown Grid5000 cluster %r' % (cluster,))
    return list(get_api_data()['hierarchy'][site][cluster])


def get_host_cluster(host: HostLike) -> Optional[str]:
    """The cluster of a host, from its name (bare, fqdn, kavlan...)."""
    return g5k_host_get_cluster(host)


def get_host_site(host: HostLike) -> Optional[str]:
    """The site of a host: from its domain if it has one, else from the API."""
    site = get_host_site_from_name(host)
    if site is not None:
        return site
    cluster = g5k_host_get_cluster(host)
    return get_cluster_site(cluster) if cluster else None


def get_host_longname(host: HostLike) -> Optional[str]:
    """The fully qualified name of a host (None if its site is unknown).

    Interface and kavlan parts are kept: the long name of a kavlan name
    reaches the node inside its VLAN.

    >>> get_host_longname('griffon-12-kavlan-4')             # doctest: +SKIP
    'griffon-12-kavlan-4.nancy.grid5000.fr'
    """
    address = getattr(host, 'address', host)
    name = address.partition('.')[0]
    site = get_host_site(address)
    if site is None:
        return None
    return '%s.%s.grid5000.fr' % (name, site)


def group_hosts(hosts: Iterable[HostLike]) -> Dict[Optional[str], Dict[Optional[str], list]]:
    """Hosts grouped as ``{site: {cluster: [hosts]}}``, hosts as given.

    >>> group_hosts(['griffon-1.nancy.grid5000.fr', 'paravance-3.rennes'])
    {'nancy': {'griffon': ['griffon-1.nancy.grid5000.fr']}, 'rennes': {'paravance': ['paravance-3.rennes']}}
    """
    grouped: Dict[Optional[str], Dict[Optional[str], list]] = {}
    for host in hosts:
        grouped.setdefault(get_host_site(host), {}).setdefault(
            get_host_cluster(host), []).append(host)
    return grouped


# descriptions

def get_host_attributes(host: HostLike) -> Dict[str, Any]:
    """The API's description of a host (its ``network_adapters``...)."""
    name = get_host_shortname(host)
    try:
        return get_api_data()['hosts'][name]
    except KeyError:
        raise G5kKeyError('unknown Grid5000 host %r' % (name,)) from None


def get_cluster_attributes(cluster: str) -> Dict[str, Any]:
    """The API's description of a cluster (its ``queues``, ``model``...)."""
    try:
        return get_api_data()['clusters'][cluster]
    except KeyError:
        raise G5kKeyError('unknown Grid5000 cluster %r' % (cluster,)) from None


def get_site_attributes(site: str) -> Dict[str, Any]:
    """The API's description of a site."""
    try:
        return get_api_data()['sites'][site]
    except KeyError:
        raise G5kKeyError('unknown Grid5000 site %r' % (site,)) from None
