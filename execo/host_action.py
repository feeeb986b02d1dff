"""The host fan-out base: one process per host, started, waited and killed as one.

Every action over a list of hosts is a `HostAction`: `Remote`, `Put`,
`Get` (`execo.remote`), the taktuk actions (`execo.taktuk`), `ChainPut`
(`execo.chainput`) and the next transport. The base owns what they all
share: the host list, the connection params (given once, both spellings
reconciled at the public constructor), the process keyword arguments,
and the per-host rendering of ``{{{host}}}``/``{{expr}}`` templates in the
caller's frame (`execo.substitution`).

Which frame is "the caller's" is decided by where code lives, not by a
list of module names: every frame of a library package (``execo`` and the
packages that call `register_library_package`, e.g. ``execo_g5k``) is
passed over, so a new module, a factory or a compatibility entry point
can never capture its own locals by mistake.

Adding a transport: subclass `HostCommand` (commands), `ToHostsTransfer` /
`FromHostsTransfer` (file copies) or `HostAction`, build each host's process in
`_new_process` / `_new_transfer`, and register the classes with
`execo.transports.register_transport` (one line, at the end of the
transport's module). The process may be a local `execo.process.Process`
(ssh, scp...) or an `execo.fed_process.FedProcess` when one local process
serves every host (taktuk, ChainPut); timeouts and kills then follow
`execo.kill_policy` with nothing more to write.

How many hosts run at once is decided by `execo.fanout`, which the start
of every action (`Action._launch`) goes through; the multiplexed
transports (taktuk, ChainPut) start one local process anyway.
"""

from __future__ import annotations

import contextlib
import gc
from types import FrameType
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple)

from execo.action import Action, split_action_kwargs
from execo.connection import pick_connection_params, resolve_connection_params, rewrite_address
from execo.host import Host, HostLike, get_hosts_list
from execo.log import logger, style
from execo.nodeset import fold_hosts
from execo.exception import ExecoTypeError
from execo.output import output_handlers
from execo.overwrites import warn_overwritten_copies
from execo.process_base import Command, ProcessBase, check_command, name_from_cmdline
from execo.substitution import Template, caller_namespace, has_expressions

__all__ = ["FromHostsTransfer", "HostAction", "HostCommand", "HostRendering", "ToHostsTransfer",
           "gc_paused", "is_library_frame", "register_library_package"]

_LIBRARY_PACKAGES = {"execo"}


def register_library_package(package: str) -> None:
    """Declare ``package`` (a top-level package name) part of the library:
    its frames are never the caller whose variables ``{{expr}}`` names."""
    _LIBRARY_PACKAGES.add(package)


def is_library_frame(frame: FrameType) -> bool:
    """True for a frame of library code (a doctest's is the user's)."""
    if frame.f_code.co_filename.startswith("<"):
        return False
    module = frame.f_globals.get("__name__") or ""
    return module.partition(".")[0] in _LIBRARY_PACKAGES


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while an action builds its
    processes: every object made then is kept, yet each collection would
    walk all of them again, which made building a `Remote` grow
    quadratically with its hosts (20 000 -> 40 000 hosts: x3). Nested
    pauses (a group building actions) resume it once, at the outer end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class HostRendering(NamedTuple):
    """One host's share of a fan-out: every template group rendered for it."""
    index: int
    host: Host
    address: str
    groups: List[List[str]]
    process_args: Dict[str, Any]


