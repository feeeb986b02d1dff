"""Per-host substitutions in commands and file paths: ``{{{host}}}`` and ``{{expr}}``.

An action over N hosts takes ONE command template and turns it into N
command lines. ``{{{host}}}`` becomes the address ssh connects to;
``{{expr}}`` becomes ``expr[i % len(expr)]`` for the i-th host, ``expr``
being evaluated where the user wrote the action, so that the tutorial's

    targets = list(reversed(hosts))
    clients = Remote("./iperf -c {{targets}}", hosts)

sends each client to another host.

Expressions are evaluated once, when the action is built: a typo is a
`SubstitutionError` raised to the caller before anything runs, and no
frame (with every local of the caller) is kept alive by the action.

Values go into the command RAW: users build command lines with them
(``{{options}}`` may hold several words). A value that must stay one word
whatever it holds (a file name, a message) is written ``{{quoted(expr)}}``:
`quoted` is known inside every expression, without an import.

A template is CODE: ``{{expr}}`` runs as Python in the caller's frame.
It must never be built from data (a file name listed on a node, a job's
output): data goes into a command as a ``{{expr}}`` value, as an item of
a list command (never substituted), or, for file names, wrapped in
`literal` (never substituted, never a glob pattern).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections import abc
from types import FrameType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from execo.exception import ExecoValueError

__all__ = ["HOST_TAG", "Literal", "SubstitutionError", "Template", "caller_namespace",
           "has_expressions", "literal", "quoted", "remote_substitute"]

HOST_TAG = "{{{host}}}"
# Shortest text between "{{" and "}}": several expressions may share a line.
_EXPRESSION = re.compile(r"\{\{(.+?)\}\}", re.DOTALL)


class SubstitutionError(ExecoValueError):
    """A ``{{expr}}`` that cannot be evaluated, or is not a non-empty sequence."""

    def __init__(self, expression: str, template: str, reason: str) -> None:
        self.expression = expression
        self.template = template
        super().__init__("substitution {{%s}} in %r: %s" % (expression, template, reason))


class Literal(str):
    """A string that is data, not a template: see `literal`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "literal(%s)" % (str.__repr__(self),)


def literal(text: str) -> Literal:
    """``text`` as plain data: no ``{{{host}}}``/``{{expr}}`` substitution
    where templates are expected (`Put`/`Get` file names and locations),
    and for `Get`, a name rather than a glob pattern.

    Wrap every name that comes from outside the script (listed on a node,
    read from a job's output): a template is code.

    >>> names = ["{{__import__('os').getcwd()}}", "a[1]"]
    >>> [Template(literal(n)).render("h", 0) for n in names] == names
    True
    """
    if not isinstance(text, str):
        raise TypeError("literal() takes a string, not %r" % (text,))
    return Literal(text)


def has_expressions(template: str) -> bool:
    """True if ``template`` holds a ``{{expr}}`` (the host tag aside)."""
    if isinstance(template, Literal):
        return False
    return any(_EXPRESSION.search(part) for part in template.split(HOST_TAG))


def caller_namespace(is_internal: Callable[[FrameType], bool]) -> Dict[str, Any]:
    """Globals and locals of the first frame, going outwards, that is not
    execo's own, merged into one dict.

    Merged because ``eval`` runs a comprehension in a nested scope that
    only sees the globals it is given: with separate dicts,
    ``{{[t.address for t in targets]}}`` would not find a local ``targets``.
    """
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and is_internal(frame):
        frame = frame.f_back
    if frame is None:
        return {}
    try:
        namespace = dict(frame.f_globals)
        namespace.update(frame.f_locals)
        return namespace
    finally:
        del frame  # a frame reference would keep the caller's locals alive


def quoted(values: Iterable[Any]) -> List[str]:
    """Each value as ONE word of a POSIX shell command (`shlex.quote`), for
    ``{{quoted(expr)}}``: the remote shell then reads ``'; touch X #'`` as
    text, not as a second command.

    >>> names = ["a b", "; touch X #", "$(touch X)"]
    >>> Template("ls {{quoted(names)}}", {"names": names}).render("h", 1)
    "ls '; touch X #'"
    """
    if isinstance(values, (str, bytes)):
        values = [values]
    return [shlex.quote(str(value)) for value in values]


