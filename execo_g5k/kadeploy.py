"""kadeploy3: installing an OS image on Grid5000 nodes, and the "clever" deploy.

A deployment takes minutes and fails on some nodes now and then, so two
layers are offered. `Kadeployer` is one run of ``kadeploy3``, an `Action`
with one process per site involved (kadeploy3 only deploys the nodes of
its own site), whose output is parsed as it arrives into the hosts
deployed and not deployed. `deploy` is what experiments usually want: it
skips the nodes that already run the environment (a check command through
ssh, far cheaper than a deployment), deploys the others, retries the
failures, and stops as soon as the caller says there are enough nodes.

Failures are data, never exceptions in the caller's flow: an unreachable
frontend, a host whose site is unknown, a node kadeploy3 did not mention
all end up in ``undeployed_hosts`` with a reason in
``undeployed_reasons``. Only a malformed `Deployment` (no environment, or
two) raises, before anything is started. The command line and the report
format are `execo_g5k.deployment`'s.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

from execo.action import Action
from execo.factory import get_remote
from execo.host import HostLike, get_hosts_list
from execo.log import logger, style
from execo.output import ProcessOutputHandler, StreamDispatcher
from execo.process_base import ProcessBase, ProcessLifecycleHandler
from execo.time_utils import format_duration, get_seconds
from execo_g5k.config import g5k_configuration
from execo_g5k.deployment import (Deployment, KadeployReportParser, kadeploy_command,
                                  parse_kadeploy_output)
from execo_g5k.frontend import (frontend_process, get_default_frontend,  # noqa: F401 (2.x paths)
                                get_frontend_host, get_host_frontend_site)
from execo_g5k.hostnames import get_host_shortname, split_host_name
from execo_g5k.kaconsole import KaconsoleProcess, KaconsoleProcessLifecycleHandler
from execo_g5k.utils import get_kavlan_host_name  # noqa: F401 (2.x path)

__all__ = ["Deployment", "FrontendPrefixWrapper", "KaconsoleProcess",
           "KaconsoleProcessLifecycleHandler", "Kadeployer", "deploy", "kadeploy_command",
           "parse_kadeploy_output"]


def _addresses(hosts: Optional[Iterable[HostLike]]) -> List[str]:
    """Unique addresses, in the given order (kadeploy3 knows no users or ports)."""
    return list(dict.fromkeys(h.address for h in get_hosts_list(hosts or ())))


# ---- frontends --------------------------------------------------------------


class _SitePrefixed(ProcessOutputHandler):
    """Hands a user's handler each line prefixed with the site, so that the
    interleaved reports of several frontends stay readable. Any kind of
    handler works (object, path, fd, file): delivery is a `StreamDispatcher`'s."""

    def __init__(self, site: str, handler: Any) -> None:
        super().__init__()
        self.site = site
        self.handler = handler
        self._targets: Dict[Tuple[int, int], StreamDispatcher] = {}

    def _target(self, process: Any, stream: int) -> StreamDispatcher:
        key = (id(process), stream)
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = StreamDispatcher(process, stream, [self.handler], None)
        return target

    def read_line(self, process: Any, stream: int, string: str) -> None:
        self._target(process, stream).feed(("%s: %s\n" % (self.site, string)).encode())

    def read(self, process: Any, stream: int, string: str, eof: bool, error: bool) -> None:
        super().read(process, stream, string, eof, error)
        if eof or error:
            self._target(process, stream).feed(b"", eof=eof, error=error)
            del self._targets[(id(process), stream)]


class FrontendPrefixWrapper(_SitePrefixed):
    """Hands ``handler`` each line prefixed with the ``frontend`` of the
    process that printed it (``"nancy: ..."``), as 2.x scripts wrap their
    handlers of Kadeployer outputs; `Kadeployer` already prefixes the
    handlers it is given, so wrapping is only needed for processes of
    one's own that carry a ``frontend`` attribute."""

    def __init__(self, handler: Any) -> None:
        super().__init__("", handler)

    def read_line(self, process: Any, stream: int, string: str) -> None:
        self.site = getattr(process, 'frontend', None) or getattr(
            getattr(process, 'host', None), 'address', '?')
        super().read_line(process, stream, string)


