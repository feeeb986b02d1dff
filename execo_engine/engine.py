"""`Engine`: the skeleton of a long-running experiment script.

A script subclasses `Engine`, adds its options to ``args_parser`` in
``__init__``, and puts its work in ``init`` and ``run``;
``MyEngine().start()`` then parses the command line, makes the run's
result directory (or reuses one given with ``-c DIR``, to go on with an
interrupted run), sends the outputs and the log there, and calls the
methods.

Call order, as in execo 2.x (scripts rely on it): ``start`` calls every
``init`` defined by a class of the instance's hierarchy, each once, in
method resolution order (the subclass's first, ``Engine``'s last), then
every ``run`` the same way. They are called by ``start``, not through
``super()``: an ``init`` must not call ``super().init()``, or the parent's
runs twice.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from argparse import ArgumentParser
from typing import List, Optional

from execo_engine.log import logger
from execo_engine.utils import copy_outputs, redirect_outputs

__all__ = ["Engine", "run_meth_on_engine_ancestors", "copy_outputs", "redirect_outputs",
           "LOG_FILE_NAME"]

# The arguments when this module was imported. For ``ipython -i script.py
# -- options``: ipython shows the script its own options in sys.argv while
# loading it, and its own later, when the engine is started from the prompt.
_ENGINE_ARGS = sys.argv[1:]

LOG_FILE_NAME = "engine.log"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_meth_on_engine_ancestors(instance: "Engine", method_name: str) -> None:
    """Call ``method_name`` as defined by each `Engine` class of
    ``instance``'s hierarchy, each once, in method resolution order
    (subclass first). A class that does not define it is passed over."""
    for cls in type(instance).__mro__:
        if issubclass(cls, Engine) and method_name in vars(cls):
            vars(cls)[method_name].__get__(instance, cls)()


class Engine:
    """Subclass it; ``MyEngine().start()`` runs the experiment. See the module doc.

    Attributes set for ``init`` and ``run``: ``args`` (the parsed command
    line), ``run_name``, ``result_dir`` (absolute unless given with
    ``-c``), ``engine_dir`` (where the script's file is, or None).
    Example::

        class Ping(Engine):
            def __init__(self):
                super().__init__()
                self.args_parser.add_argument("hosts", nargs="+")

            def run(self):
                Remote("ping -c 1 {{{host}}}", self.args.hosts).run()

        if __name__ == "__main__":
            Ping().start()
    """

    def __init__(self) -> None:
        module = sys.modules.get(type(self).__module__)
        module_file = getattr(module, "__file__", None)
        self.engine_dir: Optional[str] = (
            os.path.dirname(os.path.realpath(module_file)) if module_file else None)
        self.args_parser = ArgumentParser(usage="<program> [options] <arguments>",
                                          description="engine: " + type(self).__name__)
        self._add_engine_options(self.args_parser)
        self.args = None
        self.run_name: Optional[str] = None
        self.result_dir: Optional[str] = None
        self._log_handler: Optional[logging.Handler] = None

    @staticmethod
    def _add_engine_options(parser: ArgumentParser) -> None:
        # the option letters and destinations of 2.x: scripts read self.args.use_dir...
        parser.add_argument("-l", dest="log_level", default=None,
                            help="log level of execo_engine.logger (a number or a name "
                                 "like DEBUG). Default: INFO")
        parser.add_argument("-L", dest="output_mode", action="store_const", const="copy",
                            default=False,
                            help="copy stdout and stderr to files in the result directory")
        parser.add_argument("-R", dest="output_mode", action="store_const", const="redirect",
                            help="redirect stdout and stderr to files in the result directory")
        parser.add_argument("-M", dest="merge_outputs", action="store_true", default=False,
                            help="with -L or -R: one file for both, stdout+stderr")
        parser.add_argument("-c", dest="use_dir", default=None, metavar="DIR",
                            help="use (continue in) the result directory DIR")

    def start(self, engineargs: List[str] = _ENGINE_ARGS) -> None:
        """Parse ``engineargs`` (default: the command line), set the run up,
        then call every ``init``, then every ``run`` (see the module doc).

        On Ctrl-C (``KeyboardInterrupt``) the log says how to continue the
        run, then the interruption goes on up.
        """
        self.args = self.args_parser.parse_args(args=engineargs)
        if self.args.log_level is not None:
            level = self.args.log_level
            try:
                logger.setLevel(int(level) if level.lstrip("-").isdigit() else level.upper())
            except ValueError:
                self.args_parser.error("-l %s: not a log level (a number, or a name such "
                                       "as DEBUG, INFO, WARNING)" % level)
        self.setup_run_name()
        if self.args.use_dir:
            self.result_dir = self.args.use_dir
        else:
            self.setup_result_dir()
        os.makedirs(self.result_dir, exist_ok=True)
        self._setup_outputs()
        self._setup_log_file()
        logger.info("command line: %s", " ".join(shlex.quote(a) for a in sys.argv))
        logger.info("run %s in directory %s", self.run_name, self.result_dir)
        try:
            run_meth_on_engine_ancestors(self, "init")
            run_meth_on_engine_ancestors(self, "run")
        except KeyboardInterrupt:
            logger.warning("interrupted; to go on with this run: %s",
                           self._continue_command())
            raise
        finally:
            self._close_log_file()

    def _continue_command(self) -> str:
        words = [sys.executable] + sys.argv
        if self.args.use_dir:
            return " ".join(shlex.quote(w) for w in words)
        return " ".join(shlex.quote(w) for w in words[:2] + ["-c", self.result_dir] + words[2:])

    def _setup_outputs(self) -> None:
        if not self.args.output_mode:
            return
        if self.args.merge_outputs:
            stdout_name = stderr_name = os.path.join(self.result_dir, "stdout+stderr")
        else:
            stdout_name = os.path.join(self.result_dir, "stdout")
            stderr_name = os.path.join(self.result_dir, "stderr")
        if self.args.output_mode == "copy":
            copy_outputs(stdout_name, stderr_name)
            logger.info("copying stdout and stderr to %s and %s", stdout_name, stderr_name)
        else:
            redirect_outputs(stdout_name, stderr_name)
            logger.info("stdout and stderr redirected to %s and %s", stdout_name, stderr_name)

    def _setup_log_file(self) -> None:
        """The run's log file gets what the console gets from execo's loggers
        (engine and core), appended when a run is continued."""
        self._close_log_file()
        self._log_handler = logging.FileHandler(os.path.join(self.result_dir, LOG_FILE_NAME))
        self._log_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logging.getLogger("execo").addHandler(self._log_handler)

    def _close_log_file(self) -> None:
        """The file gets the log of ``start()`` only: an engine started
        from an ipython prompt must not keep logging into an old run."""
        if self._log_handler is not None:
            logging.getLogger("execo").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    # -- what subclasses override ------------------------------------

    def setup_run_name(self) -> None:
        """Set ``run_name``. Default: the class name and the date and time."""
        self.run_name = type(self).__name__ + "_" + time.strftime("%Y%m%d_%H%M%S_%z")

    def setup_result_dir(self) -> None:
        """Set ``result_dir`` (not called with ``-c``). Default: ``run_name``
        in the current directory."""
        self.result_dir = os.path.abspath(self.run_name)

    def init(self) -> None:
        """The experiment's preparation: override it (see the module doc for the order)."""

    def run(self) -> None:
        """The experiment: override it (see the module doc for the order)."""
