"""Every error execo raises, under one base: `ExecoError`.

A script can catch everything execo raises with ``except ExecoError``,
and still catch an error by the builtin it stands for: an error that
replaces a builtin keeps it as a second base (`ExecoValueError` is a
`ValueError`, `ExecoTypeError` a `TypeError`...), so code written for the
builtins keeps working. Errors carry their data as attributes (the
processes, the actions, the expression...), as CPython's
``subprocess.CalledProcessError`` carries its command and return code.

Failures of processes are data first (``ok``, ``error_reason``, see
`execo.process_base`): `ProcessesFailed` and `ActionsFailed` are for
scripts that prefer an exception, and keep execo 2.x's constructors.
The extensions have their own base under this one
(``execo_g5k.exception.G5kError``).
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["ActionsFailed", "ExecoError", "ExecoKeyError", "ExecoRuntimeError",
           "ExecoTypeError", "ExecoValueError", "ProcessesFailed"]


class ExecoError(Exception):
    """Base of every error raised by execo and its extensions."""


class ExecoValueError(ExecoError, ValueError):
    """A value execo cannot use (a bad option, a bad command, a bad date...)."""


class ExecoTypeError(ExecoError, TypeError):
    """An argument of the wrong type."""


class ExecoKeyError(ExecoError, KeyError):
    """A name execo does not know (a configuration key, a host, a site...)."""


class ExecoRuntimeError(ExecoError, RuntimeError):
    """Something the machine lacks or refused (a binary, a free port...)."""


class ActionsFailed(ExecoError):
    """For scripts that prefer an exception: raise it with the failed actions.

    >>> str(ActionsFailed([])).splitlines()[0]
    '0 action(s) failed:'
    """

    def __init__(self, actions: Iterable[Any]) -> None:
        self.actions = list(actions)
        super().__init__(self.actions)

    def __str__(self) -> str:
        return "%d action(s) failed:\n%s" % (
            len(self.actions), "\n".join(" %s" % (a,) for a in self.actions))


class ProcessesFailed(ExecoError):
    """For scripts that prefer an exception: raise it with the failed processes."""

    def __init__(self, processes: Iterable[Any]) -> None:
        self.processes = list(processes)
        super().__init__(self.processes)

    def __str__(self) -> str:
        return "%d process(es) failed:\n%s" % (
            len(self.processes), "\n".join(" %s" % (p.dump(),) for p in self.processes))
