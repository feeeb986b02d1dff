"""Node sets: ``griffon-[1-20],graphene-[3,5-7]`` in, folded names out.

Experimenters name machines by ranges, as their clusters do; ClusterShell's
`NodeSet` is the field's standard parser and folder of that notation, so
execo uses it rather than a grammar of its own. It is imported when a node
set is first parsed or folded, never by ``import execo``. Where it cannot
be imported (execo run from a checkout by a system Python), folding for
display falls back to plain lists of names, with one warning: a summary
line is worth less than the end of the action it ends.

In execo 2.x a string was always one host: only strings that can only be a
node set are expanded here, those holding a comma or a numeric range in
brackets (``node-[1-4]``). A bracketed IPv6 literal (``[::1]``) holds a
colon, no range: it stays one host, as does every plain name.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable, List, Optional

from execo.log import log_safely

__all__ = ["count_hosts", "expand_nodeset", "fold_hosts", "is_nodeset", "nodeset_of"]

# a bracket opening on a digit starts a range (an IPv6 literal opens on a
# hex digit or a colon and holds colons: [::1], [fe80::1]); NodeSet's
# operators (exclusion, intersection, xor) make a set too
_RANGE = re.compile(r"\[[0-9](?![0-9a-fA-F]*:)")
_OPERATORS = re.compile(r"[!&^]")


def is_nodeset(text: str) -> bool:
    """True when ``text`` means several hosts in node-set notation.

    >>> [is_nodeset(s) for s in ("node-[1-4]", "a,b", "node-1", "[::1]", "[2001:db8::1]")]
    [True, True, False, False, False]
    """
    return "," in text or bool(_RANGE.search(text))


def count_hosts(nodes: Any) -> int:
    """How many hosts a `NodeSet` or a node-set string holds."""
    if not isinstance(nodes, str):
        return len(nodes)
    try:
        return len(expand_nodeset(nodes)) if is_nodeset(nodes) else 1
    except ValueError:
        return len(nodes.split(","))


def _top_level_parts(text: str) -> List[str]:
    """``a-[1,2],b`` -> ``['a-[1,2]', 'b']``: commas inside brackets are ranges'."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def expand_nodeset(text: str) -> List[str]:
    """The host names of a node set, in the order written.

    Each comma-separated part is expanded in numeric order (as
    ``nodeset -e`` does), the parts are kept in the given order, and
    duplicates stay (a host list may repeat a host). Sets with NodeSet's
    operators (``node-[1-9]!node-5``) are expanded by NodeSet as a whole.

    >>> expand_nodeset("griffon-[1-3],graphene-[5,7]")
    ['griffon-1', 'griffon-2', 'griffon-3', 'graphene-5', 'graphene-7']
    """
    from ClusterShell.NodeSet import NodeSet, NodeSetParseError

    try:
        if _OPERATORS.search(text):
            return list(NodeSet(text, resolver=_no_groups()))
        names: List[str] = []
        for part in _top_level_parts(text):
            names.extend(NodeSet(part, resolver=_no_groups()) if _RANGE.search(part)
                         else [part])
        return names
    except NodeSetParseError as exc:
        raise ValueError("%r is not a valid node set (%s); write ranges as "
                         "node-[1-10,12] and separate sets with commas" % (text, exc)) from None


def _no_groups() -> Any:
    # '@group' would make NodeSet read the machine's group sources: an
    # experiment's host list must not depend on them
    from ClusterShell.NodeSet import RESOLVER_NOGROUP
    return RESOLVER_NOGROUP


_absence_said = False


def _cluster_shell() -> Optional[Any]:
    """ClusterShell's NodeSet module, or None (said once) where it cannot
    be imported."""
    global _absence_said
    try:
        from ClusterShell import NodeSet
    except ImportError as exc:
        if not _absence_said:
            _absence_said = True
            log_safely(logging.WARNING, "ClusterShell cannot be imported (%s): host lists are "
                       "shown unfolded; pip install ClusterShell to fold them", exc)
        return None
    return NodeSet


def fold_hosts(hosts: Iterable[Any]) -> str:
    """Host names (strings, `Host`, or anything whose ``str`` is a name)
    folded into one node set, for people to read.

    >>> fold_hosts(["node-1", "node-2", "node-3", "node-5", "host1"])
    'host1,node-[1-3,5]'

    Names NodeSet cannot hold (an IPv6 literal...) are listed as they are.
    """
    names = [str(getattr(host, "address", host)) for host in hosts]
    if not names:
        return ""
    module = _cluster_shell()
    if module is None:
        return ",".join(dict.fromkeys(names))
    try:
        return str(module.NodeSet.fromlist(names, resolver=module.RESOLVER_NOGROUP))
    except (module.NodeSetException, ValueError, TypeError):
        return ",".join(dict.fromkeys(names))


def nodeset_of(hosts: Iterable[Any]) -> Any:
    """A ClusterShell `NodeSet` of ``hosts``, or None when a name cannot be
    held by one (IPv6 literals...) or ClusterShell cannot be imported."""
    module = _cluster_shell()
    if module is None:
        return None
    try:
        return module.NodeSet.fromlist([str(getattr(h, "address", h)) for h in hosts],
                                       resolver=module.RESOLVER_NOGROUP)
    except (module.NodeSetException, ValueError, TypeError):
        return None
