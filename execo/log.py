"""The "execo" logger and the ANSI styles used by logs, dumps and reports."""

from __future__ import annotations

import logging
import sys

from execo.config import configuration

__all__ = ["Described", "colorize", "logger", "style"]

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


class _Styles:
    """``style.emph(s)``, ``style.host(s)``...: one function per style name."""

    def __getattr__(self, name: str):
        if name.startswith('_'):
            raise AttributeError(name)
        return lambda text: colorize(text, name)


style = _Styles()


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


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        header = "%s %s" % (self.formatTime(record), record.levelname)
        return "%s %s" % (colorize(header, record.levelno), record.getMessage()) + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else "")


logger = logging.getLogger("execo")
if not logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_Formatter())
    logger.addHandler(_handler)
    logger.propagate = False
logger.setLevel(configuration.get('log_level', logging.WARNING))
if hasattr(configuration, 'watchers'):
    configuration.watchers['log_level'] = logger.setLevel
