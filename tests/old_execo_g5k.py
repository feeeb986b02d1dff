"""execo 2.8.2's execo_g5k, run in its own virtualenv, for planning comparisons.

2.8.2's ``execo_g5k`` imports requests at import time, so the virtualenv of
``tests.old_execo`` gets it here (once). ``run_old_g5k(code, data)`` runs
``code`` with ``DATA`` (JSON given on stdin) and ``TOPOLOGY`` already loaded:
when a topology is given, 2.8.2's API cache is filled with it, so 2.8.2's
planning functions see the same sites, clusters and hosts as ours see
through the API stand-in, without any network.
"""

import json
import subprocess

from tests.old_execo import _clean_env, old_execo_python, run_old_execo

__all__ = ["old_g5k_python", "run_old_g5k"]

_ready = False

PRELUDE = r'''
import json, sys
_input = json.load(sys.stdin)
DATA = _input["data"]
TOPOLOGY = _input["topology"]
if TOPOLOGY is not None:
    import execo_g5k.api_utils as _api
    _api._data = {
        "version": "standin", "network": {site: {} for site in TOPOLOGY["hierarchy"]},
        "sites": {site: {"uid": site} for site in TOPOLOGY["hierarchy"]},
        "clusters": {c: {"uid": c, "queues": q} for c, q in TOPOLOGY["queues"].items()},
        "hosts": {h: {"uid": h, "architecture": {"nb_cores": TOPOLOGY.get("cores", {}).get(h)}}
                  for site in TOPOLOGY["hierarchy"].values()
                  for hosts in site.values() for h in hosts},
        "hierarchy": TOPOLOGY["hierarchy"],
    }
'''


def old_g5k_python() -> str:
    """The 2.8.2 interpreter, with what its execo_g5k needs to import."""
    global _ready
    python = old_execo_python()
    if not _ready:
        probe = subprocess.run([python, "-c", "import requests"], capture_output=True,
                               env=_clean_env(), cwd="/")
        if probe.returncode != 0:
            subprocess.run([python, "-m", "pip", "install", "-q", "requests"], check=True,
                           env=_clean_env(), cwd="/")
        _ready = True
    return python


def run_old_g5k(code: str, data=None, topology=None, env=None, timeout: float = 300):
    """Run ``code`` under execo 2.8.2 (see the module docstring); its last
    printed line, JSON, is returned."""
    old_g5k_python()
    stdin = json.dumps({"data": data, "topology": topology})
    return run_old_execo(PRELUDE + code, stdin=stdin, env=env, timeout=timeout)
