"""Grid5000's network as a graph: `g5k_graph` (a networkx ``MultiGraph``) and `treemap`.

Scripts written for execo 2.x choose hosts by where they sit in the
network (hosts behind one switch, sites linked by the backbone) and read
the graph's nodes and attributes by name, so the graph is built as 2.x
built it, from the API's network equipments (`execo_g5k.api_network`):

- a host: its short name; ``kind='node'``, ``power`` (flops of one core),
  ``cores``;
- an equipment of a site: ``'{uid}.{site}'``; ``kind`` as the API gives it
  (``'switch'``, ``'router'``...), ``backplane`` (bits per second);
- a linecard, only for an equipment with ports on several linecards:
  ``'{uid}-lc{index}.{site}'``, ``kind='linecard'``, ``backplane``;
- a RENATER (backbone) equipment: its uid, ``kind='renater'``.

Each edge is keyed by its two ends sorted and joined by ``_`` (a host's end
is ``host-{device}``, so two interfaces of one host are two edges), and
carries ``bandwidth`` (bits per second), ``active`` (the host interface
is mounted) and, on backbone links, ``latency`` (seconds).

networkx is an optional extra (``pip install execo[topology]``), imported
by this module only; `treemap` also needs matplotlib, imported when called.
"""

from __future__ import annotations

import re
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

try:
    import networkx as nx
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("execo_g5k.topology needs networkx: pip install networkx "
                      "(or the execo[topology] extra)") from exc

from execo.host import Host
from execo.log import logger
from execo.time_utils import format_date
from execo_g5k import api_utils
from execo_g5k.api_network import _network_data, get_backbone_network_equipments
from execo_g5k.hostnames import get_host_shortname
from execo_g5k.topology_draw import treemap

__all__ = ["ARBITRARY_LATENCY", "g5k_graph", "treemap"]

# the latency of a backbone link whose description gives none (2.x's value)
ARBITRARY_LATENCY = 2.25e-3
arbitrary_latency = ARBITRARY_LATENCY  # 2.x's names
suffix = '.grid5000.fr'
_EQUIPMENT_KINDS = ('switch', 'router')
# "1/12", "gi3:12"...: the peer's linecard comes first
_PORT_SPEC = re.compile(r'[^0-9]*([0-9]+)[:/]([0-9]+)')


def _equipment_node(uid: str, site: str) -> str:
    return "%s.%s" % (uid, site)


def _linecard_node(uid: str, site: str, index: Any) -> str:
    return "%s-lc%s.%s" % (uid, index, site)


def _link_key(*ends: str) -> str:
    return "_".join(sorted(ends))


def _ports(linecard: Dict[str, Any]) -> Iterable[Tuple[int, Dict[str, Any]]]:
    return enumerate(linecard.get('ports') or ())


