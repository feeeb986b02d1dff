"""Remote, Put and Get: one ssh or scp process per host, run as one action.

Thin `execo.host_action.HostAction` subclasses: the base renders every
per-host command line or path from ONE template (see
`execo.substitution`) when the action is built, so a bad ``{{expr}}`` is
reported before any connection is made; the argv of ssh and scp, and the
processes running them, are `execo.ssh`'s. This module only decides what
to run on which host.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from execo.action import Action
from execo.exception import ExecoValueError
from execo.host import Host, HostLike, get_hosts_list
from execo.host_action import FromHostsTransfer, HostAction, HostCommand, ToHostsTransfer
from execo.process_base import Command
from execo.ssh import ScpProcess, SshProcess, remote_path, scp_command
from execo.substitution import Literal
from execo.transports import register_transport

__all__ = ["Get", "Put", "Remote", "ScpProcess", "filter_bad_hosts", "remote_setup"]


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def remote_setup(remote_cwd: Optional[str] = None,
                 remote_env: Optional[Mapping[str, Any]] = None) -> str:
    """The lines put before a remote command so that it runs in
    ``remote_cwd`` with ``remote_env`` added to its environment, every
    value quoted for the remote POSIX shell; ``""`` when neither is given.
    A directory that cannot be entered ends the command with exit 1,
    before it runs.

    >>> print(remote_setup("/data/my run", {"MODE": "fast; rm -rf /"}), end="")
    cd -- '/data/my run' || exit 1
    export MODE='fast; rm -rf /'
    """
    lines = []
    if remote_cwd is not None:
        lines.append("cd -- %s || exit 1" % (shlex.quote(str(remote_cwd)),))
    for name, value in (remote_env or {}).items():
        if not _ENV_NAME.match(str(name)):
            raise ExecoValueError("remote_env: %r is not an environment variable name "
                                  "(letters, digits and '_', not starting with a digit)"
                                  % (name,))
        lines.append("export %s=%s" % (name, shlex.quote(str(value))))
    return "".join(line + "\n" for line in lines)


class Remote(HostCommand):
    """Run a command on several hosts through ssh, one ssh process per host.

    >>> Remote("hostname", ["node-1", "node-2"]).run().ok  # doctest: +SKIP
    True

    Arguments: see `execo.host_action.HostCommand`; ``process_args`` are
    those of each `SshProcess`.

    ``cwd`` and ``env`` (process keywords, as in execo 2.x) are those of
    the LOCAL ``ssh`` processes: the remote command sees neither. For the
    remote command, give:

    :param remote_cwd: the directory the remote command runs in (the
      command fails with exit 1, before running, where it does not exist).
    :param remote_env: variables added to the remote command's
      environment, ``{name: value}``; values are quoted for the remote
      shell, so any text is passed as it is.

    >>> Remote("make", "node-[1-4]", remote_cwd="/tmp/build",
    ...        remote_env={"CFLAGS": "-O2 -g"})  # doctest: +SKIP

    Both need a POSIX remote login shell (sh, bash, dash, zsh, ksh), as the
    remote-kill watchdog does (see `execo.ssh`).
    """

    def __init__(self, cmd: Command, hosts: Iterable[HostLike],
                 connection_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Mapping[str, Any]] = None, *,
                 remote_cwd: Optional[str] = None,
                 remote_env: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        self.remote_cwd = remote_cwd
        self.remote_env = dict(remote_env) if remote_env else None
        self._remote_setup = remote_setup(remote_cwd, remote_env)  # refused before any host
        super().__init__(cmd, hosts, connection_params, process_args, connexion_params,
                         **kwargs)
        self._given_kwargs.update(remote_cwd=remote_cwd, remote_env=remote_env)  # for_hosts

    def _new_process(self, cmd: Command, host: Host, args: Dict[str, Any]) -> SshProcess:
        setup = getattr(self, "_remote_setup", "")
        if setup:
            cmd = setup + (cmd if isinstance(cmd, str) else shlex.join(cmd))
        return SshProcess(cmd, host, connection_params=self.connection_params, **args)

    def _args(self) -> List[str]:
        args = super()._args()
        if getattr(self, "remote_cwd", None) is not None:
            args.append("remote_cwd=%r" % (self.remote_cwd,))
        if getattr(self, "remote_env", None):
            args.append("remote_env=%r" % (self.remote_env,))
        return args


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
        return scp + [remote_path(host, _pattern(f), params, address) for f in files] + [target]
    return build


# scp (in its default sftp mode) expands the remote names of a copy from a
# host as glob patterns, as 2.x's remote shell did: scripts rely on
# Get(hosts, ["/tmp/results/*"]). A `literal` name is a name: escaped.
_GLOB_CHARACTERS = re.compile(r"([\\*?\[\]])")


def _pattern(name: str) -> str:
    return _GLOB_CHARACTERS.sub(r"\\\1", name) if isinstance(name, Literal) else name


def _params_of_run(action: HostAction) -> Callable[[], Any]:
    return lambda: action._run_params


class Put(ToHostsTransfer, Remote):
    """Copy local files to several hosts, one scp per host.

    >>> Put(["node-1"], ["results.csv"], "/tmp/").run().ok  # doctest: +SKIP
    True

    :param local_files: local paths (substituted per host: each host may
      get its own file; a name wrapped in `~execo.substitution.literal`
      is not).
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

    :param remote_files: remote paths (substituted per host), glob patterns
      as for scp (``/tmp/results/*``); a name wrapped in
      `~execo.substitution.literal` is neither substituted nor expanded:
      wrap every name obtained from a node.
    :param local_location: local destination (substituted per host, so
      that the files of each host can land in their own, existing,
      directory). Without ``{{{host}}}``, the hosts' copies of a file
      overwrite each other, as in 2.x; one warning then names the hosts
      whose copies were lost (`execo.overwrites`).
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
