"""The emulated test bed: a small cluster of network namespaces on this machine.

Each host is a network namespace of its own, with its own sshd and its
own host name; a veth link joins it to its site's switch (a namespace
holding a Linux bridge); each site's switch has an uplink to a backbone
switch, where the frontend (the namespace from which this machine's ssh,
scp and taktuk reach the bed) is attached too::

    frontend ── backbone ──┬── site-1 switch ── node-1, node-2, ...
                           └── site-2 switch ── node-6, node-7, ...

Addresses come from 198.18.0.0/15 (set aside for benchmarks, never routed)
and exist only inside the bed's namespaces: this machine's own namespace
gets none and no route to them. The ssh client config reaches a host
through a ProxyCommand that enters the frontend's namespace (from inside
the bed, a host reaches another one directly), so taktuk's and
ChainPut's host-to-host hops cross the emulated links too.

Links are limited by the kernel: ``tbf`` shapes what each end sends,
``nft`` drops a share of what each end receives (loss) or all of it (a
partition). This kernel has no ``netem``: latency is added by a relay
(`execo.testbed.relay`) in front of each host's sshd, so it applies to
ssh connections (and to the ``relayed_ports`` asked for), not to other
traffic between hosts.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import pwd
import shutil
import signal
import sys
import tempfile
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from execo.log import logger
from execo.process import Process
import execo.testbed.netns as netns
from execo.testbed.base import TestbedBase, connection_params_for, ssh_host_entry
from execo.testbed.faults import FRONTEND, FaultInjection, Link
from execo.testbed.procs import descendants, signal_pids
from execo.testbed.sshd import (READY_TIMEOUT, SSHD, await_sshd, generate_keys, launch_sshd,
                                sshd_config_lines)
from execo.testbed.topology import Topology

__all__ = ["EmulatedTestbed", "TestbedUnavailable", "emulation_unavailable_reason"]

_FRONTEND_ADDRESS = "198.18.0.1"
_PREFIX_LENGTH = 15
_TOOLS = (("ip", "iproute2"), ("tc", "iproute2"), ("nft", "nftables"), ("nc", "netcat-openbsd"),
          ("nsenter", "util-linux"), ("unshare", "util-linux"))
_bed_numbers = itertools.count(1)


class TestbedUnavailable(RuntimeError):
    """This machine cannot run an emulated bed (no root, a tool missing)."""

    __test__ = False


def emulation_unavailable_reason() -> Optional[str]:
    """Why an `EmulatedTestbed` cannot start here, or None if it can."""
    if os.geteuid() != 0:
        return ("an emulated test bed needs root (it creates network namespaces); "
                "without it, use LoopbackTestbed, which needs no privilege")
    if not os.path.exists(SSHD):
        return "%s not found: install openssh-server" % SSHD
    for tool, package in _TOOLS:
        if shutil.which(tool) is None:
            return "%s not found: install the Debian package %s" % (tool, package)
    return None


class EmulatedTestbed(FaultInjection, TestbedBase):
    """A context manager owning an emulated cluster: namespaces, links,
    sshds, the latency relay, its files. Needs root.

    :param topology: a `Topology`, a dict (see `execo.testbed.topology`) or
      the path of a JSON file; if None, ``num_hosts`` hosts spread over
      ``num_sites`` sites, each host link limited by ``rate``, ``delay``,
      ``loss``.
    :param extra_names: more hosts, on the first site (the tutorial's
      ``host1``, ``host2``).
    :param relayed_ports: ports, besides ssh's, that the latency relay
      serves on every host (a service listening on 127.0.0.1:port inside a
      host is then reached, delayed, at the host's address).
    :param ssh_options: ssh options (``{'ServerAliveInterval': 1}``) placed
      first on ssh's, scp's and taktuk's command lines by
      ``connection_params``, so that they win over execo's defaults.
    :param workdir: where keys, configs and logs go (default: a new
      temporary directory, removed on exit).
    :param relay: serve ssh through the latency relay (default: when some
      link has a delay or ``relayed_ports`` are given); True to be able to
      `degrade` a delay later, or to compare like with like.
    :param stock_limits: run every sshd with Debian's stock ``MaxStartups``
      and ``MaxSessions`` (`execo.testbed.sshd.STOCK_LIMITS`) instead of
      raised ones: what reliability tests and benchmarks meet in the field.
    :param gateway: put a gateway in front of the hosts, as Grid5000 from
      outside: the frontend runs an sshd (with ``stock_limits``, as a real
      access machine's: the limits every connection meets) reached as
      ``frontend``, and this machine reaches the hosts only through it
      (``connection_params`` then hold ``'gateway': 'frontend'``; without
      it, ssh to a host is refused by the bed's ProxyCommand).

    Attributes once started: ``hosts``, ``sites`` (site name → hosts),
    ``addresses`` (host → address), ``namespaces`` (host → namespace name),
    ``frontend_namespace``, ``ssh_config``, ``keyfile``, ``user``,
    ``connection_params`` and ``events`` (the faults injected, with times).
    """

    def __init__(self, topology: Union[None, Topology, Mapping[str, Any], str] = None,
                 num_hosts: int = 10, num_sites: int = 1, extra_names: Sequence[str] = (),
                 rate: Any = None, delay: Any = None, loss: Any = None,
                 relayed_ports: Sequence[int] = (), ssh_options: Optional[Mapping[str, Any]] = None,
                 workdir: Optional[str] = None, client_options: Optional[Dict[str, str]] = None,
                 source_bashrc: bool = False, relay: Optional[bool] = None,
                 stock_limits: bool = False, gateway: bool = False) -> None:
        super().__init__()
        if topology is None:
            link = {key: value for key, value in (("rate", rate), ("delay", delay),
                                                   ("loss", loss)) if value is not None}
            topology = Topology.simple(num_hosts, num_sites, extra_names, **link)
        elif isinstance(topology, str):
            topology = Topology.from_file(topology)
        elif not isinstance(topology, Topology):
            topology = Topology.from_dict(topology)
        self.topology = topology
        names = set(topology.hosts) | {FRONTEND}
        clash = [site.name for site in topology.sites if site.name in names]
        if clash:
            raise ValueError("site name(s) %s are also host names or 'frontend'" % clash)
        self.hosts: List[str] = topology.hosts
        self.sites: Dict[str, List[str]] = {site.name: list(site.hosts)
                                            for site in topology.sites}
        self.relayed_ports = tuple(int(port) for port in relayed_ports)
        self.use_relay = (topology.has_delay() or bool(self.relayed_ports)) if relay is None \
            else relay
        if self.use_relay is False and topology.has_delay():
            raise ValueError("a topology with a delay needs the relay (relay=False given)")
        self.ssh_options = dict(ssh_options or {})
        self.client_options = dict(client_options or {})
        self.source_bashrc = source_bashrc
        self.stock_limits = stock_limits
        self.gateway: Optional[str] = FRONTEND if gateway else None
        self._given_workdir = workdir
        self.workdir: Optional[str] = None
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.keyfile: Optional[str] = None
        self.ssh_config: Optional[str] = None
        self.addresses: Dict[str, str] = {}
        self.namespaces: Dict[str, str] = {}
        self.frontend_namespace = ""
        self.events: List[Tuple[float, str, str]] = []
        self._prefix = ""
        self._switches: Dict[str, str] = {}
        self._core = ""
        self._links: Dict[str, Link] = {}
        self._sshds: Dict[str, Process] = {}
        self._relay: Optional[Process] = None
        self._frozen: Dict[str, List[int]] = {}
        self._lock = threading.RLock()
        self._started = False

    # ---- lifecycle ----------------------------------------------------------

    def start(self) -> "EmulatedTestbed":
        reason = emulation_unavailable_reason()
        if reason is not None:
            raise TestbedUnavailable(reason)
        cleaned = netns.clean_stale_beds()
        if cleaned:
            logger.warning("removed the emulated test bed(s) left by gone process(es) %s",
                           ", ".join(map(str, cleaned)))
        self._prefix = "execo-%d-%d-" % (os.getpid(), next(_bed_numbers))
        try:
            self._make_workdir()
            netns.claim_owner(self.workdir)
            self._started = True
            atexit.register(self.stop)
            self._build_network()
            self._start_sshds()
            if self.use_relay:
                self._start_relay()
            self._write_client_config()
        except BaseException:
            self.stop()
            raise
        self.connection_params = self._connection_params()
        return self

    def stop(self) -> None:
        """Kill every process of the bed, remove its namespaces (and with
        them its links and qdiscs) and its files. Safe to call twice."""
        self.uninstall()
        with self._lock:
            if not self._started:
                return
            self._started = False
        atexit.unregister(self.stop)
        if self._relay is not None:
            self._relay.close_stdin()
            self._relay.kill(signal.SIGKILL).wait(READY_TIMEOUT)
            self._relay = None
        names = netns.bed_namespaces()
        mine = [name for name in names if name.startswith(self._prefix)]
        netns.kill_netns_processes(mine)
        for sshd in self._sshds.values():
            sshd.wait(READY_TIMEOUT)
        self._sshds.clear()
        netns.delete_namespaces(mine)
        if not netns.bed_namespaces(os.getpid()):
            netns.release_owner()
        if self.workdir is not None and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def _make_workdir(self) -> None:
        if self._given_workdir is not None:
            os.makedirs(self._given_workdir, exist_ok=True)
            self.workdir = os.path.abspath(self._given_workdir)
        else:
            self.workdir = tempfile.mkdtemp(prefix="execo-netbed-%d-" % os.getpid())

    # ---- network ------------------------------------------------------------

    def _build_network(self) -> None:
        prefix = self._prefix
        self.frontend_namespace = prefix + "fe"
        self._core = prefix + "core"
        commands = ["netns add %s" % self.frontend_namespace, "netns add %s" % self._core]
        for index, site in enumerate(self.topology.sites):
            self._switches[site.name] = "%ssw%d" % (prefix, index + 1)
            commands.append("netns add %s" % self._switches[site.name])
        for number, host in enumerate(self.hosts, 1):
            self.namespaces[host] = "%sh%d" % (prefix, number)
            commands.append("netns add %s" % self.namespaces[host])
        # veths are created straight inside the namespaces: none ever
        # exists in this machine's own
        self._links[FRONTEND] = Link(self.frontend_namespace, "eth0", self._core, "fe",
                                       self.topology.frontend_link,
                                       self.topology.frontend_link)
        for index, site in enumerate(self.topology.sites):
            switch = self._switches[site.name]
            self._links[site.name] = Link(switch, "uplink", self._core, "s%d" % (index + 1),
                                           self.topology.backbone, self.topology.backbone)
            for host in site.hosts:
                self._links[host] = Link(self.namespaces[host], "eth0", switch,
                                          "p%s" % self.namespaces[host][len(prefix) + 1:],
                                          site.link, site.link)
        for link in self._links.values():
            commands.append("link add %s netns %s type veth peer name %s netns %s"
                            % (link.dev_a, link.ns_a, link.dev_b, link.ns_b))
        netns.ip_batch(commands)
        self._configure_switch(self._core, [link.dev_b for link in self._links.values()
                                            if link.ns_b == self._core])
        for site in self.topology.sites:
            switch = self._switches[site.name]
            self._configure_switch(switch, ["uplink"] + [self._links[host].dev_b
                                                         for host in site.hosts])
        self._configure_end(self.frontend_namespace, _FRONTEND_ADDRESS)
        for index, site in enumerate(self.topology.sites):
            for position, host in enumerate(site.hosts):
                self.addresses[host] = "198.18.%d.%d" % (index + 1, position + 1)
                self._configure_end(self.namespaces[host], self.addresses[host])
        for key in self._links:
            self._apply_shaping(key)
        self._apply_filters(self._links.values(), initial=True)

    @staticmethod
    def _configure_switch(namespace: str, ports: Iterable[str]) -> None:
        commands = ["link set lo up", "link add br0 type bridge", "link set br0 up"]
        for port in ports:
            commands += ["link set %s master br0" % port, "link set %s up" % port]
        netns.ip_batch(commands, namespace)

    @staticmethod
    def _configure_end(namespace: str, address: str) -> None:
        netns.ip_batch(["link set lo up",
                        "addr add %s/%d dev eth0" % (address, _PREFIX_LENGTH),
                        "link set eth0 up"], namespace)

    def _apply_shaping(self, key: str) -> None:
        """At build time: the link has no qdisc of ours yet."""
        link = self._links[key]
        if link.spec.rate is not None:
            for namespace, device in ((link.ns_a, link.dev_a), (link.ns_b, link.dev_b)):
                netns.tc_batch(netns.shaping_commands(device, link.spec.rate)[1:], namespace)

    def _apply_filters(self, links: Iterable[Link], initial: bool = False) -> None:
        touched = {namespace for link in links for namespace in (link.ns_a, link.ns_b)}
        for namespace in sorted(touched):
            devices: Dict[str, Tuple[bool, float]] = {}
            for link in self._links.values():
                for end_ns, device in ((link.ns_a, link.dev_a), (link.ns_b, link.dev_b)):
                    if end_ns == namespace and (link.cut or link.spec.loss > 0):
                        devices[device] = (link.cut, link.spec.loss)
            if devices or not initial:
                netns.nft_apply(netns.filter_table(devices), namespace)

    # ---- sshds and the relay ------------------------------------------------

    def _start_sshds(self) -> None:
        host_key, self.keyfile = generate_keys(self.workdir)
        marker = "EXECO_TESTBED=%s" % self.workdir.replace(" ", "_")
        set_env = [marker] + ([] if self.source_bashrc else ["SHLVL=1"])
        sshd_config = os.path.join(self.workdir, "sshd_config")
        with open(sshd_config, "w") as config_file:
            config_file.write("\n".join(sshd_config_lines([], host_key, self.keyfile, set_env,
                                                          stock_limits=self.stock_limits))
                              + "\n")
        gateway_config = os.path.join(self.workdir, "sshd_config.gateway")
        with open(gateway_config, "w") as config_file:
            config_file.write("\n".join(sshd_config_lines([], host_key, self.keyfile, set_env,
                                                          stock_limits=self.stock_limits))
                              + "\n")
        # what the service would have made at boot; sshd run by root wants it
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        launched = {}
        servers = [(host, self.namespaces[host], sshd_config,
                    "127.0.0.1:22" if self.use_relay else "%s:22" % self.addresses[host])
                   for host in self.hosts]
        if self.gateway is not None:
            servers.append((FRONTEND, self.frontend_namespace, gateway_config,
                            "%s:22" % _FRONTEND_ADDRESS))
        for host, namespace, config, listen in servers:
            log = os.path.join(self.workdir, "sshd-%s.log" % host)
            # a UTS namespace of its own: `hostname` on the host says its name
            argv = ["ip", "netns", "exec", namespace, "unshare", "--uts", "sh", "-c",
                    'hostname "$0" && exec "$1" -D -e -f "$2" -o "ListenAddress=$3"',
                    host, SSHD, config, listen]
            launched[host] = launch_sshd(argv, log, name="sshd of %s" % host) + (log,)
        errors = []
        for host, (sshd, watcher, log) in launched.items():
            error = await_sshd(sshd, watcher, log)
            if error is None:
                self._sshds[host] = sshd
            else:
                errors.append("%s: %s" % (host, error))
        if errors:
            raise netns.NetbedError("sshd did not start on %d host(s): %s"
                                    % (len(errors), "; ".join(errors[:3])))

    def _delay_message(self) -> Dict[str, Any]:
        links = {_FRONTEND_ADDRESS: [-1, self._links[FRONTEND].spec.delay]}
        for index, site in enumerate(self.topology.sites):
            for host in site.hosts:
                links[self.addresses[host]] = [index, self._links[host].spec.delay]
        uplinks = {str(index): self._links[site.name].spec.delay
                   for index, site in enumerate(self.topology.sites)}
        return {"links": links, "uplinks": uplinks}

    def _start_relay(self) -> None:
        import execo.testbed.relay as relay
        setup = self._delay_message()
        setup["listeners"] = [{"netns": "%s/%s" % (netns.NETNS_DIR, self.namespaces[host]),
                               "address": self.addresses[host],
                               "ports": [22] + list(self.relayed_ports)}
                              for host in self.hosts]
        self._relay = Process([sys.executable, relay.__file__], name="latency relay",
                              nolog_exit_code=True, nolog_error=True,
                              default_stdout_handler=False, default_stderr_handler=False,
                              stderr_handlers=[os.path.join(self.workdir, "relay.log")])
        self._relay.start()
        self._relay.write(json.dumps(setup) + "\n")
        index, _ = self._relay.expect("ready\n", timeout=READY_TIMEOUT * 2)
        if index is None:
            raise netns.NetbedError("the latency relay did not start: %s"
                                    % self._relay.dump())

    def relay_cpu_seconds(self) -> float:
        """CPU time the latency relay has used (0 without a relay)."""
        if self._relay is None or self._relay.pid is None:
            return 0.0
        try:
            with open("/proc/%d/stat" % self._relay.pid, "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # ---- client side --------------------------------------------------------

    def _write_client_config(self) -> None:
        namespaces = " ".join("%s/%s" % (netns.NETNS_DIR, name)
                              for name in netns.bed_namespaces() if name.startswith(self._prefix))
        outside = os.path.join(self.workdir, "outside")
        with open(outside, "w") as script:
            script.write(_OUTSIDE % {"namespaces": namespaces})
        reach = os.path.join(self.workdir, "reach")
        with open(reach, "w") as script:
            script.write(_REACH % {"netns_dir": netns.NETNS_DIR,
                                   "frontend": self.frontend_namespace})
        refuse = os.path.join(self.workdir, "refuse")
        with open(refuse, "w") as script:
            script.write(_REFUSE)
        for path in (outside, reach, refuse):
            os.chmod(path, 0o755)
        self.ssh_config = os.path.join(self.workdir, "ssh_config")
        names = ",".join(list(self.hosts) + [self.addresses[host] for host in self.hosts])
        # ssh keeps an option's first value: this block comes before the
        # hosts'; with a gateway, only a ProxyCommand given on the command
        # line (execo's 'gateway' param) comes before it
        proxy = "Match host %s exec %s\n    ProxyCommand %s %%h %%p" % (
            names, outside, refuse if self.gateway is not None else reach)
        entries = [ssh_host_entry(host, self.addresses[host], 22, self.user, self.keyfile,
                                  self.client_options) for host in self.hosts]
        if self.gateway is not None:
            options = dict(self.client_options, ProxyCommand="%s %%h %%p" % reach)
            entries.append(ssh_host_entry(FRONTEND, _FRONTEND_ADDRESS, 22, self.user,
                                          self.keyfile, options))
        with open(self.ssh_config, "w") as config_file:
            config_file.write("\n\n".join([proxy] + entries) + "\n")

    def _connection_params(self) -> Dict[str, Any]:
        params: Dict[str, Any] = connection_params_for(self.ssh_config)
        first: Tuple[str, ...] = ()
        for key, value in self.ssh_options.items():
            first += ("-o", "%s=%s" % (key, value))
        for option in params:
            # after -F: ssh's first value of an option wins
            params[option] = params[option][:2] + first + params[option][2:]
        if self.gateway is not None:
            params['gateway'] = self.gateway
        return params

    def sshd_pid(self, target: str) -> int:
        """The pid of the sshd of ``target`` (a host or 'frontend')."""
        return self._sshds[target].pid

    def freeze_sshd(self, target: str) -> None:
        """SIGSTOP the sshd of ``target`` and its sessions: connections made
        meanwhile wait in its listen queue, and meet it together when
        `thaw_sshd` is called (a burst, whatever the machine's load)."""
        pid = self.sshd_pid(target)
        signal_pids([pid], signal.SIGSTOP)  # first: no new session while they are walked
        signal_pids(descendants(pid), signal.SIGSTOP)

    def thaw_sshd(self, target: str) -> None:
        pid = self.sshd_pid(target)
        signal_pids(descendants(pid) + [pid], signal.SIGCONT)

    def netns_command(self, target: str, argv: Sequence[str]) -> List[str]:
        """``argv`` run inside ``target``'s namespace (a host or
        'frontend'): to start a server or a client there by hand."""
        name = self.frontend_namespace if target == FRONTEND else self.namespaces[target]
        return ["ip", "netns", "exec", name] + list(argv)

    def __repr__(self) -> str:
        return "EmulatedTestbed(hosts=%d, sites=%d, ssh_config=%r)" % (
            len(self.hosts), len(self.sites), self.ssh_config)


# From one of the bed's namespaces (a taktuk or ChainPut hop), ssh
# connects to a host by itself, as on a real cluster: no process copies
# the stream, and ssh's ConnectTimeout applies. From anywhere else (this
# machine's own namespace), `_OUTSIDE` says so and ssh's ProxyCommand
# (`_REACH`) enters the frontend's namespace and runs nc there: the bed's
# addresses must never be looked for on this machine's own network. (nc
# -F could hand its socket to ssh instead of copying, but ssh then gives
# the proxy a socket as stdin, and bash, the usual $SHELL that ssh runs it
# with, takes that for a remote login and reads ~/.bashrc: seconds per
# connection where .bashrc is heavy and SHLVL is unset, as under cron.)
_OUTSIDE = """#!/bin/sh
for namespace in %(namespaces)s; do
  [ /proc/self/ns/net -ef "$namespace" ] && exit 1
done
exit 0
"""
# With a gateway, this machine reaches no host but the frontend by itself.
_REFUSE = """#!/bin/sh
echo "$1 is reachable only through the gateway 'frontend'" >&2
exit 1
"""
_REACH = """#!/bin/sh
exec nsenter --net=%(netns_dir)s/%(frontend)s nc "$1" "$2"
"""
