"""execo_engine: long-running experiment scripts on top of execo.

`Engine` is the skeleton of a script (options, result directory, outputs
and log); `sweep` and `ParamSweeper` expand parameters into combinations
and hand them out crash-safely, to one process or many, compatibly with
execo 2.x's files. execo itself never imports this package.
"""

from execo_engine.engine import Engine
from execo_engine.log import logger
from execo_engine.sweep import (HashableDict, ParamSweeper, SweepStateError, geom, igeom, sweep,
                                sweep_stats)
from execo_engine.utils import copy_outputs, redirect_outputs, slugify

__all__ = ["Engine", "logger", "HashableDict", "ParamSweeper", "SweepStateError", "geom",
           "igeom", "sweep", "sweep_stats", "slugify", "copy_outputs", "redirect_outputs"]
