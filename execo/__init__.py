"""execo: drive many local and remote processes asynchronously.

>>> from execo import *
>>> Process("echo hello").run().stdout()
'hello\\n'
"""

from execo.config import (CHAINPUT, SCP, SSH, TAKTUK, configuration,
                          default_connection_params, default_connexion_params)
from execo.log import logger
from execo.output import (STDERR, STDOUT, ExpectOutputHandler, ProcessOutputHandler)
from execo.process import Process
from execo.process_base import ProcessBase, ProcessLifecycleHandler
from execo.time_utils import (Timer, format_date, format_duration, get_seconds, get_unixts,
                              sleep)

__version__ = "3.0.0.dev0"

__all__ = [
    "CHAINPUT", "SCP", "SSH", "TAKTUK", "configuration", "default_connection_params",
    "default_connexion_params", "logger", "STDERR", "STDOUT", "ExpectOutputHandler",
    "ProcessOutputHandler", "Process", "ProcessBase", "ProcessLifecycleHandler", "Timer",
    "format_date", "format_duration", "get_seconds", "get_unixts", "sleep",
]