class HostAction(Action):
    """Base of the actions that run one process per host.

    :param hosts: host names or `Host` objects (duplicates allowed).
    :param connection_params: overrides of the default connection params,
      already reconciled with ``connexion_params`` by the public
      constructor (see `execo.connection.pick_connection_params`).
    :param process_args: keyword arguments of each host's process; any
      keyword `Action` does not take is added to them.
    :param default_name: the action's name when ``kwargs`` gives none.
    """

    def __init__(self, hosts: Iterable[HostLike],
                 connection_params: Optional[Mapping[str, Any]],
                 process_args: Optional[Dict[str, Any]], kwargs: Dict[str, Any],
                 default_name: Callable[["HostAction"], str]) -> None:
        action_kwargs, self.process_args = split_action_kwargs(kwargs, process_args,
                                                               type(self).__name__)
        for kind in ("stdout_handlers", "stderr_handlers"):
            if kind in self.process_args:  # checked once, not per host
                self.process_args[kind] = output_handlers(self.process_args[kind], kind)
        self._hosts: List[Host] = get_hosts_list(hosts)
        if "name" not in action_kwargs:
            action_kwargs["name"] = default_name(self)
        Action.__init__(self, **action_kwargs)
        self.connection_params = connection_params
        self._templates_made: Dict[Tuple[type, str], Template] = {}
        self._set_addresses(resolve_connection_params(connection_params))
        self._prepare_transport()

    def _set_addresses(self, params: Mapping[str, Any]) -> None:
        """Rewrite each host's address once, by ``params``, resolved."""
        self._run_params = params
        # {{{host}}} is the address ssh connects to, once rewritten
        self._addresses = [rewrite_address(h.address, params) for h in self._hosts]
        self._run_addresses: Dict[Host, str] = dict(zip(self._hosts, self._addresses))
        self._hosts_changed = False

    # ---- connection params, resolved once per run ------------------------------

    def start(self) -> "HostAction":
        if not self.started:  # else Action.start refuses
            self._resolve_run()
        Action.start(self)
        return self

    def _resolve_run(self) -> None:
        """Resolve the connection params once for this run, and rewrite each
        host's address once: the defaults of now apply (as to a process
        started alone), and each process of these hosts is handed the
        params and its host's address, neither merged nor rewritten again.
        A rewrite changed since the action was built changes ``{{{host}}}``
        too: the processes are then built again, so that the address
        rendered and the address connected to are the same. Hosts assigned
        since (`hosts`) wait for the next ``reset()``, as their processes do."""
        params = resolve_connection_params(self.connection_params)
        if self._hosts_changed:
            self._run_params = params
        else:
            rendered = self._addresses
            self._set_addresses(params)
            if self._addresses != rendered:
                with gc_paused():
                    self.processes = []
                    self._prepare_transport()
                    self._build_processes()
        for process in self._processes:
            address = self._run_addresses.get(process.host)
            if address is not None:  # a process of another action's (assigned) resolves its own
                process._run_connection = (self.connection_params, params, address)

    def _run_address(self, host: Host) -> str:
        """``host``'s address as this run connects to it (rewritten once)."""
        address = self._run_addresses.get(host)
        return address if address is not None else rewrite_address(host.address,
                                                                    self._run_params)

    def _prepare_transport(self) -> None:
        """Per-transport state (and checks) needed before processes are made."""

    # ---- per-host rendering ----------------------------------------------------

    def _fan_out(self, *groups: Sequence[str]) -> List[HostRendering]:
        """Each host's rendering of ``groups`` and its process args (output
        handler paths substituted too)."""
        paths = [h for kind in ("stdout_handlers", "stderr_handlers")
                 for h in self.process_args.get(kind) or () if isinstance(h, str)]
        templates = self._templates([s for group in groups for s in group] + paths)
        grouped, start = [], 0
        for group in groups:
            grouped.append(templates[start:start + len(group)])
            start += len(group)
        path_templates = templates[start:]
        renderings = []
        for index, (host, address) in enumerate(zip(self._hosts, self._addresses)):
            rendered = [[t.render(address, index) for t in group] for group in grouped]
            renderings.append(HostRendering(index, host, address, rendered,
                                            self._process_args_for(address, index,
                                                                   path_templates)))
        return renderings

    def _templates(self, strings: Sequence[str]) -> List[Template]:
        # kept: processes rebuilt for new hosts (see `hosts`) render the
        # values evaluated in the caller's frame when the action was built
        # (a `literal` equals the same plain string: the type is in the key)
        made = self._templates_made
        missing = [s for s in strings if (type(s), s) not in made]
        namespace = None
        if any(has_expressions(s) for s in missing):
            namespace = caller_namespace(self._is_internal_frame)
        made.update(((type(s), s), Template(s, namespace)) for s in missing)
        return [made[(type(s), s)] for s in strings]

    def _is_internal_frame(self, frame: FrameType) -> bool:
        if is_library_frame(frame):
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

    # ---- command actions ---------------------------------------------------------

    def _command_processes(self, cmd: Command) -> List[ProcessBase]:
        """One process per host running ``cmd`` rendered for it. A list
        command is an argv of data: its items are never templates."""
        if isinstance(cmd, str):
            return [self._new_process(share.groups[0][0], share.host, share.process_args)
                    for share in self._fan_out([cmd])]
        return [self._new_process(list(cmd), share.host, share.process_args)
                for share in self._fan_out()]

    def _new_process(self, cmd: Command, host: Host, args: Dict[str, Any]) -> ProcessBase:
        """The process running ``cmd`` on ``host``: the transport's choice."""
        raise NotImplementedError

    def _build_processes(self) -> None:
        """Make one process per host (called again when `hosts` changed)."""
        raise NotImplementedError

    def _reset_members(self) -> None:
        if not self._hosts_changed:
            super()._reset_members()
            return
        self.processes = []  # the old ones are forgotten, not reset
        self._set_addresses(resolve_connection_params(self.connection_params))
        self._prepare_transport()
        self._build_processes()

    # ---- hosts -----------------------------------------------------------------------

    @property
    def hosts(self) -> List[Host]:
        """The hosts, in the order of `processes`.

        Assigning a list (as execo 2.x scripts do) reads back as `Host`
        objects at once; the processes follow at the next `reset()`, as in
        2.x, so that a run in progress or ended keeps its results."""
        return self._hosts

    @hosts.setter
    def hosts(self, hosts: Iterable[HostLike]) -> None:
        self._hosts = get_hosts_list(hosts)
        self._hosts_changed = True

    @property
    def failed_hosts(self) -> List[Host]:
        """The hosts whose process is not ok (as given: before any
        ``host_rewrite_func``), in the order of `processes`.

        >>> Remote("true", []).failed_hosts  # doctest: +SKIP
        []
        """
        return [Host(process.host) for process in self.processes if not process.ok]

    def for_hosts(self, hosts: Iterable[HostLike]) -> "HostAction":
        """A new action of the same kind, with the same command or files,
        connection params and keywords, for ``hosts``: most often to run
        again on the hosts where this one failed, once whatever failed is
        repaired::

            again = action.for_hosts(action.failed_hosts).run()

        Handlers given as keywords are shared with this action.
        """
        return type(self)(*self._given_for(list(hosts)), **self._given_kwargs)

    def _given_for(self, hosts: List[Host]) -> tuple:
        """The constructor's positional arguments, with ``hosts``."""
        raise NotImplementedError

    # ---- display -------------------------------------------------------------------

    def _hosts_repr(self) -> str:
        """The hosts for logs: one folded node set (``'node-[1-20]'``) when
        they are plain names, so that 200 hosts take one short line."""
        hosts = self._hosts
        if len(hosts) > 1 and all(h.user is None and h.keyfile is None and h.port is None
                                  for h in hosts):
            return style.host(repr(fold_hosts(hosts)))
        return repr(hosts)

    def _args(self) -> List[str]:
        return [style.command(repr(getattr(self, "cmd", None))), self._hosts_repr()] \
            + Action._args(self) + self._host_action_kwargs()

    def _host_action_kwargs(self) -> List[str]:
        kwargs = []
        if self.connection_params:
            kwargs.append("connection_params=%r" % (self.connection_params,))
        if self.process_args:
            kwargs.append("process_args=%r" % (self.process_args,))
        return kwargs


