"""A stand-in for the Grid5000 REST API, which cannot be reached from here.

It is a real HTTP server on 127.0.0.1 (standard library ``http.server`` in
a thread, on a free port) serving a small reference tree in the JSON shape
of the real API 3.0: collections are ``{"total", "offset", "items",
"links"}``, resources carry ``uid``, ``type`` and ``links``, under
``/3.0/sites``, ``/3.0/sites/{site}/clusters`` and
``/3.0/sites/{site}/clusters/{cluster}/nodes``. Collections are paginated
(``offset``/``limit``) with a small page size, so that clients must follow
``total`` as they must with the real API.

Knobs for the tests: ``credentials`` (require HTTP basic auth, else 401),
``fail_next(n, status)`` (answer ``status`` to the next ``n`` requests),
``requests`` / ``request_count`` (what was asked, to check a cache), and
``posted`` (bodies of POST requests, answered 201), ``tls_files`` (serve
HTTPS with this certificate and key).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

API_PREFIX = '/3.0'
COLLECTION_TYPE = 'application/vnd.grid5000.collection+json'
ITEM_TYPE = 'application/vnd.grid5000.item+json'


def _node(site: str, cluster: str, number: int, cores: int, eth: int) -> Dict[str, Any]:
    uid = '%s-%d' % (cluster, number)
    return {
        'uid': uid,
        'type': 'node',
        'architecture': {'nb_procs': 2, 'nb_cores': cores, 'nb_threads': cores * 2,
                         'platform_type': 'x86_64'},
        'main_memory': {'ram_size': 64 * 1024 ** 3},
        'network_adapters': [
            {'device': 'eth%d' % i, 'interface': 'Ethernet', 'mounted': i == 0,
             'mountable': True, 'management': False,
             'network_address': '%s.%s.grid5000.fr' % (uid if i == 0 else
                                                      '%s-eth%d' % (uid, i), site)}
            for i in range(eth)],
        'supported_job_types': {'deploy': True, 'virtual': 'ivt'},
    }


def reference_tree() -> Dict[str, Any]:
    """Two sites, three clusters, a few nodes: {site: (attrs, {cluster: (attrs, nodes)})}."""
    def cluster(uid: str, queues: List[str], model: str) -> Dict[str, Any]:
        return {'uid': uid, 'type': 'cluster', 'model': model, 'queues': queues,
                'created_at': 'Mon, 01 Jan 2018 00:00:00 GMT'}

    return {
        'nancy': ({'uid': 'nancy', 'type': 'site', 'name': 'Nancy',
                   'location': 'Nancy, France', 'latitude': 48.7, 'longitude': 6.2,
                   'frontend_ip': '172.16.79.101'},
                  {'graphene': (cluster('graphene', ['admin', 'default'], 'Carri'),
                                [_node('nancy', 'graphene', n, 4, 1) for n in (1, 2, 3, 10)]),
                   'griffon': (cluster('griffon', ['admin', 'production'], 'Carri'),
                               [_node('nancy', 'griffon', n, 8, 2) for n in (1, 2, 12)])}),
        'rennes': ({'uid': 'rennes', 'type': 'site', 'name': 'Rennes',
                    'location': 'Rennes, France', 'latitude': 48.1, 'longitude': -1.6,
                    'frontend_ip': '172.16.111.106'},
                   {'paravance': (cluster('paravance', ['admin', 'default', 'besteffort'],
                                          'Dell R630'),
                                  [_node('rennes', 'paravance', n, 16, 2) for n in (1, 2, 3)])}),
    }


class G5kApiStandin:
    """The server; use as a context manager, ``uri`` is the API's base URI."""

    def __init__(self, tree: Optional[Dict[str, Any]] = None, page_size: int = 2,
                 credentials: Optional[Tuple[str, str]] = None,
                 tls_files: Optional[Tuple[str, str]] = None) -> None:
        self.tree = tree if tree is not None else reference_tree()
        self.page_size = page_size
        self.credentials = credentials
        self.tls_files = tls_files
        self.requests: List[Tuple[str, str]] = []
        self.posted: List[Tuple[str, Any]] = []
        self.vlan_members: Dict[str, int] = {}  # interface address -> KaVLAN (issue 19)
        self._lock = threading.Lock()
        self._failures: List[int] = []
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def uri(self) -> str:
        assert self._server is not None, 'not started'
        scheme = 'https' if self.tls_files else 'http'
        return '%s://127.0.0.1:%d%s/' % (scheme, self._server.server_address[1], API_PREFIX)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def start(self) -> 'G5kApiStandin':
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        if self.tls_files:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls_files)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        # a short poll interval only makes stop() quick
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name='g5k-api-standin', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def __enter__(self) -> 'G5kApiStandin':
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # what the handler asks

    def _record(self, method: str, path: str) -> Optional[int]:
        """Log a request; the status to fail it with, if one is queued."""
        with self._lock:
            self.requests.append((method, path))
            return self._failures.pop(0) if self._failures else None

    def _authorized(self, header: Optional[str]) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(('%s:%s' % self.credentials).encode()).decode()
        return header == 'Basic ' + expected

    def resolve(self, path: str, query: Dict[str, List[str]]) -> Optional[Dict[str, Any]]:
        """The JSON document at ``path`` (below the API prefix), or None."""
        parts = [p for p in path.split('/') if p]
        network_answer = resolve_network(self, parts, query)  # issue 19's block, below
        if network_answer is not None:
            return network_answer
        if not parts:
            return {'uid': '3.0', 'type': 'grid', 'version': 'standin-1',
                    'release': '3.0', 'timestamp': 1700000000,
                    'links': [_link('self', API_PREFIX + '/', ITEM_TYPE),
                              _link('sites', API_PREFIX + '/sites', COLLECTION_TYPE)]}
        if parts[0] != 'sites':
            return None
        sites = self.tree
        if len(parts) == 1:
            return self._collection('/sites', [self._site(uid) for uid in sorted(sites)], query)
        site = parts[1]
        if site not in sites:
            return None
        clusters = sites[site][1]
        if len(parts) == 2:
            return self._site(site)
        if parts[2] != 'clusters':
            return None
        base = '/sites/%s/clusters' % (site,)
        if len(parts) == 3:
            return self._collection(base, [self._cluster(site, c) for c in sorted(clusters)],
                                    query)
        cluster = parts[3]
        if cluster not in clusters:
            return None
        if len(parts) == 4:
            return self._cluster(site, cluster)
        if parts[4] != 'nodes':
            return None
        base = '/sites/%s/clusters/%s/nodes' % (site, cluster)
        nodes = {n['uid']: self._item(base, n) for n in clusters[cluster][1]}
        if len(parts) == 5:
            return self._collection(base, list(nodes.values()), query)
        if len(parts) == 6:
            return nodes.get(parts[5])
        return None

    def _item(self, parent: str, attrs: Dict[str, Any]) -> Dict[str, Any]:
        item = dict(attrs)
        item['links'] = [_link('self', '%s%s/%s' % (API_PREFIX, parent, attrs['uid']), ITEM_TYPE),
                         _link('parent', API_PREFIX + parent.rpartition('/')[0], ITEM_TYPE)]
        return item

    def _site(self, site: str) -> Dict[str, Any]:
        item = self._item('/sites', self.tree[site][0])
        item['links'].append(_link('clusters', '%s/sites/%s/clusters' % (API_PREFIX, site),
                                   COLLECTION_TYPE))
        return item

    def _cluster(self, site: str, cluster: str) -> Dict[str, Any]:
        parent = '/sites/%s/clusters' % (site,)
        item = self._item(parent, self.tree[site][1][cluster][0])
        item['links'].append(_link('nodes', '%s%s/%s/nodes' % (API_PREFIX, parent, cluster),
                                   COLLECTION_TYPE))
        return item

    def _collection(self, path: str, items: List[Dict[str, Any]],
                    query: Dict[str, List[str]]) -> Dict[str, Any]:
        offset = int(query.get('offset', ['0'])[0])
        limit = int(query.get('limit', [str(self.page_size)])[0])
        return {'total': len(items), 'offset': offset,
                'items': items[offset:offset + limit],
                'links': [_link('self', API_PREFIX + path, COLLECTION_TYPE),
                          _link('parent', API_PREFIX + (path.rpartition('/')[0] or '/'),
                                ITEM_TYPE)]}


