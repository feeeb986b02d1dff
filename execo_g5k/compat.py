"""execo_g5k's share of execo 2.x's import paths: the names 2.x's
execo_g5k modules served (most of them merely imported from execo), and
where each lives now.

The same mechanism as `execo.compat` (a PEP 562 ``__getattr__`` per 2.x
module, the home imported only when a script asks), with a table of its
own: the core never learns the extension's names.
"""

from __future__ import annotations

from typing import Dict, List

__all__ = ["G5K_HOMES", "G5K_LEGACY_MODULES", "G5K_NETWORK_NAMES"]

# execo_g5k.api_network's names, which 2.x's api_utils defined
G5K_NETWORK_NAMES = (
    'get_cluster_jobtypes', 'get_cluster_network_equipments', 'get_cluster_queues',
    'get_host_network_equipments', 'get_hosts_metric', 'get_network_equipment_attributes',
    'get_network_equipment_site', 'get_site_network_equipments', 'set_nodes_vlan',
)

G5K_HOMES: Dict[str, str] = {
    "ExpectOutputHandler": "execo", "Remote": "execo", "SshProcess": "execo",
    "get_hosts_set": "execo", "get_process": "execo", "make_connection_params": "execo",
    "format_date": "execo", "format_duration": "execo", "get_seconds": "execo",
    "get_unixts": "execo", "Host": "execo", "ActionFactory": "execo.factory",
    "comma_join": "execo.utils", "checked_min": "execo.utils",
    "singleton_to_collection": "execo.utils", "compact_output": "execo.output",
    "format_seconds": "execo.time_utils", "str_date_to_unixts": "execo.time_utils",
    "str_duration_to_seconds": "execo.time_utils",
    "get_user_config_filename": "execo.config",
    "G5kAutoPortForwarder": "execo_g5k.utils", "datetime_to_unixts": "execo.time_utils",
    "format_oar_date": "execo_g5k.oar", "format_unixts": "execo.time_utils",
    "get_site_clusters": "execo_g5k.api_utils", "memoize": "execo.utils",
    "get_host_attributes": "execo_g5k.api_utils",
    "get_resource_attributes": "execo_g5k.api_utils",
    "timedelta_to_seconds": "execo.time_utils", "unixts_to_datetime": "execo.time_utils",
    **{name: "execo_g5k.api_network" for name in G5K_NETWORK_NAMES},
}

G5K_LEGACY_MODULES: Dict[str, List[str]] = {
    "execo_g5k.api_utils": ["get_seconds", "get_unixts", "singleton_to_collection",
                            *G5K_NETWORK_NAMES],
    "execo_g5k.config": ["get_user_config_filename"],
    "execo_g5k.kadeploy": [
        "ExpectOutputHandler", "Host", "Remote", "SshProcess", "comma_join", "compact_output",
        "format_seconds", "get_hosts_set", "get_process", "make_connection_params",
        "singleton_to_collection",
    ],
    "execo_g5k.oar": [
        "checked_min", "comma_join", "format_date", "format_duration", "get_process", "get_unixts",
        "make_connection_params", "singleton_to_collection", "str_date_to_unixts",
        "str_duration_to_seconds",
    ],
    "execo_g5k.utils": ["ActionFactory"],
    "execo_g5k.charter": [
        "G5kAutoPortForwarder", "datetime_to_unixts", "format_oar_date", "format_seconds",
        "format_unixts", "get_site_clusters", "memoize",
    ],
    "execo_g5k.planning": [
        "G5kAutoPortForwarder", "format_date", "get_host_attributes", "get_resource_attributes",
        "get_seconds", "timedelta_to_seconds", "unixts_to_datetime",
    ],
}
