"""execo_g5k's share of execo 2.x's import paths: the names 2.x's
execo_g5k modules served (most of them merely imported from execo), and
where each lives now.

The same mechanism as `execo.compat` (a PEP 562 ``__getattr__`` per 2.x
module, the home imported only when a script asks), with a table of its
own: the core never learns the extension's names.
"""

from __future__ import annotations

from typing import Dict, List

__all__ = ["G5K_HOMES", "G5K_LEGACY_MODULES"]

G5K_HOMES: Dict[str, str] = {
    "ExpectOutputHandler": "execo", "Remote": "execo", "SshProcess": "execo",
    "get_hosts_set": "execo", "get_process": "execo", "make_connection_params": "execo",
    "format_date": "execo", "format_duration": "execo", "get_seconds": "execo",
    "get_unixts": "execo", "ActionFactory": "execo.factory",
    "comma_join": "execo.utils", "checked_min": "execo.utils",
    "singleton_to_collection": "execo.utils", "compact_output": "execo.output",
    "format_seconds": "execo.time_utils", "str_date_to_unixts": "execo.time_utils",
    "str_duration_to_seconds": "execo.time_utils",
    "get_user_config_filename": "execo.config",
}

G5K_LEGACY_MODULES: Dict[str, List[str]] = {
    "execo_g5k.api_utils": ["get_seconds", "get_unixts", "singleton_to_collection"],
    "execo_g5k.config": ["get_user_config_filename"],
    "execo_g5k.kadeploy": [
        "ExpectOutputHandler", "Remote", "SshProcess", "comma_join", "compact_output",
        "format_seconds", "get_hosts_set", "get_process", "make_connection_params",
        "singleton_to_collection",
    ],
    "execo_g5k.oar": [
        "checked_min", "comma_join", "format_date", "format_duration", "get_process",
        "make_connection_params", "singleton_to_collection", "str_date_to_unixts",
        "str_duration_to_seconds",
    ],
    "execo_g5k.utils": ["ActionFactory"],
}
