"""Grid5000 helpers of provisioning scripts: KaVLAN addresses, host lists,
the fastest node, frontends, and reaching a node's service from outside.

Most of these are 2.x names kept at their 2.x path (``execo_g5k.utils``);
the machinery they stand on lives in `execo_g5k.frontend` (which frontend,
ssh or not), `execo_g5k.api_utils` / `execo_g5k.api_network` (the API) and
`execo.port_forwarder`.

KaVLAN address plan, as Grid5000 documents it and as 2.x computed it: a
KaVLAN's network is listed in the ``vlans`` of its site's router; in it,
the addresses whose third byte is below ``(vlan - 4) * 64 + 2`` (VLANs
4-7), ``(vlan - 8) * 64 + 2`` (8-9) or 216 (global VLANs, 10 and up) are
the nodes' own, and ``x.x.x.0``, ``.254`` and ``.255`` are the network's,
the gateway's and the broadcast's: what is left may be given to virtual
machines, with MAC addresses of our own making.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from execo.config import SCP, SSH
from execo.connection import make_connection_params
from execo.host import Host
from execo.log import style
from execo.port_forwarder import PortForwarder
from execo.remote import Get, Put, Remote
from execo_g5k.api_network import get_kavlan_network
from execo_g5k.api_utils import (get_host_attributes, get_host_cluster, get_host_shortname,
                                 get_resource_attributes)
from execo_g5k.config import default_frontend_connection_params
from execo_g5k.exception import G5kValueError
from execo_g5k.frontend import get_default_frontend, get_frontend_host
from execo_g5k.hostnames import HostLike

# Also importable from here, as in 2.x: Host, PortForwarder,
# make_connection_params, get_host_attributes, get_host_cluster,
# get_host_shortname, get_resource_attributes.
__all__ = [
    'G5kAutoPortForwarder', 'frontend_factory', 'get_default_frontend', 'get_fastest_host',
    'get_frontend_host', 'get_ipv4_range', 'get_kavlan_host_name', 'get_kavlan_ip_mac',
    'get_kavlan_network', 'get_mac_addresses', 'hosts_list',
]

# 2.x drew its addresses from this prefix: VMs made by 2.x and by us look
# alike to the tools that recognise them.
_MAC_PREFIX = (0x00, 0x20, 0x4e)


def _address(host: HostLike) -> str:
    return getattr(host, 'address', host)


# ---- frontends ----------------------------------------------------------------------

class _SshScpFactory:
    """Actions to frontends always go through ssh and scp, whatever
    ``configuration['remote_tool']`` says (frontends have no taktuk); 2.x
    scripts call ``frontend_factory.get_remote(cmd, [frontend], ...)``."""

    remote_tool = SSH
    fileput_tool = SCP
    fileget_tool = SCP

    def get_remote(self, *args: Any, **kwargs: Any) -> Remote:
        return Remote(*args, **kwargs)

    def get_fileput(self, *args: Any, **kwargs: Any) -> Put:
        return Put(*args, **kwargs)

    def get_fileget(self, *args: Any, **kwargs: Any) -> Get:
        return Get(*args, **kwargs)

    def __repr__(self) -> str:
        return "<frontend_factory: ssh and scp>"


frontend_factory = _SshScpFactory()


def _inside_grid5000() -> bool:
    try:
        return 'grid5000.fr' in socket.getfqdn()
    except OSError:
        return False


class G5kAutoPortForwarder:
    """Reach ``port`` of ``host`` on ``site`` from wherever the script runs.

    Inside Grid5000 the node is reachable as is, and entering gives back
    ``(host, port)``. Outside, a `PortForwarder` through the site's frontend
    (with `default_frontend_connection_params`) is opened, and entering
    gives ``("127.0.0.1", local port)`` once the forward works; leaving
    closes it.

    >>> with G5kAutoPortForwarder('nancy', 'griffon-1', 8080) as (address, port):  # doctest: +SKIP
    ...     urlopen("http://%s:%d/" % (address, port)).read()
    """

    def __init__(self, site: str, host: HostLike, port: int) -> None:
        self.site = site
        self.host = host
        self.port = port
        self.port_forwarder: Optional[PortForwarder] = None

    def __enter__(self) -> Tuple[str, int]:
        if _inside_grid5000():
            return _address(self.host), self.port
        self.port_forwarder = PortForwarder(
            get_frontend_host(self.site), self.host, self.port,
            connection_params=make_connection_params(default_frontend_connection_params))
        self.port_forwarder.__enter__()
        return "127.0.0.1", self.port_forwarder.local_port

    def __exit__(self, *exc_info: Any) -> bool:
        if self.port_forwarder is not None:
            self.port_forwarder.__exit__(*exc_info)
            self.port_forwarder = None
        return False


# ---- KaVLAN ---------------------------------------------------------------------------

def get_kavlan_host_name(host: HostLike, vlanid: Any) -> str:
    """The name of ``host`` once it is in KaVLAN ``vlanid``: ``-kavlan-N``
    after its short name, domain kept.

    >>> get_kavlan_host_name('griffon-1.nancy.grid5000.fr', 4)
    'griffon-1-kavlan-4.nancy.grid5000.fr'
    """
    name, dot, domain = _address(host).partition('.')
    return '%s-kavlan-%s%s%s' % (name, vlanid, dot, domain)


def get_ipv4_range(network: Sequence[int], mask_size: int) -> List[Tuple[int, int, int, int]]:
    """Every address of the IPv4 network that contains ``network`` (4 ints)
    with a ``mask_size`` bits mask, network and broadcast addresses
    included, each as 4 ints.

    >>> get_ipv4_range((10, 0, 0, 5), 30)
    [(10, 0, 0, 4), (10, 0, 0, 5), (10, 0, 0, 6), (10, 0, 0, 7)]
    """
    address = '.'.join(str(int(byte)) for byte in network)
    subnet = ipaddress.IPv4Network('%s/%d' % (address, int(mask_size)), strict=False)
    first, last = int(subnet.network_address), int(subnet.broadcast_address)
    return [tuple((value >> shift) & 0xff for shift in (24, 16, 8, 0))  # type: ignore[misc]
            for value in range(first, last + 1)]


def get_mac_addresses(n: int) -> List[str]:
    """``n`` distinct random MAC addresses ``00:20:4e:xx:xx:xx``.

    >>> len(set(get_mac_addresses(100)))
    100
    """
    suffixes = random.sample(range(1 << 24), int(n))
    return [':'.join('%02x' % byte for byte in
                     _MAC_PREFIX + ((suffix >> 16) & 0xff, (suffix >> 8) & 0xff, suffix & 0xff))
            for suffix in suffixes]


def _first_free_third_byte(kavlan: int) -> int:
    if kavlan < 8:
        return (kavlan - 4) * 64 + 2
    if kavlan < 10:
        return (kavlan - 8) * 64 + 2
    return 216


def get_kavlan_ip_mac(kavlan: int, site: str) -> List[Tuple[str, str]]:
    """``(ip, mac)`` pairs free for virtual machines in KaVLAN ``kavlan`` of
    ``site`` (see the module's docstring for the address plan); the MACs
    are random, distinct.

    >>> get_kavlan_ip_mac(4, 'nancy')[0]                     # doctest: +SKIP
    ('10.16.2.1', '00:20:4e:5a:01:c3')
    """
    network, mask_size = get_kavlan_network(kavlan, site)
    if network is None:
        raise G5kValueError('site %r has no KaVLAN %r in the Grid5000 API' % (site, kavlan))
    lowest = _first_free_third_byte(int(kavlan))
    ips = ['.'.join(str(byte) for byte in address)
           for address in get_ipv4_range([int(b) for b in network.split('.')], int(mask_size))
           if address[3] not in (0, 254, 255) and address[2] >= lowest]
    return list(zip(ips, get_mac_addresses(len(ips))))


# ---- host lists ------------------------------------------------------------------------

def hosts_list(hosts: Iterable[HostLike], separator: str = ' ', site: bool = False) -> str:
    """The hosts' short names (``site=True``: ``name.site``), sorted, joined
    with ``separator``, each styled as a host for logs.

    >>> hosts_list(['b-2.nancy.grid5000.fr', 'a-1.rennes.grid5000.fr'], ', ')
    'a-1, b-2'
    """
    addresses = sorted(_address(host) for host in hosts)
    parts = [address.split('.') for address in addresses]
    return separator.join(style.host('.'.join(labels[:2]) if site else labels[0])
                          for labels in parts)


def get_fastest_host(hosts: Iterable[HostLike]) -> str:
    """The address of the host whose cluster has the most flops
    (``performance.node_flops`` in the API); the first one on a tie.

    >>> get_fastest_host(['griffon-1', 'paravance-2'])      # doctest: +SKIP
    'paravance-2'
    """
    fastest, best = None, None
    flops_of_cluster: dict = {}
    for host in hosts:
        cluster = get_host_cluster(host)
        if cluster not in flops_of_cluster:
            flops_of_cluster[cluster] = get_host_attributes(host)['performance']['node_flops']
        if best is None or flops_of_cluster[cluster] > best:
            fastest, best = _address(host), flops_of_cluster[cluster]
    if fastest is None:
        raise G5kValueError('get_fastest_host needs at least one host')
    return fastest


# execo 2.x names this module served (see execo_g5k.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES  # noqa: E402
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)
__dir__ = legacy_dir(__name__, globals(), G5K_LEGACY_MODULES)
