"""Remote, Put and Get: one ssh or scp process per host, run as one action.

Thin `execo.host_action.HostAction` subclasses: the base renders every
per-host command line or path from ONE template (see
`execo.substitution`) when the action is built, so a bad ``{{expr}}`` is
reported before any connection is made; the argv of ssh and scp, and the
processes running them, are `execo.ssh`'s. This module only decides what
to run on which host.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List

from execo.action import Action
from execo.host import Host, HostLike, get_hosts_list
from execo.host_action import FromHostsTransfer, HostAction, HostCommand, ToHostsTransfer
from execo.process_base import Command
from execo.ssh import ScpProcess, SshProcess, remote_path, scp_command
from execo.transports import register_transport

__all__ = ["Get", "Put", "Remote", "ScpProcess", "filter_bad_hosts"]


class Remote(HostCommand):
    """Run a command on several hosts through ssh, one ssh process per host.

    >>> Remote("hostname", ["node-1", "node-2"]).run().ok  # doctest: +SKIP
    True

    Arguments: see `execo.host_action.HostCommand`; ``process_args`` are
    those of each `SshProcess`.
    """

    def _new_process(self, cmd: Command, host: Host, args: Dict[str, Any]) -> SshProcess:
        return SshProcess(cmd, host, connection_params=self.connection_params, **args)


def _scp_argv_builder(action: HostAction, host: Host, address: str, files: List[str],
                      target: str, put: bool) -> Callable[[], List[str]]:
    """scp's argv, from the connection params the action resolved for its
    run (`execo.host_action.HostAction._resolve_run`), and ``address``,
    the host's, rewritten by the same resolution."""
    def build() -> List[str]:
        params = action._run_params
        scp = scp_command(params, host, address)
        if put:
            return scp + files + [remote_path(host, target, params, address)]
        return scp + [remote_path(host, f, params, address) for f in files] + [target]
    return build


def _params_of_run(action: HostAction) -> Callable[[], Any]:
    return lambda: action._run_params


class Put(ToHostsTransfer, Remote):
    """Copy local files to several hosts, one scp per host.

    >>> Put(["node-1"], ["results.csv"], "/tmp/").run().ok  # doctest: +SKIP
    True

    :param local_files: local paths (substituted per host: each host may
      get its own file).
    :param remote_location: where to copy them on each host (substituted).

    A `Remote` too, as in execo 2.x (``isinstance`` checks of old scripts),
    though nothing of Remote's is used.
    """

    def _new_transfer(self, host: Host, address: str, sources: List[str], destination: str,
                      args: Dict[str, Any]) -> ScpProcess:
        args.setdefault("name", "scp to %s:%s" % (address, destination))
        return ScpProcess(_scp_argv_builder(self, host, address, sources, destination, put=True),
                          host, _params_of_run(self), **args)


class Get(FromHostsTransfer, Remote):
    """Copy files from several hosts to a local directory, one scp per host.

    >>> Get(["node-1"], ["/tmp/out.log"], "logs/{{{host}}}/").run().ok  # doctest: +SKIP
    True

    :param remote_files: remote paths (substituted per host).
    :param local_location: local destination (substituted per host, so
      that the files of each host can land in their own, existing,
      directory).
    """

    def _new_transfer(self, host: Host, address: str, sources: List[str], destination: str,
                      args: Dict[str, Any]) -> ScpProcess:
        args.setdefault("name", "scp from %s to %s" % (address, destination))
        return ScpProcess(_scp_argv_builder(self, host, address, sources, destination,
                                            put=False),
                          host, _params_of_run(self), **args)


def filter_bad_hosts(action: Action, hosts: Iterable[HostLike]) -> List[HostLike]:
    """``hosts`` without those on which a process of ``action`` failed.

    >>> hosts = filter_bad_hosts(Remote("true", ["n1", "n2"]).run(), ["n1", "n2"])  # doctest: +SKIP
    """
    bad = {Host(p.host) for p in action.processes
           if getattr(p, "host", None) is not None and not p.ok}
    if isinstance(hosts, str):  # a node set: its names
        hosts = [h.address for h in get_hosts_list(hosts)]
    return [h for h in hosts if Host(h) not in bad]


register_transport("ssh", remote=Remote)
register_transport("scp", put=Put, get=Get)