class _FrontendRun(ProcessOutputHandler, ProcessLifecycleHandler):
    """The bookkeeping of one frontend's kadeploy3 process.

    Parses its stdout (conductor thread) and, when it ends, gives every
    requested host it did not report to ``undeployed_hosts`` with the
    reason, so that deployed + undeployed always covers the request.
    Registered before the action's own end counter: the results are
    complete when ``wait()`` returns.
    """

    def __init__(self, kadeployer: "Kadeployer", site: str, addresses: List[str]) -> None:
        ProcessOutputHandler.__init__(self)
        self.kadeployer = kadeployer
        self.site = site
        self.addresses = addresses
        # kadeploy3 may report a requested "griffon-1" as its FQDN
        self._requested: Dict[str, str] = {}
        for address in addresses:
            self._requested.setdefault(get_host_shortname(address), address)
        for address in addresses:
            self._requested[address] = address
        self._parser = KadeployReportParser()
        # cleared in place on reset: the process shows these very sets
        self.deployed: Set[str] = set()
        self.undeployed: Set[str] = set()
        self.reasons: Dict[str, str] = {}

    def _requested_name(self, reported: str) -> str:
        return self._requested.get(reported) or self._requested.get(
            get_host_shortname(reported), reported)

    def read_line(self, process: Any, stream: int, string: str) -> None:
        event = self._parser.feed(string)
        if event is None:
            return
        ok, reported, reason = event
        host = self._requested_name(reported)
        if ok:
            self.deployed.add(host)
            self.undeployed.discard(host)
            self.reasons.pop(host, None)
        else:
            self.undeployed.add(host)
            self.reasons[host] = reason or "kadeploy3 on %s reported a failure" % (self.site,)

    def end(self, process: ProcessBase) -> None:
        if process.error:
            why = "frontend %s: %s" % (self.site, process.error_reason)
        elif process.timeouted:
            why = "kadeploy3 on %s timed out" % (self.site,)
        else:
            why = "kadeploy3 on %s (exit code %s) did not report it" % (
                self.site, process.exit_code)
        for host in self.addresses:
            if host not in self.deployed and host not in self.undeployed:
                self.undeployed.add(host)
                self.reasons[host] = why
        self.kadeployer._record(self)

    def reset(self, process: Any) -> None:
        self._parser = KadeployReportParser()
        self.deployed.clear()
        self.undeployed.clear()
        self.reasons.clear()


