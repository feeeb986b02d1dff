"""The hosts of the ``execo`` command: node sets, ``@groups``, host files,
checked before anything runs.

On the command line every ``-w`` is node-set notation, as for clush:
ranges are expanded by ClusterShell's parser (`execo.nodeset`), and
``@group`` is resolved through ClusterShell's own group configuration
(``groups.conf``, the file clush users already have). A name that comes
out of all this must be a host address (`execo.host.check_address`), or
the command stops with a usage error: a malformed set (``host[a-c]``)
must never reach ssh as one host name, nor the name resolver.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, List

__all__ = ["HostsError", "check_host", "hosts_of"]

# a group reference: '@name' (or '@source:name') where a set or an operand starts
_GROUP = re.compile(r"(?:^|[,!&^])\s*@")
class HostsError(ValueError):
    """A host list of the command line that is not one: said before anything runs."""


def _group_resolver() -> Any:
    from ClusterShell.NodeSet import std_group_resolver
    return std_group_resolver()


def _group_config_files() -> List[str]:
    files = getattr(_group_resolver(), "filenames", None) or []
    return [path for path in files if os.path.exists(path)]


def _expand_groups(spec: str) -> List[str]:
    """``spec`` with its ``@groups`` resolved by ClusterShell's resolver."""
    from ClusterShell.NodeSet import NodeSet, NodeSetException
    from ClusterShell.NodeUtils import GroupResolverError, GroupSourceError

    files = _group_config_files()
    where = ("ClusterShell's group configuration (%s)" % ", ".join(files) if files else
             "ClusterShell's group configuration: none found (groups.conf in "
             "/etc/clustershell, ~/.config/clustershell or $CLUSTERSHELL_CFGDIR)")
    try:
        names = list(NodeSet(spec, resolver=_group_resolver()))
    except (NodeSetException, GroupResolverError, GroupSourceError) as exc:
        raise HostsError("%r: its @group could not be resolved through %s: %s"
                         % (spec, where, exc)) from None
    if not names:
        raise HostsError("%r: no host in this group set according to %s; define the group "
                         "there (see groups.conf(5)) or give the hosts with -w NODESET"
                         % (spec, where))
    return names


def _expand(spec: str) -> List[str]:
    from execo.nodeset import expand_nodeset

    if _GROUP.search(spec):
        return _expand_groups(spec)
    try:
        return expand_nodeset(spec)
    except ValueError as exc:
        raise HostsError(str(exc)) from None


def _range_error(name: str) -> str:
    """What ClusterShell's parser says of a name holding brackets that is
    no IPv6 literal (``host[a-c]``), else ``""``."""
    if "[" not in name and "]" not in name:
        return ""
    from ClusterShell.NodeSet import NodeSet, NodeSetException, RESOLVER_NOGROUP
    try:
        NodeSet(name, resolver=RESOLVER_NOGROUP)
    except NodeSetException as exc:
        return "; %r is not a valid node set either (%s): ranges are numeric, node-[1-10,12]" \
            % (name, exc)
    return ""


def check_host(name: str, origin: str) -> str:
    """``name`` if it is a host address (`execo.host.check_address`), else
    a `HostsError` saying which option gave it."""
    from execo.host import check_address

    try:
        check_address(name)
    except ValueError as exc:
        raise HostsError("%s: %s%s" % (origin, exc, _range_error(name))) from None
    return name


def _from_specs(specs: Iterable[str], option: str) -> List[str]:
    names: List[str] = []
    for spec in specs:
        origin = "%s %r" % (option, spec)
        names += [check_host(name, origin) for name in _expand(spec)]
    return names


def _from_files(paths: Iterable[str]) -> List[str]:
    names: List[str] = []
    for path in paths:
        with open(path) as hostfile:
            for number, line in enumerate(hostfile, 1):
                name = line.strip()
                if name and not name.startswith("#"):
                    names.append(check_host(name, "%s, line %d" % (path, number)))
    return names


def hosts_of(nodesets: Iterable[str], hostfiles: Iterable[str],
             excluded: Iterable[str]) -> List[str]:
    """The hosts of ``-w``, ``-f`` and ``-x``: each once, in the order given.

    >>> hosts_of(["node-[1-3]", "host1"], [], ["node-2"])
    ['node-1', 'node-3', 'host1']
    """
    names = _from_specs(nodesets, "-w") + _from_files(hostfiles)
    left_out = set(_from_specs(excluded, "-x"))
    return list(dict.fromkeys(name for name in names if name not in left_out))
