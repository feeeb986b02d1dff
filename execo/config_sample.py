"""Writes ``execo.conf.py.sample`` from the live default configuration.

Generating the sample (``python -m execo.config_sample > execo.conf.py.sample``)
and checking it in the tests keeps it from drifting away from the defaults:
a key added to a dict without a line of documentation here fails the tests.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Mapping

DOCS: Dict[str, Dict[str, str]] = {
    'configuration': {
        'log_level': "level of the 'execo' logger (logging.DEBUG=10 ... logging.ERROR=40)",
        'remote_tool': "tool of get_remote(): SSH=0 or TAKTUK=2, read at each call",
        'fileput_tool': "tool of get_fileput(): SCP=1, TAKTUK=2 or CHAINPUT=3",
        'fileget_tool': "tool of get_fileget(): SCP=1 or TAKTUK=2",
        'compact_output_threshold': "dump() and logs show only the head and tail of outputs "
                                    "longer than this (0: everything)",
        'kill_timeout': "seconds between the SIGTERM of kill() and a SIGKILL if the process "
                        "is still alive",
        'kill_childs_at_end': "kill the processes still running when the script exits",
        'color_mode': "colour logs and reports (default: when stdout and stderr are ttys)",
        'color_styles': "ANSI attributes of each style name and log level",
        'port_range': "(first, end) of the ports handed out by execo helpers",
        'intr_period': "unused (kept so that execo 2.x configuration files still load)",
    },
    'default_connection_params': {
        'user': "remote login (None: ssh's default)",
        'keyfile': "ssh private key (None: ssh's default)",
        'port': "ssh port (None: ssh's default)",
        'ssh': "ssh client command",
        'scp': "scp client command",
        'taktuk': "taktuk command",
        'ssh_options': "options given to ssh before the host",
        'scp_options': "options given to scp",
        'taktuk_options': "options given to taktuk",
        'taktuk_connector': "command taktuk uses to reach a host",
        'taktuk_connector_options': "options of the taktuk connector",
        'host_rewrite_func': "function(address) -> address actually connected to",
        'pty': "allocate a remote pseudo-terminal",
        'kill_remote_on_disconnect': "wrap remote commands so that they die with their ssh "
                                     "connection (needed to kill them without a pty)",
        'connection_sharing': "opt-in ssh ControlMaster: False, or seconds a shared "
                              "connection stays open after its last use (True: 60)",
        'nc': "netcat command (ChainPut)",
        'chainput_nc_client_timeout': "ChainPut: seconds a hop waits to reach the next one",
        'chainput_nc_server_timeout': "ChainPut: seconds a hop waits for the previous one",
        'chainput_host_retry': "ChainPut: tries to reach the next hop",
        'chainput_chain_retry': "ChainPut: new next hops tried when one fails",
        'chainput_try_delay': "ChainPut: seconds between two tries",
        'forwarding_timeout': "PortForwarder: seconds allowed to open the forwarded port",
    },
    'g5k_configuration': {
        'kadeploy3': "kadeploy3 command",
        'kadeploy3_options': "kadeploy3 options, as one string",
        'kaconsole3': "kaconsole3 command",
        'default_env_name': "environment deployed when a Deployment names none",
        'default_env_file': "environment file deployed when a Deployment gives none",
        'check_deployed_command': "shell command exiting 0 on a node already deployed",
        'default_timeout': "seconds allowed to calls to Grid5000 services (not deployments)",
        'no_ssh_for_local_frontend': "run frontend commands without ssh on the frontend itself",
        'polling_interval': "seconds between two polls (e.g. waiting for a job)",
        'tiny_polling_interval': "seconds between polls once a job's start date has passed",
        'default_frontend': "frontend used when none is given",
        'host_site_func': "function(address) -> site, for names without a Grid5000 domain",
        'api_uri': "base URI of the Grid5000 REST API",
        'api_username': "API login (None: no authentication, as inside Grid5000)",
        'api_additional_args': "query arguments added to every API request",
        'api_timeout': "seconds allowed to one API call, retries included",
        'api_verify_ssl_cert': "check the API's TLS certificate (or a CA bundle path)",
        'api_retries': "retries of a failed API call (5xx, connection errors)",
        'api_retry_delay': "seconds before the first retry, doubled at each one",
        'api_cache_dir': "directory of the on-disk API cache (None: no disk cache)",
        'api_cache_max_age': "seconds during which a cached API answer is used",
        'oargridsub': "oargridsub command (None: oargridsub)",
        'oargridstat': "oargridstat command (None: oargridstat)",
        'oargriddel': "oargriddel command (None: oargriddel)",
        'oar_job_key_file': "ssh key given to oarsub -k -i (path on the frontend)",
        'planning_source': "where get_planning reads the jobs: 'api' (Grid5000 REST API) "
                           "or 'postgresql' (OAR's database, needs psycopg)",
        'oar_pgsql_ro_host': "OAR database host for the 'postgresql' planning source "
                             "({site} is replaced by the site)",
        'oar_pgsql_ro_db': "OAR database name (read-only access)",
        'oar_pgsql_ro_user': "OAR database read-only user",
        'oar_pgsql_ro_password': "OAR database read-only password",
        'oar_pgsql_ro_port': "OAR database port",
    },
    'default_frontend_connection_params': {
        'pty': "allocate a remote pseudo-terminal on frontends",
        'host_rewrite_func': "function(site) -> frontend address",
    },
    'default_oarsh_oarcp_params': {
        'user': "nodes of an OAR job are reached as user oar ...",
        'port': "... on OAR's sshd port ...",
        'keyfile': "... with the job key (default: $OAR_JOB_KEY_FILE)",
        'ssh': "ssh client command",
        'scp': "scp client command",
        'taktuk_connector': "taktuk connector",
        'pty': "allocate a remote pseudo-terminal",
    },
}


def _render_value(value: Any) -> str:
    if callable(value):
        return "None,  # the default is a function, see the documentation"
    return repr(value) + ","


def live_dicts() -> Dict[str, Mapping[str, Any]]:
    """The default dicts, as the library holds them."""
    from execo.config import configuration, default_connection_params
    from execo_g5k.config import (default_frontend_connection_params,
                                  default_oarsh_oarcp_params, g5k_configuration)
    return {
        'configuration': configuration,
        'default_connection_params': default_connection_params,
        'g5k_configuration': g5k_configuration,
        'default_frontend_connection_params': default_frontend_connection_params,
        'default_oarsh_oarcp_params': default_oarsh_oarcp_params,
    }


def undocumented_keys(dicts: Mapping[str, Mapping[str, Any]]) -> List[str]:
    return ["%s[%r]" % (name, key) for name, values in dicts.items() for key in values
            if key not in DOCS.get(name, {})]


def render_sample(dicts: Mapping[str, Mapping[str, Any]]) -> str:
    """The sample file: every key, its documentation and its default, commented out."""
    lines = [
        "# execo configuration: copy this file to ~/.execo.conf.py and uncomment what you",
        "# change. It is plain python; each dict below is merged over execo's defaults",
        "# (default_connexion_params and default_frontend_connexion_params are accepted",
        "# as other spellings). Generated by: python -m execo.config_sample",
        "",
    ]
    for name, values in dicts.items():
        lines.append("# %s = {" % name)
        for key in sorted(values, key=str):
            lines.append("#     # %s" % DOCS.get(name, {}).get(key, "(undocumented)"))
            lines.append("#     %r: %s" % (key, _render_value(values[key]).replace("\n", " ")))
        lines.append("# }")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    from execo.config import configuration
    dicts = live_dicts()
    # the sample shows the shipped defaults, not this machine's colour guess
    shown = dict(dicts)
    shown['configuration'] = dict(configuration, color_mode=False)
    sys.stdout.write(render_sample(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
