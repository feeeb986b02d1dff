"""Grid5000 host names, taken apart with string rules only.

A node is reachable under several names: ``griffon-12`` on its site,
``griffon-12.nancy.grid5000.fr`` from anywhere, ``griffon-12-eth1`` for a
secondary interface, ``griffon-12-kavlan-4`` once put in a kavlan VLAN,
``griffon-12-ipv6`` for its IPv6 address. Grouping hosts by cluster or site,
or asking the API about a host, needs the one name underneath; these helpers
find it without any network access, so they work offline and are cheap
enough to call in sort keys.

Every function accepts a plain string or anything with an ``address``
attribute (an execo ``Host``), so that a user can pass whatever a job or a
deployment handed back.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Optional, Union

from execo.exception import ExecoTypeError

__all__ = [
    'canonical_host_name',
    'get_host_shortname',
    'g5k_host_get_cluster',
    'get_host_site_from_name',
    'get_host_interface',
    'split_host_name',
]

# cluster-N, then optionally an interface (eth1, ib0, myri0...), a kavlan
# part and an ipv6 part, in the order Grid5000's DNS composes them, then an
# optional domain. Cluster names are letters possibly followed by digits
# (abacus12, grisou, ...); they never contain a hyphen, which is what makes
# the node number unambiguous.
_NODE_NAME = re.compile(
    r'^(?P<cluster>[A-Za-z][A-Za-z0-9]*)-(?P<number>\d+)'
    r'(?:-(?P<interface>(?!kavlan-\d)(?!ipv6(?:[-.]|$))[A-Za-z]+\d+[A-Za-z0-9]*))?'
    r'(?:-kavlan-(?P<vlan>\d+))?'
    r'(?P<ipv6>-ipv6)?'
    r'(?P<domain>\.[^.].*)?$')

HostLike = Union[str, Any]


def _address(host: HostLike) -> str:
    address = getattr(host, 'address', host)
    if not isinstance(address, str):
        raise ExecoTypeError("expected a host name or an object with an 'address'"
                        " attribute, got %r" % (host,))
    return address


def split_host_name(host: HostLike) -> Optional[dict]:
    """The parts of a node name, or None if it is not a Grid5000 node name.

    Keys: ``cluster``, ``number`` (int), ``interface``, ``vlan`` (int),
    ``ipv6`` (bool) and ``domain`` (without its leading dot); absent parts
    are None. Exposed for code that needs more than the canonical name, e.g.
    to rebuild a kavlan name for another VLAN.

    >>> split_host_name('griffon-12-kavlan-4.nancy.grid5000.fr')['vlan']
    4
    """
    match = _NODE_NAME.match(_address(host))
    if not match:
        return None
    parts = match.groupdict()
    return {
        'cluster': parts['cluster'],
        'number': int(parts['number']),
        'interface': parts['interface'],
        'vlan': int(parts['vlan']) if parts['vlan'] else None,
        'ipv6': bool(parts['ipv6']),
        'domain': parts['domain'][1:] if parts['domain'] else None,
    }


def _canonical_address(address: str) -> str:
    match = _NODE_NAME.match(address)
    if not match:
        return address
    return '%s-%s%s' % (match.group('cluster'), match.group('number'),
                        match.group('domain') or '')


def canonical_host_name(host: HostLike) -> HostLike:
    """The node's own name: no interface, kavlan or ipv6 part; domain kept.

    Names that are not Grid5000 node names come back unchanged. Given a
    host object, returns a copy of it with the canonical address, leaving
    the caller's object untouched (it may still be needed to reach the
    node through its kavlan name).

    >>> canonical_host_name('griffon-12-eth1-kavlan-4.nancy.grid5000.fr')
    'griffon-12.nancy.grid5000.fr'
    """
    address = _address(host)
    canonical = _canonical_address(address)
    if isinstance(host, str):
        return canonical
    if canonical == address:
        return host
    clone = copy.copy(host)
    clone.address = canonical
    return clone


def get_host_shortname(host: HostLike) -> str:
    """The canonical name without its domain, as the API and OAR know it.

    >>> get_host_shortname('griffon-12.nancy.grid5000.fr')
    'griffon-12'
    """
    return _canonical_address(_address(host)).partition('.')[0]


def g5k_host_get_cluster(host: HostLike) -> Optional[str]:
    """The cluster a node belongs to, read from its name (None if not a node).

    >>> g5k_host_get_cluster('griffon-12-kavlan-4.nancy.grid5000.fr')
    'griffon'
    """
    parts = split_host_name(host)
    return parts['cluster'] if parts else None


def get_host_interface(host: HostLike) -> Optional[str]:
    """The interface a node name designates (``eth0`` when it names none).

    None for names that are not node names.

    >>> get_host_interface('griffon-12-eth1.nancy.grid5000.fr')
    'eth1'
    """
    parts = split_host_name(host)
    if parts is None:
        return None
    return parts['interface'] or 'eth0'


def get_host_site_from_name(host: HostLike) -> Optional[str]:
    """The site written in a host's domain, or None when the name has none.

    Only trusted for node names and names under ``grid5000.fr``: the first
    label of any other domain (``localdomain``...) is not a site.

    >>> get_host_site_from_name('griffon-12.nancy.grid5000.fr')
    'nancy'
    >>> get_host_site_from_name('griffon-12') is None
    True
    """
    address = _address(host)
    parts = split_host_name(address)
    if parts is not None:
        domain = parts['domain']
    else:
        _, _, domain = address.partition('.')
        if not domain.endswith('grid5000.fr'):
            return None
    if not domain:
        return None
    site = domain.split('.')[0]
    if not site or site == 'grid5000':
        return None
    return site
