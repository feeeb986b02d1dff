"""The API stand-in, extended with the sites' OAR resources and jobs.

The Grid5000 API serves each site's OAR data; here, for a site backed by an
*OAR reader*, the stand-in serves, in the API's documented format:

- ``/sites/S/internal/oarapi/resources/details.json``: the OAR resources
  (``network_address``, ``type``, ``state``, ``maintenance``, ...);
- ``/sites/S/jobs?state=waiting,launching,running``: the current jobs
  (``uid``, ``state``, ``queue``, ``user_uid``, ``links`` with ``self``);
- ``/sites/S/jobs/ID``: one job (``started_at``, 0 until it runs;
  ``scheduled_at``, the scheduler's prediction; ``walltime`` in seconds;
  ``assigned_nodes``; ``resources_by_type``).

``real_oar_reader`` reads the REAL OAR test bed (``oarnodes -J`` and
``oarstat -J --gantt``, which holds the scheduler's predictions), at each
request, as the API does; ``static_oar_reader`` serves fixed data of the
same shape for a second site, since there is one OAR on this machine.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from g5k_api_standin import API_PREFIX, ITEM_TYPE, G5kApiStandin, _link

__all__ = ['G5kOarApiStandin', 'real_oar_reader', 'static_oar_reader']

# () -> ({resource_id: oarnodes -J item}, {job_id: oarstat --gantt job})
OarReader = Callable[[], Tuple[Dict[str, Any], Dict[str, Any]]]
_GANTT_SPAN = 60 * 86400


def real_oar_reader(run_as_user: Callable[..., Any]) -> OarReader:
    def read() -> Tuple[Dict[str, Any], Dict[str, Any]]:
        now = time.time()
        window = '%s, %s' % tuple(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t))
                                  for t in (now - 86400, now + _GANTT_SPAN))
        nodes = run_as_user('oarnodes -J', timeout=60)
        gantt = run_as_user('oarstat -J --gantt "%s"' % window, timeout=60)
        for out in (nodes, gantt):
            if out.returncode != 0:
                raise RuntimeError('OAR reader failed: %s' % out.stderr)
        return json.loads(nodes.stdout), json.loads(gantt.stdout).get('jobs') or {}
    return read


def static_oar_reader(nodes: Dict[str, Any], jobs: Dict[str, Any]) -> OarReader:
    return lambda: (nodes, jobs)


class G5kOarApiStandin(G5kApiStandin):
    """``oar_sites``: {site: OarReader}; other paths as the plain stand-in."""

    def __init__(self, oar_sites: Dict[str, OarReader], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oar_sites = oar_sites
        self._jobs: Dict[str, Dict[str, Any]] = {}
        self._jobs_lock = threading.Lock()

    def resolve(self, path: str, query: Dict[str, List[str]]) -> Optional[Dict[str, Any]]:
        parts = [p for p in path.split('/') if p]
        if len(parts) >= 3 and parts[0] == 'sites' and parts[1] in self.oar_sites:
            site = parts[1]
            if parts[2:] == ['internal', 'oarapi', 'resources', 'details.json']:
                nodes, _ = self.oar_sites[site]()
                items = [dict(node, maintenance=node.get('maintenance', 'NO'))
                         for _, node in sorted(nodes.items(), key=lambda kv: int(kv[0]))]
                return self._collection(path, items, query)
            if parts[2:] == ['jobs']:
                return self._jobs_collection(site, path, query)
            if len(parts) == 4 and parts[2] == 'jobs':
                with self._jobs_lock:
                    job = self._jobs.get(site, {}).get(parts[3])
                if job is None:  # a job not listed yet: read OAR again
                    self._jobs_collection(site, path, {})
                    with self._jobs_lock:
                        job = self._jobs.get(site, {}).get(parts[3])
                return job
        return super().resolve(path, query)

    def _jobs_collection(self, site: str, path: str, query: Dict[str, List[str]]
                         ) -> Dict[str, Any]:
        _, gantt = self.oar_sites[site]()
        jobs = {str(job_id): self._job(site, job) for job_id, job in gantt.items()}
        with self._jobs_lock:
            self._jobs[site] = jobs
        states = set(','.join(query.get('state', [])).split(',')) - {''}
        items = [{key: job[key] for key in ('uid', 'user_uid', 'state', 'queue', 'name',
                                            'links')}
                 for job in sorted(jobs.values(), key=lambda j: j['uid'])
                 if not states or job['state'] in states]
        return self._collection(path.split('?')[0], items, query)

    @staticmethod
    def _job(site: str, job: Dict[str, Any]) -> Dict[str, Any]:
        state = job['state'].lower()
        start = int(job.get('start_time') or 0)
        return {
            'uid': int(job['job_id']), 'user_uid': job.get('user'), 'state': state,
            'queue': job.get('queue_name'), 'name': job.get('job_name'),
            'walltime': int(job['walltime']),
            'started_at': start if state in ('running', 'finishing') else 0,
            'scheduled_at': start or None,
            'submitted_at': job.get('submission_time'),
            'assigned_nodes': sorted(set(job.get('network_address') or [])),
            'resources_by_type': {'cores': [str(r) for r in job.get('resource_id') or []]},
            'types': [], 'command': job.get('command'),
            'links': [_link('self', '%s/sites/%s/jobs/%s' % (API_PREFIX, site, job['job_id']),
                            ITEM_TYPE),
                      _link('parent', '%s/sites/%s' % (API_PREFIX, site), ITEM_TYPE)],
        }
