"""execo: drive many local and remote processes asynchronously.

>>> from execo import *
>>> Process("echo hello").run().stdout()
'hello\\n'
"""

from execo.exception import ExecoError
from execo.config import (CHAINPUT, SCP, SSH, TAKTUK, configuration,
                          default_connection_params, default_connexion_params)
from execo.log import logger
from execo.output import (STDERR, STDOUT, ExpectOutputHandler, ProcessOutputHandler)
from execo.connection import ConnectionParams, ConnexionParams, make_connection_params
from execo.host import Host, get_hosts_list, get_hosts_set
from execo.process import Process
from execo.process_base import ProcessBase, ProcessLifecycleHandler
from execo.ssh import SshProcess, get_process
from execo.time_utils import (Timer, format_date, format_duration, get_seconds, get_unixts,
                              sleep)

__version__ = "3.0.0.dev0"

__all__ = [
    "ExecoError", "CHAINPUT", "SCP", "SSH", "TAKTUK", "configuration", "default_connection_params",
    "default_connexion_params", "logger", "STDERR", "STDOUT", "ExpectOutputHandler",
    "ProcessOutputHandler", "Process", "ProcessBase", "ProcessLifecycleHandler", "Timer",
    "format_date", "format_duration", "get_seconds", "get_unixts", "sleep",
    "ConnectionParams", "ConnexionParams", "make_connection_params", "Host", "get_hosts_list",
    "get_hosts_set", "SshProcess", "get_process",
]

# Actions, substitutions and reports
from execo.action import Action, ActionLifecycleHandler, ActionsFailed, ProcessesFailed
from execo.local import Local
from execo.action_group import (ParallelActions, SequentialActions, wait_all_actions,
                                wait_any_actions)
from execo.factory import default_action_factory, get_fileget, get_fileput, get_remote
from execo.remote import Get, Put, Remote, filter_bad_hosts
from execo.substitution import literal
from execo.report import Report
from execo.report import load_results
from execo.taktuk import TaktukGet, TaktukPut, TaktukRemote
from execo.chainput import ChainPut
from execo.port_forwarder import PortForwarder
from execo.serial import RemoteSerial, Serial, SerialSsh

__all__ += [
    "Action", "ActionLifecycleHandler", "ActionsFailed", "Local", "ParallelActions",
    "ProcessesFailed", "SequentialActions", "wait_all_actions", "wait_any_actions",
    "default_action_factory", "get_fileget", "get_fileput", "get_remote", "Get", "Put",
    "Remote", "filter_bad_hosts", "literal",
    "Report", "load_results", "TaktukGet", "TaktukPut", "TaktukRemote", "ChainPut", "PortForwarder",
    "RemoteSerial", "Serial", "SerialSsh",
]

# every transport above has declared its connection params: the keys the
# user's configuration file gave can now be checked
from execo.config import declarations_done  # noqa: E402
declarations_done()
