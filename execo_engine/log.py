"""``execo_engine.logger``: the logger of experiment scripts.

It is the ``execo.engine`` logger, a child of execo's ``execo`` logger:
its records reach the console through execo's handler (and any handler
you add to ``execo``), and `execo_engine.engine.Engine` adds the run's
log file there. It shows INFO and above unless you set its level (an
Engine's ``-l`` option does), independently of execo's own level.
It also has 2.x's extra levels: ``logger.detail()``, ``logger.trace()``...
"""

from __future__ import annotations

import logging

import execo.log  # noqa: F401  (the "execo" logger and its console handler)

__all__ = ["logger", "EngineLogger", "DETAIL", "TRACE"]

# execo 2.x's levels and logger methods, from execo.log (so that "-l 15"
# means what it meant)
from execo.log import DETAIL, TRACE, Logger  # noqa: E402


class EngineLogger(Logger):
    """execo's logger class: 2.x's ``detail``, ``trace``, ``fdebug`` and
    ``iodebug`` levels."""


def _engine_logger(name: str) -> EngineLogger:
    manager = logging.Logger.manager
    existing = manager.loggerDict.get(name)
    if isinstance(existing, EngineLogger):
        return existing
    if isinstance(existing, logging.Logger):
        # created earlier as a plain logger (by logging.getLogger): upgrade it in place
        existing.__class__ = EngineLogger
        return existing
    previous = manager.loggerClass
    manager.setLoggerClass(EngineLogger)
    try:
        return logging.getLogger(name)   # type: ignore[return-value]
    finally:
        manager.loggerClass = previous


logger = _engine_logger("execo.engine")
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)
