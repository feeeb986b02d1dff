"""The "execo" logger and the ANSI styles used by logs, dumps and reports."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

from execo.config import configuration
from execo.progress import bars_cleared

__all__ = ["ConsoleHandler", "Described", "call_safely", "colorize", "log_safely", "logger",
           "style"]

_ANSI = {
    'default': 0, 'bold': 1, 'underline': 4, 'blink': 5, 'reverse': 7, 'concealed': 8,
    'black': 30, 'red': 31, 'green': 32, 'yellow': 33, 'blue': 34, 'magenta': 35,
    'cyan': 36, 'white': 37,
    'on_black': 40, 'on_red': 41, 'on_green': 42, 'on_yellow': 43, 'on_blue': 44,
    'on_magenta': 45, 'on_cyan': 46, 'on_white': 47,
}


def colorize(text: str, style_name) -> str:
    """``text`` wrapped in the ANSI codes of ``style_name``, if colours are on.

    Both the switch and the styles are read at each call, so they can be
    changed at run time.
    """
    if not configuration.get('color_mode'):
        return text
    attributes = configuration.get('color_styles', {}).get(style_name)
    if not attributes:
        return text
    codes = ";".join(str(_ANSI[a]) for a in attributes if a in _ANSI)
    return "\033[%sm%s\033[0m" % (codes, text)


class Styler:
    """``style.emph(s)``, ``style.host(s)``...: one function per style name;
    ``style.set(name, s)`` for a name held in a variable (2.x's spelling)."""

    def set(self, style: str, string: str) -> str:
        return colorize(string, style)

    def __getattr__(self, name: str):
        if name.startswith('_'):
            raise AttributeError(name)
        return lambda text: colorize(text, name)


style = Styler()


class Described:
    """repr() and str() of processes and actions, from two lists: the
    constructor arguments worth showing (``_args``) and the state
    (``_infos``)."""

    def _args(self) -> list:
        return []

    def _infos(self) -> list:
        return []

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join(self._args()))

    def __str__(self) -> str:
        return "<%s(%s)>" % (style.object_repr(type(self).__name__),
                             ", ".join(self._args() + self._infos()))

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """IPython shows an evaluated process or action with its state
        (``str()``), not only its constructor arguments (``repr()``)."""
        printer.text(repr(self) if cycle else str(self))


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        header = "%s %s" % (self.formatTime(record), record.levelname)
        return "%s %s" % (colorize(header, record.levelno), record.getMessage()) + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else "")


# execo 2.x's levels between logging's own, with their logger methods
DETAIL = 15   # what a script's user may want to follow, more than INFO
TRACE = 12    # each process's start and end
FDEBUG = 5    # execo's own internals
IODEBUG = 3   # every chunk of output read
for _level, _name in ((DETAIL, "DETAIL"), (TRACE, "TRACE"), (FDEBUG, "FDEBUG"),
                      (IODEBUG, "IODEBUG")):
    logging.addLevelName(_level, _name)


class Logger(logging.Logger):
    """The "execo" logger: logging's, plus 2.x's ``detail``, ``trace``,
    ``fdebug`` and ``iodebug``, at the levels of the same names."""

    def _log_at(self, level: int, message: str, args: tuple, kwargs: dict) -> None:
        if self.isEnabledFor(level):
            # the record names the script's line, not this method's
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2
            self._log(level, message, args, **kwargs)

    def detail(self, message: str, *args, **kwargs) -> None:
        self._log_at(DETAIL, message, args, kwargs)

    def trace(self, message: str, *args, **kwargs) -> None:
        self._log_at(TRACE, message, args, kwargs)

    def fdebug(self, message: str, *args, **kwargs) -> None:
        self._log_at(FDEBUG, message, args, kwargs)

    def iodebug(self, message: str, *args, **kwargs) -> None:
        self._log_at(IODEBUG, message, args, kwargs)


class ConsoleHandler(logging.StreamHandler):
    """execo's console output, for programs that did not configure logging.

    The "execo" logger propagates, as a library's logger should: once the
    program gives the root logger a handler (``logging.basicConfig``,
    ``dictConfig``, pytest, a notebook's setup), execo's records reach it
    there, and this handler stays quiet so that nothing shows twice. Until
    then it writes them to the ``sys.stderr`` of the moment (IPython and
    pytest replace it).
    """

    def __init__(self) -> None:
        super().__init__()
        self._fixed_stream = None

    @property
    def stream(self):  # type: ignore[override]
        return self._fixed_stream if self._fixed_stream is not None else sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        # StreamHandler.__init__ and setStream() assign it; sys.stderr
        # itself means "whatever sys.stderr is when writing"
        self._fixed_stream = None if value is sys.stderr else value

    def filter(self, record: logging.LogRecord) -> bool:
        return not logging.root.handlers and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        # a progress bar on the same terminal is cleared, then redrawn below
        with bars_cleared(self.stream):
            super().emit(record)


logger = logging.getLogger("execo")
# "execo" may exist already (a script configured logging first): it only
# gains methods, so its class can be switched in place
logger.__class__ = Logger
if logger.handlers:
    # the program gave "execo" its own handlers before importing us
    logger_handler = logger.handlers[0]
else:
    logger_handler = ConsoleHandler()
    logger_handler.setFormatter(_Formatter())
    logger.addHandler(logger_handler)
logger.setLevel(configuration.get('log_level', logging.WARNING))
if hasattr(configuration, 'watchers'):
    configuration.watchers['log_level'] = logger.setLevel


_broken_logging_said = False


def log_safely(level: int, message: str, *args: Any) -> None:
    """``logger.log(level, message, *args)`` where nothing may break: in
    the conductor thread, and while a process or an action ends (a waiter
    sleeps until that end is recorded). logging protects a handler's
    ``emit`` only when the handler catches (``handleError``); a Filter, or
    an ``emit`` of the program's own that raises, raises here. That is
    written to stderr once, and the caller goes on."""
    try:
        logger.log(level, message, *args, stacklevel=2)
    except Exception:
        _say_logging_is_broken()


def call_safely(function: Any, message: str, *args: Any) -> None:
    """``function()``; what it raises is logged as an error (``message %
    args``, then the traceback), never raised: for the callbacks of a
    user and the steps of an end, which must not stop the next one."""
    try:
        function()
    except Exception:
        log_safely(logging.ERROR, message + ":\n%s", *args, traceback.format_exc())


def _say_logging_is_broken() -> None:
    global _broken_logging_said
    if _broken_logging_said:
        return
    _broken_logging_said = True
    try:
        os.write(2, ("execo: a log record could not be logged (a logging filter or "
                     "handler raised); execo goes on without it:\n%s"
                     % (traceback.format_exc(),)).encode("utf-8", "replace"))
    except Exception:  # nowhere left to say it
        pass


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
