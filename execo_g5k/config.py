"""Grid5000 settings: plain dicts merged with ``~/.execo.conf.py``.

Like ``execo.config``, the dicts are updated in place and read when used,
so a change made at run time is seen by the next call.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from execo.config import WatchedDict, documented_dicts, load_configuration, register_known_keys

__all__ = ['default_frontend_connection_params', 'default_frontend_connexion_params',
           'default_oarsh_oarcp_params', 'g5k_configuration', 'FromConfiguration',
           'make_default_frontend_connection_params', 'make_default_oarsh_oarcp_params',
           'G5K_DOCS']

class FromConfiguration:
    """A parameter's default: ``g5k_configuration[key]``, read at each call.

    execo 2.x evaluated such defaults once, when execo_g5k was imported (its
    signatures show the value found then: ``APIConnection(timeout=30)``);
    read when used, they follow a configuration changed by the script after
    its imports. Passing a value, ``None`` included, overrides it as in 2.x.

    >>> FromConfiguration('api_timeout').value()
    30
    """

    __slots__ = ('key',)

    def __init__(self, key: str) -> None:
        self.key = key

    def __repr__(self) -> str:
        return 'g5k_configuration[%r]' % (self.key,)

    def value(self) -> Any:
        return g5k_configuration[self.key]

    @staticmethod
    def resolve(given: Any) -> Any:
        """``given``, or the configuration's value if it is a `FromConfiguration`."""
        return given.value() if isinstance(given, FromConfiguration) else given


# a dict that warns about a key it does not know (execo.config.check_keys)
g5k_configuration: Dict[str, Any] = WatchedDict({
    'kadeploy3': 'kadeploy3',
    'kadeploy3_options': '-k -d',
    'kaconsole3': 'kaconsole3',
    'default_env_name': None,
    'default_env_file': None,
    'check_deployed_command': "! (mount | grep -E '^/dev/[[:alpha:]]+2 on / ')",
    'default_timeout': 900,
    'no_ssh_for_local_frontend': False,
    'polling_interval': 20,
    'tiny_polling_interval': 10,
    'default_frontend': None,
    'host_site_func': None,
    'api_uri': "https://api.grid5000.fr/3.0/",
    'api_username': None,
    'api_additional_args': {},
    'api_timeout': 30,
    'api_verify_ssl_cert': True,
    'api_retries': 3,
    'api_retry_delay': 1.0,
    'api_cache_dir': os.path.join('~', '.execo', 'g5k_api_cache'),
    'api_cache_max_age': 24 * 3600,
    'oar_job_key_file': None,
    # the time zone in which OAR servers read and write dates (oarsub -r,
    # oargridsub -s, oarstat): Grid5000's are in France's, wherever the
    # script runs; None: this machine's (an OAR server next to the script)
    'oar_timezone': 'Europe/Paris',
    'oargridsub': None,
    'oargridstat': None,
    'oargriddel': None,
    # where get_planning reads jobs: 'api' (the REST API) or 'postgresql'
    # (OAR's database, needs psycopg; see execo_g5k.planning_sources).
    'planning_source': 'api',
    'oar_pgsql_ro_host': 'oardb.{site}.grid5000.fr',
    'oar_pgsql_ro_db': 'oar2',
    'oar_pgsql_ro_user': 'oarreader',
    'oar_pgsql_ro_password': 'read',
    'oar_pgsql_ro_port': 5432,
}, kind='g5k_configuration')


def make_default_frontend_connection_params() -> Dict[str, Any]:
    """A new dict of the built-in connection params for frontends (merged
    over ``default_connection_params``), whatever the user's configuration
    file changed: a base for params of one's own.

    >>> make_default_frontend_connection_params()['pty']
    True
    """
    return {
        'pty': True,
        'host_rewrite_func': lambda host: host + ".grid5000.fr",
    }


def make_default_oarsh_oarcp_params() -> Dict[str, Any]:
    """A new dict of the built-in connection params that reach a node inside
    an OAR job the way oarsh does: user oar on port 6667 with the job key
    (``OAR_JOB_KEY_FILE``, read now).

    >>> make_default_oarsh_oarcp_params()['port']
    6667
    """
    return {
        'user': 'oar',
        'port': 6667,
        'keyfile': os.environ.get('OAR_JOB_KEY_FILE'),
        'ssh': 'ssh',
        'scp': 'scp',
        'taktuk_connector': 'ssh',
        'pty': True,
    }


default_frontend_connection_params: Dict[str, Any] = make_default_frontend_connection_params()
default_frontend_connexion_params = default_frontend_connection_params

default_oarsh_oarcp_params: Dict[str, Any] = make_default_oarsh_oarcp_params()

# The documentation of every key, in this one place (see execo.config).
G5K_DOCS: Dict[str, Dict[str, str]] = {
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
        'api_timeout': "seconds allowed to one API call, retries included (None: no bound)",
        'api_verify_ssl_cert': "check the API's TLS certificate (or a CA bundle path)",
        'api_retries': "retries of a failed API call (5xx, connection errors)",
        'api_retry_delay': "seconds before the first retry, doubled at each one",
        'api_cache_dir': "directory of the on-disk API cache (None: no disk cache)",
        'api_cache_max_age': "seconds during which a cached API answer is used",
        'oargridsub': "oargridsub command (None: oargridsub)",
        'oargridstat': "oargridstat command (None: oargridstat)",
        'oargriddel': "oargriddel command (None: oargriddel)",
        'oar_job_key_file': "ssh key given to oarsub -k -i (path on the frontend)",
        'oar_timezone': "time zone of the dates OAR servers read and write (oarsub -r, "
                        "oarstat): Grid5000's are in Europe/Paris; None: this machine's",
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

# the keys of execo 2.8.2's g5k_configuration, accepted whatever happens to them
_G5K_CONFIGURATION_2X = (
    'api_additional_args', 'api_timeout', 'api_uri', 'api_username', 'api_verify_ssl_cert',
    'check_deployed_command', 'default_env_file', 'default_env_name', 'default_frontend',
    'default_timeout', 'kadeploy3', 'kadeploy3_options', 'no_ssh_for_local_frontend',
    'oar_job_key_file', 'oar_pgsql_ro_db', 'oar_pgsql_ro_password', 'oar_pgsql_ro_port',
    'oar_pgsql_ro_user', 'polling_interval', 'tiny_polling_interval')
register_known_keys('g5k_configuration', G5K_DOCS['g5k_configuration'], _G5K_CONFIGURATION_2X)

documented_dicts.update({
    'g5k_configuration': (g5k_configuration, G5K_DOCS['g5k_configuration']),
    'default_frontend_connection_params': (default_frontend_connection_params,
                                           G5K_DOCS['default_frontend_connection_params']),
    'default_oarsh_oarcp_params': (default_oarsh_oarcp_params,
                                   G5K_DOCS['default_oarsh_oarcp_params']),
})

load_configuration({
    'g5k_configuration': g5k_configuration,
    'default_frontend_connection_params': default_frontend_connection_params,
    'default_frontend_connexion_params': default_frontend_connection_params,
    'default_oarsh_oarcp_params': default_oarsh_oarcp_params,
})


# execo 2.x names this module served (see execo_g5k.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES  # noqa: E402
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)
__dir__ = legacy_dir(__name__, globals(), G5K_LEGACY_MODULES)