class Kadeployer(Action):
    """One kadeploy3 run: a process per site, on that site's frontend, in parallel.

    >>> k = Kadeployer(Deployment(hosts, env_name="debian12-min")).run()  # doctest: +SKIP
    >>> k.deployed_hosts, k.undeployed_hosts  # doctest: +SKIP
    ({'griffon-1.nancy.grid5000.fr'}, {'griffon-2.nancy.grid5000.fr'})

    A frontend is reached as `execo_g5k.frontend.frontend_process` does:
    ``default_frontend_connection_params`` overridden by
    ``frontend_connection_params``, without a pty (stdout is parsed, stderr
    kept apart), or not through ssh at all when
    ``g5k_configuration['no_ssh_for_local_frontend']`` is set and we are on
    it. Each process carries ``frontend``, ``kadeploy_hosts``,
    ``deployed_hosts`` and ``undeployed_hosts``.

    Attributes, complete once ended: ``deployed_hosts`` and
    ``undeployed_hosts`` (sets of addresses as given in the deployment)
    and ``undeployed_reasons`` (address -> why). ``timeout`` (seconds,
    None: no limit) may be set before starting.

    :param stdout_handlers, stderr_handlers: handlers (objects, paths,
      fds, files) given every line of kadeploy3's output, prefixed with
      ``"<site>: "``.
    """

    def __init__(self, deployment: Deployment,
                 frontend_connection_params: Optional[Mapping[str, Any]] = None,
                 stdout_handlers: Optional[Iterable[Any]] = None,
                 stderr_handlers: Optional[Iterable[Any]] = None,
                 frontend_connexion_params: Optional[Mapping[str, Any]] = None) -> None:
        self.deployment = deployment
        self.frontend_connection_params = (frontend_connection_params
                                           if frontend_connection_params is not None
                                           else frontend_connexion_params)
        self._timeout: Optional[float] = None
        addresses = _addresses(deployment.hosts)
        by_site: Dict[str, List[str]] = {}
        self._unlocated: List[str] = []
        for address in addresses:
            site = get_host_frontend_site(address)
            if site is None:
                self._unlocated.append(address)
            else:
                by_site.setdefault(site, []).append(address)
        super().__init__(name="Kadeployer on %d hosts / %d frontends"
                         % (len(addresses), len(by_site)))
        processes = []
        for site, site_hosts in by_site.items():
            run = _FrontendRun(self, site, site_hosts)
            process = frontend_process(
                kadeploy_command(deployment, site_hosts), site, self.frontend_connection_params,
                timeout=None, name="kadeploy3 on %s (%d hosts)" % (site, len(site_hosts)),
                # a partial failure is reported by the Kadeployer, with reasons
                nolog_exit_code=True,
                stdout_handlers=[run] + [_SitePrefixed(site, h) for h in stdout_handlers or ()],
                stderr_handlers=[_SitePrefixed(site, h) for h in stderr_handlers or ()],
                lifecycle_handlers=[run])
            process.frontend = site
            process.kadeploy_hosts = site_hosts
            process.deployed_hosts = run.deployed
            process.undeployed_hosts = run.undeployed
            processes.append(process)
        self._set_processes(processes)

    def _reset_state(self) -> None:
        super()._reset_state()
        self.deployed_hosts: Set[str] = set()
        self.undeployed_hosts: Set[str] = set(self._unlocated)
        why = "no site found for it: give a name under <site>.grid5000.fr"
        self.undeployed_reasons: Dict[str, str] = {h: why for h in self._unlocated}

    def _record(self, run: _FrontendRun) -> None:
        """Conductor thread: a frontend's process ended."""
        self.deployed_hosts |= run.deployed
        self.undeployed_hosts |= run.undeployed
        self.undeployed_reasons.update(run.reasons)

    def _set_ended(self) -> None:
        if self.undeployed_hosts:
            logger.warning("%s %s: %d/%d hosts not deployed:\n%s", style.emph("kadeploy3:"),
                           self.name, len(self.undeployed_hosts),
                           len(self.undeployed_hosts) + len(self.deployed_hosts),
                           "\n".join(" %s: %s" % (h, self.undeployed_reasons.get(h))
                                     for h in sorted(self.undeployed_hosts)))
        super()._set_ended()

    @property  # type: ignore[override]
    def timeout(self) -> Optional[float]:
        """Seconds each frontend's kadeploy3 may run (None: no limit)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Any) -> None:
        self._timeout = get_seconds(value)
        for process in self.processes:
            process.timeout = self._timeout

    @property
    def ok(self) -> bool:
        """Every frontend ran kadeploy3 and, once ended, every host is deployed."""
        if self.ended and self.undeployed_hosts:
            return False
        return super().ok

    def _args(self) -> List[str]:
        args = [repr(self.deployment)] + super()._args()
        if self.frontend_connection_params:
            args.append("frontend_connection_params=%r" % (self.frontend_connection_params,))
        return args

    def _infos(self) -> List[str]:
        return super()._infos() + ["deployed=%d" % len(self.deployed_hosts),
                                   "undeployed=%d" % len(self.undeployed_hosts)]


# ---- deploy -----------------------------------------------------------------


def _kavlan_name(address: str, vlan: Union[int, str]) -> str:
    """The name a node answers to once moved to kavlan ``vlan``."""
    parts = split_host_name(address)
    if parts is not None:
        domain = "." + parts['domain'] if parts['domain'] else ""
        return "%s-%d-kavlan-%s%s" % (parts['cluster'], parts['number'], vlan, domain)
    short, dot, domain = address.partition(".")
    return "%s-kavlan-%s%s%s" % (short, vlan, dot, domain)


def _already_deployed(addresses: Iterable[str], command: str,
                      node_connection_params: Optional[Mapping[str, Any]],
                      vlan: Union[None, int, str], timeout: Any) -> Set[str]:
    """The hosts on which ``command`` exits 0, all checked in parallel.

    Not answering within ``timeout`` counts as not deployed: a node
    still rebooting, or in another environment without our key.
    """
    names = {(_kavlan_name(a, vlan) if vlan is not None else a): a for a in addresses}
    if not names:
        return set()
    check = get_remote(command, list(names), connection_params=node_connection_params,
                       timeout=timeout, nolog_exit_code=True, nolog_timeout=True,
                       nolog_error=True, name="check deployed on %d hosts" % len(names))
    check.run()
    found = set()
    for process in check.processes:
        address = names[process.host.address]
        logger.debug("deployment check on %s: %s", address, "yes" if process.ok else "no")
        if process.ok:
            found.add(address)
    return found


def deploy(deployment: Deployment, check_deployed_command: Union[bool, str, None] = True,
           node_connection_params: Optional[Mapping[str, Any]] = {'user': 'root'},
           num_tries: int = 1,
           check_enough_func: Optional[Callable[[Set[str], Set[str]], bool]] = None,
           frontend_connection_params: Optional[Mapping[str, Any]] = None,
           deploy_timeout: Any = None, check_timeout: Any = 30,
           stdout_handlers: Optional[Iterable[Any]] = None,
           stderr_handlers: Optional[Iterable[Any]] = None
           ) -> Tuple[Set[str], Set[str]]:
    """Get ``deployment.hosts`` running the environment, deploying only what
    is needed; returns ``(deployed_hosts, undeployed_hosts)`` (addresses).

    >>> deployed, undeployed = deploy(Deployment(hosts, env_name="debian12-min"),
    ...                               num_tries=2)  # doctest: +SKIP

    First the hosts already running it are found by running
    ``check_deployed_command`` on them through ssh with
    ``node_connection_params`` (True: ``g5k_configuration
    ['check_deployed_command']``; a string: that command, exiting 0 on a
    deployed node, ``{{{host}}}`` substituted; False/None: no check, trust
    kadeploy3's report). Then up to ``num_tries`` `Kadeployer` runs on the
    others, each followed by the check of the hosts it handled.
    ``check_enough_func(deployed, undeployed)`` is called after the first
    check and after each run; True stops there (default: stop when
    nothing is left to deploy). The sets it gets are copies.

    Deploying is slow and retrying is the caller's choice; checking is
    fast, hence ``check_timeout`` (seconds per node) and ``deploy_timeout``
    (seconds per kadeploy3 run, None: no limit).
    """
    if check_enough_func is None:
        check_enough_func = lambda deployed, undeployed: not undeployed  # noqa: E731
    if check_deployed_command is True:
        check_deployed_command = g5k_configuration.get('check_deployed_command')
    kadeploy_command(deployment, [])  # a malformed deployment fails now, not after the check
    start = time.monotonic()
    pending = _addresses(deployment.hosts)
    deployed: Set[str] = set()
    undeployed: Set[str] = set(pending)

    def check(addresses: Iterable[str]) -> Set[str]:
        found = _already_deployed(addresses, check_deployed_command, node_connection_params,
                                  deployment.vlan, check_timeout)
        deployed.update(found)
        undeployed.difference_update(found)
        return found

    if check_deployed_command:
        found = check(pending)
        logger.info("%s %d/%d hosts already deployed", style.emph("deploy:"), len(found),
                    len(pending))
    tries = 0
    while undeployed and tries < num_tries and not check_enough_func(set(deployed),
                                                                     set(undeployed)):
        tries += 1
        attempt = [a for a in pending if a in undeployed]
        round_deployment = copy.copy(deployment)
        round_deployment.hosts = attempt
        kadeployer = Kadeployer(round_deployment,
                                frontend_connection_params=frontend_connection_params,
                                stdout_handlers=stdout_handlers, stderr_handlers=stderr_handlers)
        kadeployer.timeout = deploy_timeout
        kadeployer.run()
        if check_deployed_command:
            found = check(attempt)
        else:
            found = kadeployer.deployed_hosts & undeployed
            deployed.update(found)
            undeployed.difference_update(found)
        logger.info("%s try %d/%d: %d hosts attempted, kadeploy3 reported %d deployed, "
                    "%d now deployed, %d still not", style.emph("deploy:"), tries, num_tries,
                    len(attempt), len(kadeployer.deployed_hosts), len(found), len(undeployed))
    logger.info("%s %d deployed, %d not, %d tries, %s", style.emph("deploy finished:"),
                len(deployed), len(undeployed), tries,
                format_duration(time.monotonic() - start))
    return deployed, undeployed


# execo 2.x names this module served (see execo_g5k.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES  # noqa: E402
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)
__dir__ = legacy_dir(__name__, globals(), G5K_LEGACY_MODULES)
