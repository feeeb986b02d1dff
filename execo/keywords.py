"""Keyword arguments that say what they are: full signatures, typo hints.

Keywords travel down: ``Remote(cmd, hosts, ignore_exit_code=True)`` hands
``ignore_exit_code`` to each host's `SshProcess`, which hands what it does
not take to `Process`, then to `ProcessBase`. Each ``__init__`` therefore
ends in ``**kwargs``, which hides the real keywords from ``help()``,
``inspect.signature`` and IPython's completion, and lets a misspelled one
fail deep down, or not at all. Here, the classes get their full signature
back (`FullSignature`, a class attribute ``__signature__``), and an
action's unknown keyword is refused at once, naming the closest one
(`check_keywords`).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Collection, Dict, Iterable, List, Optional

from execo.exception import ExecoTypeError

__all__ = ["FullSignature", "action_signature", "check_keywords", "process_signature"]

_P = inspect.Parameter


def _own_init(cls: type) -> Optional[Callable[..., Any]]:
    """The __init__ that ``cls(...)`` calls first."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass is not object:
            return vars(klass)["__init__"]
    return None


def _parameters(function: Callable[..., Any]) -> List[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())[1:]  # no self


def _chain(functions: Iterable[Callable[..., Any]]) -> inspect.Signature:
    """The first function's parameters, then every later function's
    optional ones as keyword-only ones; ``**kwargs`` stays only if the
    last one has it."""
    positional: List[inspect.Parameter] = []
    keyword_only: List[inspect.Parameter] = []
    seen = set()
    var_keyword = None
    for number, function in enumerate(functions):
        var_keyword = None
        for parameter in _parameters(function):
            if parameter.kind == _P.VAR_KEYWORD:
                # ProcessBase's **_unknown only catches typos (check_keywords)
                var_keyword = parameter if parameter.name != "_unknown" else None
            elif parameter.name not in seen and parameter.kind != _P.VAR_POSITIONAL:
                if number and parameter.default is _P.empty:
                    continue  # required below: the subclass supplies it (a command...)
                seen.add(parameter.name)
                if number == 0 and parameter.kind != _P.KEYWORD_ONLY:
                    positional.append(parameter)
                else:
                    keyword_only.append(parameter.replace(kind=_P.KEYWORD_ONLY))
    tail = [var_keyword] if var_keyword is not None else []
    return inspect.Signature(positional + keyword_only + tail)


def _process_inits(cls: type) -> List[Callable[..., Any]]:
    """The __init__ methods a process's keywords go through, down to the
    first one that takes no ``**kwargs``."""
    inits = []
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        inits.append(init)
        if not any(p.kind == _P.VAR_KEYWORD and p.name != "_unknown"
                   for p in _parameters(init)):
            break
    return inits


def process_signature(cls: type) -> inspect.Signature:
    return _chain(_process_inits(cls))


def action_signature(cls: type, action_class: type, process_class: type) -> inspect.Signature:
    """The action's own parameters, then those of ``action_class`` (the
    base every action derives from), then, for actions whose keywords
    reach their processes (those taking ``process_args``), the keywords of
    ``process_class`` (its command aside). The classes are given, not
    imported: this module is below every one of them."""
    own = _own_init(cls)
    action_init = vars(action_class)["__init__"]
    functions: List[Callable[..., Any]] = [own] if own is not None else []
    if own is not action_init:
        functions.append(action_init)
    signature = _chain(functions)
    if own is None or "process_args" not in inspect.signature(own).parameters:
        return signature
    names = set(signature.parameters)
    extra = [p.replace(kind=_P.KEYWORD_ONLY)
             for p in inspect.signature(process_class).parameters.values()
             if p.name not in names and p.name != "cmd" and p.kind != _P.VAR_KEYWORD]
    return signature.replace(parameters=list(signature.parameters.values()) + extra)


class FullSignature:
    """``__signature__`` of a class, computed for each subclass when first
    asked for: ``inspect.signature(Remote)`` shows every keyword."""

    def __init__(self, build: Callable[[type], inspect.Signature]) -> None:
        self._build = build
        self._cache: Dict[type, inspect.Signature] = {}

    def __get__(self, instance: Any, owner: type) -> inspect.Signature:
        signature = self._cache.get(owner)
        if signature is None:
            signature = self._cache[owner] = self._build(owner)
        return signature


def check_keywords(owner: str, given: Iterable[str], accepted: Collection[str],
                   what: str = "keyword argument") -> None:
    """Refuse a keyword not in ``accepted``, naming the closest one.

    >>> check_keywords("Remote", ["ignore_exit_cod"], ["ignore_exit_code", "timeout"])
    Traceback (most recent call last):
    ...
    execo.exception.ExecoTypeError: Remote() got an unexpected keyword argument 'ignore_exit_cod'; did you mean 'ignore_exit_code'?
    """
    for name in given:
        if name not in accepted:
            close = difflib.get_close_matches(name, sorted(accepted), n=1)
            raise ExecoTypeError("%s() got an unexpected %s %r%s" % (
                owner, what, name, "; did you mean %r?" % close[0] if close else ""))