def _link(rel: str, href: str, mime: str) -> Dict[str, str]:
    return {'rel': rel, 'href': href, 'type': mime}


class _Handler(BaseHTTPRequestHandler):
    owner: G5kApiStandin
    server_version = 'G5kApiStandin/1.0'

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests look at owner.requests, not at a log

    def do_GET(self) -> None:
        self._serve('GET')

    def do_POST(self) -> None:
        self._serve('POST')

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        body = None
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            body = self.rfile.read(length)
        failure = self.owner._record(method, self.path)
        if failure is not None:
            return self._reply(failure, {'code': failure, 'title': 'Service Unavailable',
                                         'message': 'the stand-in was told to fail'})
        if not self.owner._authorized(self.headers.get('Authorization')):
            return self._reply(401, '<html><body><h1>401 Authorization Required</h1>'
                               '</body></html>', {'WWW-Authenticate':
                                                  'Basic realm="Grid5000 API stand-in"'})
        if not url.path.startswith(API_PREFIX):
            return self._not_found(url.path)
        path = url.path[len(API_PREFIX):]
        if method == 'POST':
            document = json.loads(body) if body else None
            with self.owner._lock:
                self.owner.posted.append((path, document))
                uid = len(self.owner.posted)
            vlan_answer = answer_vlan_post(self.owner, path, document)  # issue 19's block
            if vlan_answer is not None:
                return self._reply(200, vlan_answer)
            return self._reply(201, {'uid': uid, 'type': 'job', 'submitted': document})
        document = self.owner.resolve(path, parse_qs(url.query))
        if document is None:
            return self._not_found(url.path)
        self._reply(200, document)

    def _not_found(self, path: str) -> None:
        self._reply(404, {'code': 404, 'title': 'Not Found',
                          'message': 'Cannot find resource %s' % (path,)})

    def _reply(self, status: int, document: Any,
               headers: Optional[Dict[str, str]] = None) -> None:
        if isinstance(document, str):
            payload, mime = document.encode(), 'text/html'
        else:
            payload, mime = json.dumps(document).encode(), 'application/json'
        self.send_response(status)
        self.send_header('Content-Type', mime)
        self.send_header('Content-Length', str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


# ==== issue 19: network equipments, metrology, KaVLAN (begin) ================================
#
# The network side of the API 3.0, in its documented shapes:
#
# - ``/network_equipments`` (the backbone, empty here) and
#   ``/sites/{site}/network_equipments[/{uid}]``: a router ``gw-{site}``
#   (``kind: router``) whose ``vlans`` map names its KaVLANs (``{"vlan104":
#   {"name": "kavlan-4", "addresses": ["10.16.0.0/18"], ...}}``, plus a
#   non-dict entry, as the real ones carry), and the switches the nodes'
#   adapters name in their ``switch`` field (``kind: switch``, with
#   ``linecards`` listing the node ports);
# - ``/sites/{site}/metrics/{metric}/timeseries?only=a,b&from=&to=&resolution=``:
#   one item per host asked for, ``{uid, type: timeseries, from, to,
#   resolution, values}``; kwapi metrics (``power``) also carry their own
#   ``timestamps``, as the real ones do;
# - ``POST /sites/{site}/vlans/{vlan_id}`` with ``{"nodes": [...]}``: moves
#   the interfaces into the VLAN; the answer maps each node to ``ok``, or to
#   ``unknown_node`` for a name the site does not have.
#
# `network_tree()` is `reference_tree()` with what these need in the nodes'
# descriptions (adapters' ``switch``, a management adapter, ``performance``),
# and a cluster marked ``exotic``.

KAVLAN_IDS = (1, 2, 3, 4, 5, 6, 7, 16)
_FLOPS = {'graphene': 40.0e9, 'griffon': 80.0e9, 'paravance': 300.0e9}


def network_tree() -> Dict[str, Any]:
    tree = reference_tree()
    for site, (_, clusters) in tree.items():
        for cluster, (attributes, nodes) in clusters.items():
            if cluster == 'griffon':
                attributes['exotic'] = True
            for node in nodes:
                node['performance'] = {'node_flops': _FLOPS.get(cluster, 1.0e9),
                                       'core_flops': _FLOPS.get(cluster, 1.0e9) / 4}
                for index, adapter in enumerate(node['network_adapters']):
                    adapter['switch'] = 's%s%d' % (cluster, index + 1)
                    adapter['switch_port'] = 'port-%s' % (node['uid'],)
                node['network_adapters'].append(
                    {'device': 'bmc', 'interface': 'Ethernet', 'management': True,
                     'mountable': False, 'mounted': False, 'switch': 'sw-admin-%s' % (site,),
                     'network_address': '%s-bmc.%s.grid5000.fr' % (node['uid'], site)})
    return tree


def kavlan_cidr(site_index: int, vlan: int) -> str:
    """Where Grid5000 puts KaVLAN ``vlan`` of the site numbered ``site_index``."""
    base = 16 + 4 * site_index
    if vlan < 4:
        return '192.168.%d.0/22' % (192 + 4 * vlan,)
    if vlan < 8:
        return '10.%d.%d.0/18' % (base, (vlan - 4) * 64)
    return '10.%d.216.0/21' % (base + 3,)


def site_network_equipments(tree: Dict[str, Any], site: str) -> List[Dict[str, Any]]:
    site_index = sorted(tree).index(site)
    router = {'uid': 'gw-%s' % (site,), 'type': 'network_equipment', 'kind': 'router',
              'model': 'Cisco Nexus 9508', 'site': site,
              'vlans': {'vlan%d' % (100 + vlan): {'name': 'kavlan-%d' % (vlan,),
                                                   'administrative': 'yes',
                                                   'addresses': [kavlan_cidr(site_index, vlan)]}
                        for vlan in KAVLAN_IDS}}
    router['vlans']['default'] = 'vlan100'
    switches: Dict[str, Dict[str, Any]] = {}
    for _, nodes in tree[site][1].values():
        for node in nodes:
            for adapter in node['network_adapters']:
                name = adapter.get('switch')
                if not name:
                    continue
                switch = switches.setdefault(name, {
                    'uid': name, 'type': 'network_equipment', 'kind': 'switch',
                    'site': site, 'linecards': [{'ports': []}]})
                switch['linecards'][0]['ports'].append(
                    {'uid': node['uid'], 'port': adapter['device']})
    return with_links([router] + [switches[name] for name in sorted(switches)], site)


def _metric_series(host: str, metric: str, query: Dict[str, List[str]]) -> Dict[str, Any]:
    start = int(query.get('from', ['1700000000'])[0])
    end = int(query.get('to', [str(start + 60)])[0])
    step = int(float(query.get('resolution', ['15'])[0]))
    number = int(host.rsplit('-', 1)[1])
    stamps = list(range(start, end, step))
    series: Dict[str, Any] = {'uid': host, 'type': 'timeseries', 'from': start, 'to': end,
                              'resolution': step,
                              'values': [number * 10.0 + i for i in range(len(stamps))]}
    if metric == 'power':  # kwapi: irregular timestamps of its own
        series['timestamps'] = [stamp + 0.5 for stamp in stamps]
    return series


def resolve_network(standin: 'G5kApiStandin', parts: List[str],
                    query: Dict[str, List[str]]) -> Optional[Dict[str, Any]]:
    """The network documents; None for paths this block does not serve."""
    if parts == ['network_equipments']:
        return standin._collection('/network_equipments', backbone_equipments(standin.tree),
                                   query)
    if len(parts) < 3 or parts[0] != 'sites' or parts[1] not in standin.tree:
        return None
    site = parts[1]
    if parts[2] == 'network_equipments':
        base = '/sites/%s/network_equipments' % (site,)
        items = [standin._item(base, equipment)
                 for equipment in site_network_equipments(standin.tree, site)]
        if len(parts) == 3:
            return standin._collection(base, items, query)
        found = [item for item in items if item['uid'] == parts[3]]
        return found[0] if len(parts) == 4 and found else None
    if parts[2] == 'metrics' and len(parts) == 5 and parts[4] == 'timeseries':
        known = {node['uid'] for _, nodes in standin.tree[site][1].values() for node in nodes}
        wanted = [h for h in query.get('only', [''])[0].split(',') if h in known]
        return standin._collection('/sites/%s/metrics/%s/timeseries' % (site, parts[3]),
                                   [_metric_series(h, parts[3], query) for h in wanted],
                                   {'limit': ['100000']})
    return None


def answer_vlan_post(standin: 'G5kApiStandin', path: str,
                     document: Any) -> Optional[Dict[str, str]]:
    parts = [p for p in path.split('/') if p]
    if len(parts) != 4 or parts[0] != 'sites' or parts[2] != 'vlans':
        return None
    site = parts[1]
    known = {node['uid'] for _, nodes in standin.tree.get(site, ({}, {}))[1].values()
             for node in nodes}
    answer = {}
    for address in (document or {}).get('nodes', []):
        node = re.sub(r'-(eth|ib)\d+$', '', address.split('.')[0])
        answer[address] = 'ok' if node in known else 'unknown_node'
        if node in known:
            standin.vlan_members[address] = int(parts[3])
    return answer

# ==== issue 19: network equipments, metrology, KaVLAN (end) ==================================

# ==== issue 30: what execo_g5k.topology reads (begin) ========================================
#
# The links between equipments, in the API's shapes: every equipment has a
# ``backplane_bps`` and linecards with a ``rate``, every port a ``kind``.
# The router ``gw-{site}`` has RENATER on linecard 0, no port on linecard
# 1, the site's experiment switches on linecard 2 (its own backplane), and
# a port to an equipment the API does not describe; each experiment switch
# has an uplink to the router (paravance's with a rate of its own and a
# ``port`` field naming the router's linecard) and an empty port. The
# backbone (``/network_equipments``) links the sites' RENATER ends through
# renater-paris, with a detour through renater-lyon that no site needs.

_SWITCH_RATES = {'paravance': 10e9}


def with_links(equipments: List[Dict[str, Any]], site: str) -> List[Dict[str, Any]]:
    router, switches = equipments[0], equipments[1:]
    experiment = [s for s in switches if not s['uid'].startswith('sw-admin-')]
    for switch in switches:
        rate = next((r for c, r in _SWITCH_RATES.items() if c in switch['uid']), 1e9)
        switch['backplane_bps'] = 100 * rate
        switch['linecards'][0]['rate'] = rate
        for port in switch['linecards'][0]['ports']:
            port['kind'] = 'node'
        if switch in experiment:
            uplink = {'uid': router['uid'], 'kind': 'router'}
            if rate > 1e9:
                uplink.update(rate=40e9, port='2/%d' % (experiment.index(switch),))
            switch['linecards'][0]['ports'] += [uplink, {}]
    router['backplane_bps'] = 1e12
    router['linecards'] = [
        {'rate': 10e9, 'ports': [{'uid': 'renater-%s' % (site,), 'kind': 'virtual'}]},
        {'rate': 10e9},
        {'rate': 10e9, 'backplane_bps': 4e11,
         'ports': [{'uid': s['uid'], 'kind': 'switch'} for s in experiment]
                  + [{'uid': 'mystery-%s' % (site,), 'kind': 'switch'}]}]
    return equipments


def backbone_equipments(tree: Dict[str, Any]) -> List[Dict[str, Any]]:
    ends = [{'uid': 'renater-%s' % (site,), 'kind': 'renater',
             'latency': 1e-3 * (1 + index)} for index, site in enumerate(sorted(tree))]
    return [
        {'uid': 'renater-paris', 'kind': 'router', 'version': '5f3a9e2c',
         'linecards': [{'rate': 100e9, 'ports': ends + [{'uid': 'renater-lyon'}, {}]}]},
        {'uid': 'renater-lyon', 'kind': 'router', 'version': '5f3a9e2c',
         'linecards': [{'rate': 10e9, 'ports': [{'uid': 'renater-paris', 'rate': 40e9},
                                                {'uid': 'renater-marseille'}]}]},
    ]

# ==== issue 30: what execo_g5k.topology reads (end) ==========================================
