"""execo_g5k: Grid5000 services (OAR, kadeploy, the REST API) on top of execo."""

from execo_g5k.config import (default_frontend_connection_params,
                              default_frontend_connexion_params, default_oarsh_oarcp_params,
                              g5k_configuration)
