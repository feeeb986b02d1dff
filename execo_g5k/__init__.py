"""execo_g5k: Grid5000 services (OAR, kadeploy, the REST API) on top of execo.

``from execo_g5k import *`` gives the configuration, the host-name helpers
and the API functions; ``execo_g5k.api_utils`` may also be imported on its
own, as the tutorial does. requests and keyring are imported only when the
API is used.
"""

from execo_g5k.config import (default_frontend_connection_params,
                              default_frontend_connexion_params, default_oarsh_oarcp_params,
                              g5k_configuration)
from execo_g5k.hostnames import *  # noqa: F401,F403
from execo_g5k.api import APIConnection, APIException  # noqa: F401
from execo_g5k.api_utils import *  # noqa: F401,F403
