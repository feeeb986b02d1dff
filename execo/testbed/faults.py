"""Faults of an emulated test bed, injected while a script runs: partitions,
frozen hosts, degraded links. Each changes the kernel's state of the bed
(nft rules, tc qdiscs, stopped processes) or the latency relay's, and is
recorded in ``events``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from execo.log import logger
import execo.testbed.netns as netns
from execo.testbed.procs import signal_pids
from execo.testbed.sshd import READY_TIMEOUT
from execo.testbed.topology import LinkSpec

__all__ = ["FaultInjection", "Link", "FRONTEND"]

FRONTEND = "frontend"


@dataclass
class Link:
    """A veth pair: ``dev_a`` in namespace ``ns_a``, ``dev_b`` in ``ns_b``."""

    ns_a: str
    dev_a: str
    ns_b: str
    dev_b: str
    spec: LinkSpec
    original: LinkSpec
    cut: bool = False



class FaultInjection:
    """The fault methods of `EmulatedTestbed` (a mixin: the bed owns the
    links, namespaces and relay these act on)."""

    _links: Dict[str, Link]
    _lock: threading.RLock
    _frozen: Dict[str, List[int]]
    _relay: Any
    namespaces: Dict[str, str]
    sites: Dict[str, List[str]]
    events: List[Tuple[float, str, str]]

    def _apply_filters(self, links: Any, initial: bool = False) -> None:
        raise NotImplementedError

    def _delay_message(self) -> Dict[str, Any]:
        raise NotImplementedError

    def _targets(self, target: str) -> List[str]:
        if target in self._links:
            return [target]
        raise KeyError("%r is no host, site or 'frontend' of this bed" % target)

    def _record(self, what: str, target: str) -> None:
        self.events.append((time.time(), what, target))
        logger.info("test bed: %s %s", what, target)

    def partition(self, target: str) -> "FaultInjection":
        """Cut ``target`` off: a host (its link), a site (its uplink: the
        site's hosts still reach each other, nothing else) or 'frontend'.
        Packets are dropped silently both ways, as with a pulled cable:
        connections hang until a keepalive or a timeout ends them."""
        with self._lock:
            link = self._links[self._targets(target)[0]]
            link.cut = True
            self._apply_filters([link])
            self._record("partition", target)
        return self

    def heal(self, target: Optional[str] = None) -> "FaultInjection":
        """Undo `partition` of ``target`` (None: of everything)."""
        with self._lock:
            keys = list(self._links) if target is None else self._targets(target)
            links = [self._links[key] for key in keys if self._links[key].cut]
            for link in links:
                link.cut = False
            self._apply_filters(links)
            self._record("heal", target or "all")
        return self

    def freeze(self, target: str) -> "FaultInjection":
        """SIGSTOP every process of a host (or of each host of a site): its
        kernel still answers TCP, nothing else does, as with a hung node."""
        with self._lock:
            for host in self._hosts_of(target):
                pids = netns.netns_pids(self.namespaces[host])
                signal_pids(pids, signal.SIGSTOP)
                self._frozen.setdefault(host, []).extend(pids)
            self._record("freeze", target)
        return self

    def thaw(self, target: Optional[str] = None) -> "FaultInjection":
        """SIGCONT what `freeze` stopped on ``target`` (None: everywhere)."""
        with self._lock:
            hosts = list(self._frozen) if target is None else self._hosts_of(target)
            for host in hosts:
                pids = set(self._frozen.pop(host, []))
                pids.update(netns.netns_pids(self.namespaces[host]))
                signal_pids(sorted(pids), signal.SIGCONT)
            self._record("thaw", target or "all")
        return self

    def _hosts_of(self, target: str) -> List[str]:
        if target in self.sites:
            return list(self.sites[target])
        if target in self.namespaces:
            return [target]
        raise KeyError("%r is no host or site of this bed" % target)

    def degrade(self, target: str, rate: Any = None, delay: Any = None,
                loss: Any = None) -> "FaultInjection":
        """Change the limits of ``target``'s link (a host, a site's uplink,
        or 'frontend'); only what is given changes; `restore` undoes it.
        A delay needs the relay, started with the bed when its topology has
        a delay or ``relayed_ports`` were given."""
        changes = {key: value for key, value in (("rate", rate), ("delay", delay),
                                                  ("loss", loss)) if value is not None}
        with self._lock:
            key = self._targets(target)[0]
            if "delay" in changes and self._relay is None:
                raise ValueError("this bed has no latency relay: start it with a delay in "
                                 "its topology (even 0) or with relayed_ports")
            self._set_spec(key, self._links[key].spec.changed(**changes))
            self._record("degrade", "%s %s" % (target, changes))
        return self

    def restore(self, target: Optional[str] = None) -> "FaultInjection":
        """Give ``target``'s link (None: every link) its original limits."""
        with self._lock:
            keys = list(self._links) if target is None else self._targets(target)
            for key in keys:
                if self._links[key].spec != self._links[key].original:
                    self._set_spec(key, self._links[key].original)
            self._record("restore", target or "all")
        return self

    def _set_spec(self, key: str, spec: LinkSpec) -> None:
        link = self._links[key]
        old, link.spec = link.spec, spec
        if spec.rate != old.rate:
            for namespace, device in ((link.ns_a, link.dev_a), (link.ns_b, link.dev_b)):
                commands = netns.shaping_commands(device, spec.rate)
                netns.tc_batch(commands if old.rate is not None else commands[1:], namespace)
        if spec.loss != old.loss:
            self._apply_filters([link])
        if spec.delay != old.delay and self._relay is not None:
            self._relay.write(json.dumps(self._delay_message()) + "\n")
            self._relay.expect("updated\n", timeout=READY_TIMEOUT)

    def link_spec(self, target: str) -> LinkSpec:
        """The current limits of ``target``'s link."""
        return self._links[self._targets(target)[0]].spec