def _evaluate(expression: str, template: str, namespace: Dict[str, Any]) -> Sequence[Any]:
    if "quoted" in expression and "quoted" not in namespace:
        namespace = dict(namespace, quoted=quoted)  # the user's own name wins
    try:
        code = compile(expression.strip(), "<execo substitution {{%s}}>" % expression, "eval")
        value = eval(code, namespace)  # noqa: S307 - the user's own expression
    except Exception as exc:
        raise SubstitutionError(expression, template,
                                "%s: %s" % (type(exc).__name__, exc)) from exc
    if not (hasattr(value, "__len__") and hasattr(value, "__getitem__")):
        value = _ordered_as_list(value, expression, template)
    if len(value) == 0:
        raise SubstitutionError(expression, template, "gives an empty sequence")
    return value


def _ordered_as_list(value: Any, expression: str, template: str) -> List[Any]:
    """A sized iterable with a defined order (``d.keys()``, ``d.values()``:
    lists in Python 2, whose scripts write them so) taken as a list; an
    unordered one (a set) is refused, since host i would get whatever
    element the set happens to yield i-th."""
    ordered_views = (abc.KeysView, abc.ItemsView, abc.ValuesView)
    if isinstance(value, abc.Set) and not isinstance(value, ordered_views):
        raise SubstitutionError(expression, template,
                                "gives %s %r, which has no order to index by host position: "
                                "sort it ({{sorted(...)}})" % (type(value).__name__, value))
    if not (hasattr(value, "__len__") and hasattr(value, "__iter__")):
        raise SubstitutionError(expression, template,
                                "gives %s %r, not a sequence to index by host position"
                                % (type(value).__name__, value))
    return list(value)


class Template:
    """A command or path with its expressions evaluated, ready to render per host.

    >>> targets = ["b", "a"]
    >>> t = Template("ping {{targets}} from {{{host}}}", {"targets": targets})
    >>> t.render("a", 0), t.render("b", 1)
    ('ping b from a', 'ping a from b')
    """

    __slots__ = ("template", "_parts")

    def __init__(self, template: str, namespace: Optional[Dict[str, Any]] = None) -> None:
        self.template = template
        # Between host tags: alternating literal text and evaluated sequences.
        self._parts: List[List[Any]] = []
        if isinstance(template, Literal):
            self._parts.append([template])
            return
        for segment in template.split(HOST_TAG):
            pieces: List[Any] = []
            position = 0
            for match in _EXPRESSION.finditer(segment):
                pieces.append(segment[position:match.start()])
                if namespace is None:
                    raise SubstitutionError(match.group(1), template,
                                            "no namespace to evaluate it in")
                pieces.append(_evaluate(match.group(1), template, namespace))
                position = match.end()
            pieces.append(segment[position:])
            self._parts.append(pieces)

    @property
    def is_constant(self) -> bool:
        """The same text for every host: no tag, no expression."""
        return len(self._parts) == 1 and len(self._parts[0]) == 1

    def render(self, address: str, index: int) -> str:
        """The text for the host at position ``index``, connected to as ``address``."""
        if self.is_constant:
            return self.template  # a `Literal` stays one
        segments = []
        for pieces in self._parts:
            rendered = []
            for position, piece in enumerate(pieces):
                if position % 2:
                    rendered.append(str(piece[index % len(piece)]))
                else:
                    rendered.append(piece)
            segments.append("".join(rendered))
        return address.join(segments)

    def __repr__(self) -> str:
        return "Template(%r)" % (self.template,)


def remote_substitute(string: str, all_hosts: Sequence[Any], index: int,
                      frame_context: Tuple[Dict[str, Any], Dict[str, Any]]) -> str:
    """execo 2.x's entry point: substitute for ``all_hosts[index]``, evaluating
    expressions in ``frame_context`` = (globals, locals)."""
    namespace = dict(frame_context[0] or {})
    namespace.update(frame_context[1] or {})
    host = all_hosts[index]
    address = getattr(host, "address", host)
    return Template(string, namespace).render(address, index)