class HostCommand(HostAction):
    """Base of the actions running one command on every host (`Remote`,
    `TaktukRemote`): their shared 2.x constructor.

    :param cmd: the command: a string, in which ``{{{host}}}`` and
      ``{{expr}}`` are substituted per host (`execo.substitution`), or a
      list, an argv of data whose items are never substituted.
    :param hosts: host names or `Host` objects (duplicates allowed).
    :param connection_params: overrides of the default connection params
      (``connexion_params``, the 2.x spelling, works too).
    :param process_args: keyword arguments of each host's process; any
      keyword `Action` does not take (``ignore_exit_code``, ``timeout``...)
      is added to them. String entries of ``stdout_handlers`` and
      ``stderr_handlers`` are file paths, substituted per host too.
    """

    def __init__(self, cmd: Command, hosts: Iterable[HostLike],
                 connection_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None,
                 connexion_params: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        self.cmd = check_command(cmd)
        chosen = pick_connection_params(connection_params, connexion_params)
        self._given_kwargs = dict(kwargs, connection_params=chosen, process_args=process_args)
        with gc_paused():
            HostAction.__init__(self, hosts, chosen, process_args, kwargs,
                                lambda action: name_from_cmdline(cmd))
            self._build_processes()

    def _build_processes(self) -> None:
        self._set_processes(self._command_processes(self.cmd))

    def _given_for(self, hosts: List[Host]) -> tuple:
        return (self.cmd, hosts)


class _FileTransfer(HostAction):
    """Copies of files between here and every host: sources and destination
    are templates rendered per host (each host may get its own files)."""

    _sources_attribute = ""
    _destination_attribute = ""
    _name_format = ""
    # False where every host must get the same files (ChainPut's stream)
    _per_host_sources = True

    def _init_transfer(self, hosts: Iterable[HostLike], sources: Iterable[str],
                       destination: str, connection_params: Optional[Mapping[str, Any]],
                       process_args: Optional[Dict[str, Any]], kwargs: Dict[str, Any]) -> None:
        files = [sources] if isinstance(sources, str) else list(sources)
        self._given_kwargs = dict(kwargs, connection_params=connection_params,
                                  process_args=process_args)
        for name in files + [destination]:
            if not isinstance(name, str):
                raise ExecoTypeError("%s: file names are strings, not %r"
                                     % (type(self).__name__, name))
        setattr(self, self._sources_attribute, files)
        setattr(self, self._destination_attribute, destination)
        with gc_paused():
            HostAction.__init__(self, hosts, connection_params, process_args, kwargs,
                                lambda action: action._name_format % len(action.hosts))
            self._build_processes()

    def _build_processes(self) -> None:
        files = getattr(self, self._sources_attribute)
        destination = getattr(self, self._destination_attribute)
        shares = self._fan_out(files if self._per_host_sources else [], [destination])
        # each host's (sources, destination), rendered
        self._routes = [(share.groups[0] if self._per_host_sources else files,
                         share.groups[1][0]) for share in shares] if files else []
        self._set_processes([self._new_transfer(share.host, share.address, sources, target,
                                                share.process_args)
                             for share, (sources, target) in zip(shares, self._routes)])

    def _new_transfer(self, host: Host, address: str, sources: List[str], destination: str,
                      args: Dict[str, Any]) -> ProcessBase:
        """The process copying ``sources`` to ``destination`` for ``host``."""
        raise NotImplementedError

    def _given_for(self, hosts: List[Host]) -> tuple:
        return (hosts, getattr(self, self._sources_attribute),
                getattr(self, self._destination_attribute))

    def _args(self) -> List[str]:
        return ([self._hosts_repr(), repr(getattr(self, self._sources_attribute))]
                + Action._args(self)
                + ["%s=%r" % (self._destination_attribute,
                              getattr(self, self._destination_attribute))]
                + self._host_action_kwargs())


class ToHostsTransfer(_FileTransfer):
    """Base of the copies of local files to every host (`Put`, `TaktukPut`,
    `ChainPut`): their shared 2.x constructor.

    :param local_files: local paths, substituted per host.
    :param remote_location: where to put them on each host, substituted.
    """

    _sources_attribute = "local_files"
    _destination_attribute = "remote_location"
    _name_format = "Put to %d hosts"

    def __init__(self, hosts: Iterable[HostLike], local_files: Iterable[str],
                 remote_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None,
                 connexion_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self._init_transfer(hosts, local_files, remote_location,
                            pick_connection_params(connection_params, connexion_params),
                            process_args, kwargs)


class FromHostsTransfer(_FileTransfer):
    """Base of the copies of files of every host to here (`Get`,
    `TaktukGet`): their shared 2.x constructor.

    :param remote_files: remote paths, substituted per host.
    :param local_location: local destination, substituted per host, so
      that each host's files can land in their own (existing) directory.
    """

    _sources_attribute = "remote_files"
    _destination_attribute = "local_location"
    _name_format = "Get from %d hosts"

    def __init__(self, hosts: Iterable[HostLike], remote_files: Iterable[str],
                 local_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None,
                 connexion_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self._init_transfer(hosts, remote_files, local_location,
                            pick_connection_params(connection_params, connexion_params),
                            process_args, kwargs)

    def _set_ended(self) -> None:
        if not self.ended:  # before the waiters wake: they may read the logs
            try:
                warn_overwritten_copies(self.name, self._processes, self._routes)
            except Exception:  # a warning must never keep the action from ending
                logger.exception("%s: could not check for overwritten copies", self.name)
        super()._set_ended()
