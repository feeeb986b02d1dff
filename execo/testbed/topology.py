"""The shape of an emulated test bed: sites of hosts, their links, a backbone.

A topology is a small dict (or the same as a JSON file)::

    {"sites": {"rennes": {"hosts": 4, "link": {"rate": "1gbit"}},
               "nancy": {"hosts": 4, "link": {"rate": "1gbit", "delay": "1ms"}}},
     "backbone": {"rate": "100mbit", "delay": "5ms"},
     "frontend": {"site": "rennes", "link": {"rate": "200mbit"}}}

Hosts are named ``node-1``, ``node-2``... across the sites in order (or
listed by name: ``"hosts": ["a", "b"]``), as on the loopback bed, so
scripts do not change. Every host has one link to its site's switch; the
frontend (where the script's ssh, scp and taktuk connect from) has one
too; sites are joined through a backbone switch, one link per site. A
link's ``rate`` is the bandwidth of each direction (tc units: ``kbit``,
``mbit``, ``gbit``), ``delay`` the one-way latency (``ms``, ``us``, ``s``),
``loss`` the share of packets dropped in each direction (percent). A link
with none of them is not limited.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = ["LinkSpec", "Site", "Topology", "TopologyError"]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|tbit)?\s*$", re.I)
_RATE_FACTOR = {None: 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|ms|us)?\s*$", re.I)
_DELAY_FACTOR = {None: 1e-3, "s": 1.0, "ms": 1e-3, "us": 1e-6}
_MAX_HOSTS_PER_SITE = 250
_MAX_SITES = 250


class TopologyError(ValueError):
    """A topology that cannot be built, and why."""


def _rate_bits(value: Any, where: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bits = float(value)
    else:
        match = _RATE.match(str(value))
        if match is None:
            raise TopologyError("%s: rate %r is not a number of bit/s such as '100mbit'"
                                % (where, value))
        bits = float(match.group(1)) * _RATE_FACTOR[(match.group(2) or "").lower() or None]
    if bits < 8000:
        raise TopologyError("%s: rate %r is below 8kbit" % (where, value))
    return int(bits)


def _delay_seconds(value: Any, where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) * 1e-3  # a bare number is in ms, as tc would read it
    else:
        match = _DELAY.match(str(value))
        if match is None:
            raise TopologyError("%s: delay %r is not a duration such as '5ms'" % (where, value))
        seconds = float(match.group(1)) * _DELAY_FACTOR[(match.group(2) or "").lower() or None]
    if seconds > 10:
        raise TopologyError("%s: delay %r is over 10 s" % (where, value))
    return seconds


@dataclass(frozen=True)
class LinkSpec:
    """A link's limits: ``rate`` in bit/s (None: unlimited), one-way
    ``delay`` in seconds, ``loss`` in percent of packets, each direction."""

    rate: Optional[int] = None
    delay: float = 0.0
    loss: float = 0.0

    @classmethod
    def parse(cls, spec: Union[None, "LinkSpec", Mapping[str, Any]], where: str) -> "LinkSpec":
        if spec is None:
            return cls()
        if isinstance(spec, LinkSpec):
            return spec
        unknown = set(spec) - {"rate", "delay", "loss"}
        if unknown:
            raise TopologyError("%s: unknown link setting(s) %s (rate, delay, loss)"
                                % (where, ", ".join(sorted(unknown))))
        loss = float(spec.get("loss") or 0)
        if not 0 <= loss <= 100:
            raise TopologyError("%s: loss %r is not a percentage" % (where, spec.get("loss")))
        return cls(_rate_bits(spec.get("rate"), where), _delay_seconds(spec.get("delay"), where),
                   loss)

    def changed(self, **changes: Any) -> "LinkSpec":
        """A copy with some settings changed (same units as `parse`)."""
        parsed = LinkSpec.parse({key: value for key, value in changes.items()}, "link")
        return replace(self, **{key: getattr(parsed, key) for key in changes})


@dataclass
class Site:
    name: str
    hosts: List[str]
    link: LinkSpec = field(default_factory=LinkSpec)


@dataclass
class Topology:
    """Sites (in order), the backbone joining them, the frontend's link
    and the site it is on. Build one with `from_dict`, `from_file` or
    `simple`."""

    sites: List[Site]
    backbone: LinkSpec = field(default_factory=LinkSpec)
    frontend_site: str = ""
    frontend_link: LinkSpec = field(default_factory=LinkSpec)

    @classmethod
    def simple(cls, num_hosts: int = 10, num_sites: int = 1,
               extra_names: Any = (), **host_link: Any) -> "Topology":
        """``num_hosts`` hosts spread evenly over ``num_sites`` sites named
        ``site-1``...; ``host_link`` (rate, delay, loss) for every host link;
        ``extra_names`` become more hosts of the first site."""
        if num_sites < 1 or num_hosts < num_sites:
            raise TopologyError("need at least one host per site (%d hosts, %d sites)"
                                % (num_hosts, num_sites))
        counts = [num_hosts // num_sites + (1 if i < num_hosts % num_sites else 0)
                  for i in range(num_sites)]
        sites = {"site-%d" % (i + 1): {"hosts": count, "link": host_link}
                 for i, count in enumerate(counts)}
        return cls.from_dict({"sites": sites, "extra_names": list(extra_names)})

    @classmethod
    def from_file(cls, path: str) -> "Topology":
        with open(path) as topology_file:
            try:
                data = json.load(topology_file)
            except ValueError as error:
                raise TopologyError("%s is not JSON: %s" % (path, error)) from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Topology":
        unknown = set(data) - {"sites", "backbone", "frontend", "extra_names"}
        if unknown:
            raise TopologyError("unknown topology key(s) %s (sites, backbone, frontend, "
                                "extra_names)" % ", ".join(sorted(unknown)))
        site_specs = data.get("sites")
        if not site_specs or not isinstance(site_specs, Mapping):
            raise TopologyError("a topology needs 'sites': {name: {'hosts': N or [names]}}")
        if len(site_specs) > _MAX_SITES:
            raise TopologyError("at most %d sites" % _MAX_SITES)
        sites: List[Site] = []
        numbered = 0
        seen: Dict[str, str] = {}
        for name, spec in site_specs.items():
            where = "site %r" % name
            if not isinstance(spec, Mapping) or "hosts" not in spec:
                raise TopologyError("%s: needs 'hosts' (a count or a list of names)" % where)
            if set(spec) - {"hosts", "link"}:
                raise TopologyError("%s: unknown key(s) %s (hosts, link)"
                                    % (where, ", ".join(sorted(set(spec) - {"hosts", "link"}))))
            hosts = spec["hosts"]
            if isinstance(hosts, int) and not isinstance(hosts, bool):
                names = ["node-%d" % (numbered + i + 1) for i in range(hosts)]
                numbered += hosts
            elif isinstance(hosts, (list, tuple)) and all(isinstance(h, str) for h in hosts):
                names = list(hosts)
            else:
                raise TopologyError("%s: 'hosts' must be a count or a list of names" % where)
            sites.append(Site(str(name), names, LinkSpec.parse(spec.get("link"), where)))
        sites[0].hosts += [h for h in data.get("extra_names", ()) if h not in sites[0].hosts]
        for site in sites:
            if not site.hosts:
                raise TopologyError("site %r has no host" % site.name)
            if len(site.hosts) > _MAX_HOSTS_PER_SITE:
                raise TopologyError("site %r: at most %d hosts a site"
                                    % (site.name, _MAX_HOSTS_PER_SITE))
            for host in site.hosts:
                if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", host):
                    raise TopologyError("host name %r: letters, digits, '.', '_', '-' only"
                                        % host)
                if host in seen:
                    raise TopologyError("host %r is in sites %r and %r"
                                        % (host, seen[host], site.name))
                seen[host] = site.name
        frontend = data.get("frontend") or {}
        frontend_site = frontend.get("site", sites[0].name)
        if frontend_site not in [site.name for site in sites]:
            raise TopologyError("frontend: no site %r" % frontend_site)
        return cls(sites, LinkSpec.parse(data.get("backbone"), "backbone"), frontend_site,
                   LinkSpec.parse(frontend.get("link"), "frontend"))

    @property
    def hosts(self) -> List[str]:
        return [host for site in self.sites for host in site.hosts]

    def site_of(self, host: str) -> Site:
        for site in self.sites:
            if host in site.hosts:
                return site
        raise KeyError(host)

    def site_named(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    def has_delay(self) -> bool:
        return (self.backbone.delay > 0 or self.frontend_link.delay > 0
                or any(site.link.delay > 0 for site in self.sites))
