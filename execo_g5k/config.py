"""Grid5000 settings: plain dicts merged with ``~/.execo.conf.py``.

Like ``execo.config``, the dicts are updated in place and read when used,
so a change made at run time is seen by the next call.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from execo.config import load_configuration

__all__ = ['default_frontend_connection_params', 'default_frontend_connexion_params',
           'default_oarsh_oarcp_params', 'g5k_configuration',
           'make_default_frontend_connection_params', 'make_default_oarsh_oarcp_params']

g5k_configuration: Dict[str, Any] = {
    # kadeploy3 command line (see execo_g5k.kadeploy).
    'kadeploy3': 'kadeploy3',
    'kadeploy3_options': '-k -d',
    # kaconsole3 command (see execo_g5k.kaconsole).
    'kaconsole3': 'kaconsole3',
    'default_env_name': None,
    'default_env_file': None,
    # shell command that exits 0 on a node already running the wanted
    # environment; deploy() skips such nodes.
    'check_deployed_command': "! (mount | grep -E '^/dev/[[:alpha:]]+2 on / ')",
    # seconds allowed to every call to a Grid5000 service but deployments.
    'default_timeout': 900,
    # run OAR commands directly (no ssh) when we are on the frontend itself.
    'no_ssh_for_local_frontend': False,
    # seconds between two polls (e.g. waiting for a job to start); the tiny
    # one is used once a job's start date has passed.
    'polling_interval': 20,
    'tiny_polling_interval': 10,
    'default_frontend': None,
    # function(host address) -> site, for names without a Grid5000 domain
    # (a test bed, aliases); None: from the domain, else the default
    # frontend, else the REST API.
    'host_site_func': None,
    # Grid5000 REST API.
    'api_uri': "https://api.grid5000.fr/3.0/",
    'api_username': None,
    'api_additional_args': {},
    'api_timeout': 30,
    'api_verify_ssl_cert': True,
    # failed API calls (5xx, connection errors) are retried this many times,
    # waiting api_retry_delay seconds, doubled at each try (at most 30 s).
    'api_retries': 3,
    'api_retry_delay': 1.0,
    # where API answers are cached on disk (None: no disk cache), and for
    # how many seconds a cached answer is fresh.
    'api_cache_dir': os.path.join('~', '.execo', 'g5k_api_cache'),
    'api_cache_max_age': 24 * 3600,
    # ssh key given to oarsub -k -i (path as seen from the frontend).
    'oar_job_key_file': None,
    # oargrid commands (None: the tool's own name).
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
}


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


# Connection params for the frontends (merged over default_connection_params).
default_frontend_connection_params: Dict[str, Any] = make_default_frontend_connection_params()
default_frontend_connexion_params = default_frontend_connection_params

# Connection params for the nodes of an OAR job.
default_oarsh_oarcp_params: Dict[str, Any] = make_default_oarsh_oarcp_params()

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
