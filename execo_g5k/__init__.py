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
from execo_g5k.frontend import get_default_frontend, get_frontend_host, get_host_frontend_site  # noqa: F401
from execo_g5k.oar import (OarSubmission, format_oar_date, format_oar_duration,  # noqa: F401
                           get_current_oar_jobs, get_oar_job_info, get_oar_job_kavlan,
                           get_oar_job_nodes, get_oar_job_subnets, oardel, oarsub,
                           oarsubgrid, wait_oar_job_start)
from execo_g5k.oargrid import (get_current_oargrid_jobs, get_oargrid_job_info,  # noqa: F401
                               get_oargrid_job_nodes, get_oargrid_job_oar_jobs,
                               oargriddel, oargridsub, wait_oargrid_job_start)
from execo_g5k.kadeploy import (Deployment, Kadeployer, deploy, kadeploy_command,  # noqa: F401
                                parse_kadeploy_output)
from execo_g5k.kaconsole import KaconsoleProcess  # noqa: F401
from execo_g5k.utils import G5kAutoPortForwarder, get_kavlan_host_name  # noqa: F401
from execo_g5k.charter import g5k_charter_time, get_next_charter_period  # noqa: F401
from execo_g5k.planning import (compute_slots, distribute_hosts, find_first_slot,  # noqa: F401
                                find_free_slot, find_max_slot, get_jobs_specs, get_planning)
