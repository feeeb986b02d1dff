"""Remote, Put and Get: one ssh or scp process per host, run as one action.

Every per-host command line is rendered from ONE template (see
`execo.substitution`) when the action is built, so a bad ``{{expr}}`` is
reported before any connection is made. The argv of ssh and scp come from
`execo.ssh`: this module only decides what to run on which host.
"""

from __future__ import annotations

from types import FrameType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from execo.action import Action, split_action_kwargs
from execo.connection import resolve_connection_params, rewrite_address
from execo.host import Host, HostLike, get_hosts_list
from execo.log import style
from execo.process import Process
from execo.process_base import Command, name_from_cmdline
from execo.ssh import SshProcess, remote_path, scp_command, ssh_failure_reason
from execo.substitution import Template, caller_namespace, has_expressions

__all__ = ["Get", "Put", "Remote", "ScpProcess", "filter_bad_hosts"]

# Frames of these modules are never "the caller" whose variables {{expr}}
# refers to: the factories and the action classes only pass arguments on.
INTERNAL_MODULES = {"execo.action", "execo.remote", "execo.factory", "execo.substitution",
                    "execo.taktuk", "execo.chainput", "execo.serial"}


class Remote(Action):
    """Run a command on several hosts through ssh, one ssh process per host.

    >>> Remote("hostname", ["node-1", "node-2"]).run().ok  # doctest: +SKIP
    True

    :param cmd: the remote command; ``{{{host}}}`` and ``{{expr}}`` are
      substituted per host (`execo.substitution`).
    :param hosts: host names or `Host` objects (duplicates allowed).
    :param connection_params: overrides of `default_connection_params`
      (``connexion_params``, the 2.x spelling, works too).
    :param process_args: keyword arguments of each `SshProcess`; any
      keyword `Action` does not take (``ignore_exit_code``, ``timeout``,
      ``pty``...) is added to them. String entries of ``stdout_handlers``
      and ``stderr_handlers`` are file paths, substituted per host too.
    """

    def __init__(self, cmd: Command, hosts: Iterable[HostLike],
                 connection_params: Optional[Dict[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.cmd = cmd
        self._setup(hosts, connection_params, connexion_params, process_args, kwargs,
                    lambda: name_from_cmdline(cmd))
        self._init_transport_state()
        cmd_strings = [cmd] if isinstance(cmd, str) else list(cmd)
        templates = self._templates(cmd_strings, self._handler_paths())
        cmd_templates, path_templates = templates[:len(cmd_strings)], templates[len(cmd_strings):]
        processes = []
        for index, (host, address) in enumerate(zip(self._hosts, self._addresses)):
            rendered = [t.render(address, index) for t in cmd_templates]
            host_cmd: Command = rendered[0] if isinstance(cmd, str) else rendered
            processes.append(self._new_process(
                host_cmd, host, self._process_args_for(address, index, path_templates)))
        self._set_processes(processes)

    def _init_transport_state(self) -> None:
        """Per-transport state needed before the processes are made."""

    def _new_process(self, cmd: Command, host: Host, args: Dict[str, Any]) -> Process:
        """The process running ``cmd`` on ``host``: the transport's choice."""
        return SshProcess(cmd, host, connection_params=self.connection_params, **args)

    # ---- shared by Remote, Put and Get ---------------------------------------

    def _setup(self, hosts: Iterable[HostLike], connection_params: Optional[Dict[str, Any]],
               connexion_params: Optional[Dict[str, Any]],
               process_args: Optional[Dict[str, Any]], kwargs: Dict[str, Any],
               default_name: Callable[[], str]) -> None:
        action_kwargs, self.process_args = split_action_kwargs(kwargs, process_args)
        self._hosts: List[Host] = get_hosts_list(hosts)
        if "name" not in action_kwargs:
            action_kwargs["name"] = default_name()
        Action.__init__(self, **action_kwargs)
        self._params = resolve_connection_params(connection_params, connexion_params)
        self.connection_params = (connection_params if connection_params is not None
                                  else connexion_params)
        # {{{host}}} is the address ssh connects to, once rewritten
        self._addresses = [rewrite_address(h.address, self._params) for h in self._hosts]

    def _handler_paths(self) -> List[str]:
        """The file paths among the output handlers, in a fixed order."""
        return [h for kind in ("stdout_handlers", "stderr_handlers")
                for h in self.process_args.get(kind) or () if isinstance(h, str)]

    def _templates(self, *groups: Sequence[str]) -> List[Template]:
        """Templates of every string in ``groups``, expressions evaluated in
        the frame of the code that built this action."""
        strings = [s for group in groups for s in group]
        namespace = None
        if any(has_expressions(s) for s in strings):
            namespace = caller_namespace(self._is_internal_frame)
        return [Template(s, namespace) for s in strings]

    def _is_internal_frame(self, frame: FrameType) -> bool:
        if frame.f_globals.get("__name__") in INTERNAL_MODULES:
            return True
        # the constructor of this very action, e.g. a user's subclass's __init__
        return frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is self

    def _process_args_for(self, address: str, index: int,
                          path_templates: Sequence[Template]) -> Dict[str, Any]:
        args = dict(self.process_args)
        rendered = iter([t.render(address, index) for t in path_templates])
        for kind in ("stdout_handlers", "stderr_handlers"):
            if args.get(kind):
                args[kind] = [next(rendered) if isinstance(h, str) else h for h in args[kind]]
        return args

    def _argv_builder(self, host: Host, files: List[str], target: str,
                      put: bool) -> Callable[[], List[str]]:
        """scp's argv, built from the connection params as they are when called."""
        def build() -> List[str]:
            params = resolve_connection_params(self.connection_params)
            if put:
                return scp_command(params, host) + files + [remote_path(host, target, params)]
            return (scp_command(params, host) + [remote_path(host, f, params) for f in files]
                    + [target])
        return build

    def _scp_args(self, name: str, address: str, index: int,
                  path_templates: Sequence[Template]) -> Dict[str, Any]:
        args = self._process_args_for(address, index, path_templates)
        args.setdefault("name", name)
        return args

    @property
    def hosts(self) -> List[Host]:
        """The hosts, in the order of `processes`."""
        return self._hosts

    def _args(self) -> List[str]:
        args = [style.command(repr(self.cmd)), repr(self._hosts)] + Action._args(self)
        return args + self._remote_kwargs()

    def _remote_kwargs(self) -> List[str]:
        kwargs = []
        if self.connection_params:
            kwargs.append("connection_params=%r" % (self.connection_params,))
        if self.process_args:
            kwargs.append("process_args=%r" % (self.process_args,))
        return kwargs


class ScpProcess(Process):
    """One scp run of a Put or Get, for one host.

    Its argv is built again when it starts, so that connection defaults
    changed in between (a test bed installed, an option added) apply, as
    they do for `SshProcess`. An scp exit code of 255 (ssh could not
    connect) sets ``error`` and an ``error_reason`` quoting scp.
    """

    def __init__(self, build_argv: Callable[[], List[str]], host: Host, **kwargs: Any) -> None:
        self._build_argv = build_argv
        super().__init__(build_argv(), **kwargs)
        self.host = host  # lets filter_bad_hosts and logs tell which host failed

    def _spawn_args(self) -> List[str]:
        self.cmd = self._build_argv()
        return list(self.cmd)

    def _failure_reason(self, exit_code: Optional[int]) -> Optional[str]:
        if exit_code == 255 and not self.killed:
            return ssh_failure_reason(self.host, self.stderr, tool="scp")
        return None


class Put(Remote):
    """Copy local files to several hosts, one scp per host.

    >>> Put(["node-1"], ["results.csv"], "/tmp/").run().ok  # doctest: +SKIP
    True

    :param local_files: local paths (substituted per host: each host may
      get its own file).
    :param remote_location: where to copy them on each host (substituted).
    """

    def __init__(self, hosts: Iterable[HostLike], local_files: Iterable[str],
                 remote_location: str = ".", connection_params: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Dict[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.local_files = [local_files] if isinstance(local_files, str) else list(local_files)
        self.remote_location = remote_location
        self._setup(hosts, connection_params, connexion_params, process_args, kwargs,
                    lambda: "Put to %d hosts" % len(self._hosts))
        templates = self._templates(self.local_files, [remote_location], self._handler_paths())
        count = len(self.local_files)
        sources, destination, paths = templates[:count], templates[count], templates[count + 1:]
        processes = []
        if self.local_files:
            for index, (host, address) in enumerate(zip(self._hosts, self._addresses)):
                target = destination.render(address, index)
                files = [t.render(address, index) for t in sources]
                processes.append(ScpProcess(
                    self._argv_builder(host, files, target, put=True), host,
                    **self._scp_args("scp to %s:%s" % (address, target), address, index, paths)))
        self._set_processes(processes)

    def _args(self) -> List[str]:
        return ([repr(self._hosts), repr(self.local_files)] + Action._args(self)
                + ["remote_location=%r" % (self.remote_location,)] + self._remote_kwargs())


class Get(Remote):
    """Copy files from several hosts to a local directory, one scp per host.

    >>> Get(["node-1"], ["/tmp/out.log"], "logs/{{{host}}}/").run().ok  # doctest: +SKIP
    True

    :param remote_files: remote paths (substituted per host).
    :param local_location: local destination (substituted per host, so
      that the files of each host can land in their own, existing,
      directory).
    """

    def __init__(self, hosts: Iterable[HostLike], remote_files: Iterable[str],
                 local_location: str = ".", connection_params: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Dict[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.remote_files = [remote_files] if isinstance(remote_files, str) else list(remote_files)
        self.local_location = local_location
        self._setup(hosts, connection_params, connexion_params, process_args, kwargs,
                    lambda: "Get from %d hosts" % len(self._hosts))
        templates = self._templates(self.remote_files, [local_location], self._handler_paths())
        count = len(self.remote_files)
        sources, destination, paths = templates[:count], templates[count], templates[count + 1:]
        processes = []
        if self.remote_files:
            for index, (host, address) in enumerate(zip(self._hosts, self._addresses)):
                target = destination.render(address, index)
                files = [t.render(address, index) for t in sources]
                processes.append(ScpProcess(
                    self._argv_builder(host, files, target, put=False), host,
                    **self._scp_args("scp from %s to %s" % (address, target), address, index,
                                     paths)))
        self._set_processes(processes)

    def _args(self) -> List[str]:
        return ([repr(self._hosts), repr(self.remote_files)] + Action._args(self)
                + ["local_location=%r" % (self.local_location,)] + self._remote_kwargs())


def filter_bad_hosts(action: Action, hosts: Iterable[HostLike]) -> List[HostLike]:
    """``hosts`` without those on which a process of ``action`` failed.

    >>> hosts = filter_bad_hosts(Remote("true", ["n1", "n2"]).run(), ["n1", "n2"])  # doctest: +SKIP
    """
    bad = {Host(p.host) for p in action.processes
           if getattr(p, "host", None) is not None and not p.ok}
    return [h for h in hosts if Host(h) not in bad]