class g5k_graph(nx.MultiGraph):
    """Hosts, equipments and links of Grid5000 (see the module docstring).

    >>> graph = g5k_graph(['nancy', 'rennes'])               # doctest: +SKIP
    >>> graph.nodes['graphene-1']['cores']                   # doctest: +SKIP
    4

    :param elements: sites, clusters or hosts (names), or one of them; the
      backbone is added when the hosts span several sites. Only clusters
      of the default queue count, as in 2.x.
    """

    def __init__(self, elements: Any = None) -> None:
        super().__init__()
        snapshot = api_utils.get_api_data()
        backbone = get_backbone_network_equipments()
        network: Dict[str, Any] = dict(_network_data())
        network['backbone'] = backbone
        # 2.x's layout of get_api_data(), which scripts read as graph.data
        self.data = {'network': network, 'hosts': snapshot['hosts'],
                     'sites': snapshot['sites'], 'clusters': snapshot['clusters'],
                     'hierarchy': snapshot['hierarchy']}
        self.graph['api_commit'] = backbone[0].get('version') if backbone else None
        self.graph['date'] = format_date(time.time())
        self._warned: set = set()
        if not elements:
            return
        if isinstance(elements, (str, Host)):
            elements = [elements]
        sites, clusters = api_utils.get_g5k_sites(), api_utils.get_g5k_clusters()
        hosts = set(api_utils.get_g5k_hosts())
        for element in elements:
            if element in sites:
                self.add_site(element)
            elif element in clusters:
                self.add_cluster(element)
            elif get_host_shortname(element) in hosts:
                name = get_host_shortname(element)
                self.add_host(name, self.data['hosts'][name])
        if len(self.get_sites()) > 1:
            self.add_backbone()

    # ---- hosts, clusters, sites ---------------------------------------------------

    def add_host(self, host: Any, data: Optional[Dict[str, Any]] = None) -> None:
        """Add a host (short name or `Host`), and the equipments its mounted
        interfaces plug into, with the links between them.

        :param data: the host's API description (for ``power`` and
          ``cores``; both 0 without it).
        """
        name = get_host_shortname(host.address) if isinstance(host, Host) else host
        power = data['performance']['core_flops'] if data else 0
        cores = data['architecture']['nb_cores'] if data else 0
        adapters = self.get_host_adapters(name)
        if not adapters:
            logger.warning("host %s has no experiment network interface in the API", name)
        self.add_node(name, kind='node', power=power, cores=cores)
        site = api_utils.get_host_site(name)
        for adapter in adapters:
            if adapter['mounted']:
                self.add_equip(adapter['switch'], site)
                self._drop_lone_equipments()

    def rm_host(self, host: str) -> None:
        """Remove a host, and the equipments that then serve no host."""
        self.remove_node(host)
        site = api_utils.get_host_site(host)
        for adapter in self.get_host_adapters(host):
            equipment = _equipment_node(adapter['switch'], site)
            if self.has_node(equipment) and not self.get_equip_hosts(equipment):
                self.rm_equip(equipment)

    def add_cluster(self, cluster: str, data: Any = None) -> None:
        """Add every host of ``cluster``."""
        for host in api_utils.get_cluster_hosts(cluster):
            self.add_host(host, self.data['hosts'][host])

    def rm_cluster(self, cluster: str) -> None:
        """Remove the hosts of ``cluster`` that are in the graph."""
        for host in api_utils.get_cluster_hosts(cluster):
            if self.has_node(host):
                self.rm_host(host)

    def add_site(self, site: str, data: Any = None) -> None:
        """Add every host of ``site`` (clusters of the default queue)."""
        for host in api_utils.get_site_hosts(site):
            self.add_host(host, self.data['hosts'][host])

    def rm_site(self, site: str) -> None:
        """Remove the hosts of ``site`` that are in the graph."""
        for host in api_utils.get_site_hosts(site):
            if self.has_node(host):
                self.rm_host(host)

    # ---- equipments -------------------------------------------------------------------

    def add_equip(self, equip: str, site: str) -> None:
        """Add the equipment ``equip`` of ``site``, its links to what the
        graph already holds and, the first time, the switches and routers
        it leads to (so that a host reaches its site's router)."""
        equipments = self.data['network'][site]
        if equip not in equipments:
            logger.warning("network equipment %s of %s is not described in the API", equip, site)
            return
        data = equipments[equip]
        node = _equipment_node(equip, site)
        new = not self.has_node(node)
        if new:
            self.add_node(node, kind=data['kind'], backplane=data['backplane_bps'])
        for index, linecard in enumerate(data.get('linecards') or ()):
            for position, port in _ports(linecard):
                if 'uid' in port:
                    self._add_port(equip, site, index, linecard, position, port, new)

    def _add_port(self, equip: str, site: str, index: int, linecard: Dict[str, Any],
                  position: int, port: Dict[str, Any], new: bool) -> None:
        data = self.data['network'][site][equip]
        node = _equipment_node(equip, site)
        uid, declared = port['uid'], port.get('kind')
        if declared == 'channel':
            channel = data['channels'][uid]
            uid, declared = channel['uid'], channel['kind']
        kind = self._kind_of(site, uid)
        if kind is None:
            self._warn_once((site, uid), "%s (linked from %s) is not in the API", uid, node)
            return
        if declared and declared != kind:
            logger.debug("port %s:%s of %s says %s is a %s; the API says %s", index, position,
                         node, uid, declared, kind)
        rate = port.get('rate', linecard.get('rate'))
        several = self._several_linecards(site, equip)
        near = _linecard_node(equip, site, index) if several else node
        target = _equipment_node(uid, site) if self.has_node(_equipment_node(uid, site)) \
            else uid if self.has_node(uid) else None
        if target is not None and kind == 'node':
            for adapter in self.get_host_adapters(uid):
                if adapter['switch'] == equip:
                    self._near_end(equip, site, index, linecard, several)
                    self._link(near, target, "%s-%s" % (target, adapter['device']),
                               self._bandwidth(rate, data, several), adapter['mounted'])
        elif target is not None and kind in _EQUIPMENT_KINDS and new:
            self._near_end(equip, site, index, linecard, several)
            peer_index = self._peer_linecard(equip, site, index, position, uid)
            if peer_index is None:
                logger.error("no linecard of %s is linked back to %s: link skipped", uid, node)
            else:
                far = _linecard_node(uid, site, peer_index) \
                    if self._several_linecards(site, uid) else target
                self._link(near, far, far, self._bandwidth(rate, data, several), True)
        if 'renater' in uid:
            self.add_node(uid, kind='renater')
            self._near_end(equip, site, index, linecard, several)
            self._link(near, uid, uid, self._bandwidth(rate, data, several), True)
        elif kind in _EQUIPMENT_KINDS:
            self._near_end(equip, site, index, linecard, several)
            if new:
                self.add_equip(uid, site)

    @staticmethod
    def _bandwidth(rate: float, data: Dict[str, Any], several: bool) -> float:
        # without a linecard node, the port and the backplane are one hop
        return rate if several else min(rate, data['backplane_bps'])

    def _near_end(self, equip: str, site: str, index: int, linecard: Dict[str, Any],
                  several: bool) -> None:
        """The linecard node and its link to its equipment, when it has one."""
        if not several:
            return
        node, card = _equipment_node(equip, site), _linecard_node(equip, site, index)
        backplane = self.data['network'][site][equip]['backplane_bps']
        if not self.has_node(card):
            self.add_node(card, kind='linecard', backplane=linecard.get('backplane_bps',
                                                                         backplane))
        self._link(node, card, card, backplane, True)

    def _link(self, near: str, far: str, far_name: str, bandwidth: float, active: bool) -> None:
        key = _link_key(near, far_name)
        if not self.has_edge(near, far, key):
            self.add_edge(near, far, key, bandwidth=bandwidth, active=active)

    def _kind_of(self, site: str, uid: str) -> Optional[str]:
        if uid in self.data['hosts']:
            return 'node'
        if uid in self.data['network'][site]:
            return self.data['network'][site][uid]['kind']
        if 'renater' in uid:
            return 'virtual'  # the site's side of the backbone: not a site equipment
        return None

    def _several_linecards(self, site: str, equip: str) -> bool:
        linecards = self.data['network'][site][equip].get('linecards') or ()
        return sum(1 for linecard in linecards if 'ports' in linecard) > 1

    def _peer_linecard(self, equip: str, site: str, index: int, position: int,
                       peer: str) -> Optional[Any]:
        """The index of the linecard of ``peer`` that port index:position of
        ``equip`` plugs into: from the port's own ``port`` field when it
        reads as ``linecard/port``, else the first of ``peer``'s ports that
        names ``equip`` (for a channel, the one at the same rank)."""
        equipments = self.data['network'][site]
        port = equipments[equip]['linecards'][index]['ports'][position]
        spec = _PORT_SPEC.match(port.get('port', ''))
        if spec:
            return spec.group(1)
        peer_data = equipments[peer]

        def names_equip(p: Dict[str, Any]) -> bool:
            if p.get('kind') == 'channel':
                return peer_data['channels'][p['uid']]['uid'] == equip
            return p.get('uid') == equip
        candidates = [i for i, card in enumerate(peer_data.get('linecards') or ())
                      for _, p in _ports(card) if names_equip(p)]
        if not candidates:
            return None
        rank = 0
        if port.get('kind') == 'channel':
            same = [(i, j) for i, card in enumerate(equipments[equip]['linecards'])
                    for j, p in _ports(card) if p.get('uid') == port['uid']]
            rank = same.index((index, position))
        return candidates[rank] if rank < len(candidates) else candidates[0]

    def _drop_lone_equipments(self) -> None:
        # an equipment reached on the way to a host but linked to nothing
        lone = [n for n, kind in self.nodes(data='kind')
                if kind in ('switch', 'router', 'virtual') and self.degree(n) == 0]
        self.remove_nodes_from(lone)

    def _warn_once(self, key: Any, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    def rm_equip(self, equip: str) -> None:
        """Remove an equipment node (``'{uid}.{site}'``) and its linecards."""
        uid, _, site = equip.partition('.')
        cards = [n for n in self.nodes if n.startswith(uid + '-lc') and n.endswith('.' + site)]
        self.remove_nodes_from([equip] + cards)

    # ---- the backbone ---------------------------------------------------------------------

    def add_backbone(self) -> None:
        """Add RENATER's equipments that lie on a shortest path between two
        sites' routers, with their links."""
        for equipment in self.data['network']['backbone']:
            source = equipment['uid']
            self.add_node(source, kind='renater')
            for linecard in equipment.get('linecards') or ():
                for _, port in _ports(linecard):
                    target = port.get('uid', '')
                    if 'renater-' not in target:
                        continue
                    self.add_node(target, kind=port.get('kind', 'renater'))
                    if not self.has_edge(source, target):
                        self.add_edge(source, target, _link_key(source, target),
                                      bandwidth=port.get('rate', linecard.get('rate')),
                                      latency=port.get('latency', ARBITRARY_LATENCY),
                                      active=True)
        used = set()
        sites = self.get_sites()
        for site in sites:
            for other in sites:
                ends = self.get_site_router(site)[0], self.get_site_router(other)[0]
                if site == other or None in ends:
                    continue
                try:
                    used.update(n for n in nx.shortest_path(self, *ends) if 'renater' in n)
                except nx.NetworkXNoPath:
                    logger.warning("no path between the routers of %s and %s", site, other)
        self.remove_nodes_from([n for n, kind in self.nodes(data='kind')
                                if kind == 'renater' and n not in used])

    def rm_backbone(self) -> None:
        """Remove every RENATER node."""
        self.remove_nodes_from([n for n, _ in self.get_backbone()])

    # ---- questions --------------------------------------------------------------------------

    def get_hosts(self, cluster: Optional[str] = None,
                  site: Optional[str] = None) -> List[Tuple[str, Dict[str, Any]]]:
        """The host nodes (name, attributes), of ``cluster`` or ``site`` if given."""
        hosts = [(n, d) for n, d in self.nodes(data=True) if d.get('kind') == 'node']
        if cluster:
            return [(n, d) for n, d in hosts if cluster in n]
        if site:
            return [(n, d) for n, d in hosts if api_utils.get_host_site(n) == site]
        return hosts

    def get_clusters(self, site: Optional[str] = None) -> List[str]:
        """The clusters of the hosts in the graph (of ``site`` if given)."""
        return sorted({api_utils.get_host_cluster(n) for n, _ in self.get_hosts(site=site)})

    def get_sites(self) -> List[str]:
        """The sites of the hosts in the graph."""
        return sorted({api_utils.get_host_site(n) for n, _ in self.get_hosts()})

    def get_site_router(self, site: str) -> Tuple[Optional[str], Dict[str, Any]]:
        """(name, attributes) of the first router of ``site``, (None, {}) if none."""
        for node, data in self.nodes(data=True):
            if data.get('kind') == 'router' and site in node:
                return node, data
        return None, {}

    def get_backbone(self) -> List[Tuple[str, Dict[str, Any]]]:
        """The RENATER nodes (name, attributes)."""
        return [(n, d) for n, d in self.nodes(data=True) if d.get('kind') == 'renater']

    def get_equip_hosts(self, equip: str) -> List[str]:
        """The hosts linked to equipment node ``equip``, directly or through
        one of its linecards."""
        near = [equip] + [n for n in self.neighbors(equip)
                          if self.nodes[n].get('kind') == 'linecard']
        return sorted({h for n in near for h in self.neighbors(n)
                       if self.nodes[h].get('kind') == 'node'})

    def get_host_neighbours(self, host: str) -> List[str]:
        """The other hosts behind the equipment of ``host``'s first interface."""
        adapters = self.get_host_adapters(host)
        if not adapters:
            return []
        equip = _equipment_node(adapters[0]['switch'], api_utils.get_host_site(host))
        return [h for h in self.get_equip_hosts(equip) if h != host] \
            if self.has_node(equip) else []

    def get_host_adapters(self, host: str) -> List[Dict[str, Any]]:
        """The API's descriptions of ``host``'s experiment Ethernet interfaces
        (mountable, not management, plugged into a named equipment)."""
        description = self.data['hosts'].get(host) or {}
        return [a for a in description.get('network_adapters') or ()
                if a.get('switch') and not a.get('management') and a.get('mountable')
                and a.get('interface') == 'Ethernet']

