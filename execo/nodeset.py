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

__all__ = ["MAX_EXPANDED_HOSTS", "count_hosts", "expand_nodeset", "fold_hosts", "is_nodeset",
           "nodeset_of"]

# NodeSet holds every name of a range in memory (a set of strings), and an
# action makes a process per name: past this, a typo (node-[1-100000000])
# would take minutes and gigabytes before failing with MemoryError
MAX_EXPANDED_HOSTS = 4_000_000
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_RANGE_ITEM = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*(?:/\s*(\d+)\s*)?)?\Z")

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

    size = _upper_bound(text)
    if size > MAX_EXPANDED_HOSTS:
        raise ValueError("node set %r holds up to %d hosts, more than execo expands (%d): "
                         "check its ranges" % (text, size, MAX_EXPANDED_HOSTS))
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


def _upper_bound(text: str) -> int:
    """How many names ``text`` may expand to, counted from its ranges
    without expanding them (operators counted as unions: an upper bound).
    A range this cannot read counts 1: NodeSet then says what is wrong."""
    total = 0
    for operand in _OPERATORS.split(text):
        for part in _top_level_parts(operand):
            size = 1
            for group in _BRACKETS.findall(part):
                size *= sum(_range_size(item) for item in group.split(","))
            total += size
    return total


def _range_size(item: str) -> int:
    match = _RANGE_ITEM.match(item)
    if match is None:
        return 1
    low, high, step = match.groups()
    if high is None:
        return 1
    return max(0, int(high) - int(low)) // int(step or 1) + 1


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


_READABLE: List[Any] = []  # the NodeSet subclass, made when first needed


def _readable_nodeset_class() -> Any:
    """ClusterShell's `NodeSet`, with a repr that shows its hosts.

    NodeSet has no repr of its own: at the IPython prompt a gathered
    result read ``<ClusterShell.NodeSet.NodeSet at 0x...>``. The subclass
    is made on first use, so that ``import execo`` does not load
    ClusterShell."""
    if not _READABLE:
        from ClusterShell.NodeSet import NodeSet

        class ReadableNodeSet(NodeSet):
            """A `NodeSet` whose repr is ``NodeSet('node-[1-3]')``."""

            def __repr__(self) -> str:
                return "NodeSet(%r)" % (str(self),)

            def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
                printer.text(repr(self))

            def __reduce__(self) -> Any:  # a class made in a function: pickled by its hosts
                return nodeset_of, (list(self),)

        _READABLE.append(ReadableNodeSet)
    return _READABLE[0]


def nodeset_of(hosts: Iterable[Any]) -> Any:
    """A ClusterShell `NodeSet` of ``hosts``, or None when a name cannot be
    held by one (IPv6 literals...) or ClusterShell cannot be imported. Its
    repr shows the folded hosts.

    >>> nodeset_of(["node-2", "node-1", "node-3"])
    NodeSet('node-[1-3]')
    """
    module = _cluster_shell()
    if module is None:
        return None
    try:
        nodes = _readable_nodeset_class()(resolver=module.RESOLVER_NOGROUP)
        nodes.updaten([str(getattr(h, "address", h)) for h in hosts])
        return nodes
    except (module.NodeSetException, ValueError, TypeError):
        return None
