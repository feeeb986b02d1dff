"""OAR, Grid5000's batch scheduler, through its command-line tools.

Every function runs ``oarsub``/``oarstat``/``oardel`` on a frontend (see
`execo_g5k.frontend`), several frontends in parallel where it applies.
Failures to reach a frontend are results, not exceptions, unless asked
(``abort_on_error``): an experiment spanning sites should learn which site
failed and go on with the others.

Job information is read from ``oarstat -J`` (JSON): the tabular outputs
change with OAR versions and locales, the JSON keys do not.

The tutorial's example, on a site with two clusters::

    jobs = oarsub([(OarSubmission(resources="/cluster=2/nodes=2"), "nancy")])
    job_id, frontend = jobs[0]
    if wait_oar_job_start(job_id, frontend):
        nodes = get_oar_job_nodes(job_id, frontend)
        Remote("echo $OAR_JOB_ID", nodes,
               connection_params=default_oarsh_oarcp_params).run()
    oardel(jobs)
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from execo.action import ProcessesFailed
from execo.exception import ExecoTypeError
from execo.host import Host
from execo.log import logger
from execo.time_utils import Date, Duration, Timer, get_seconds, sleep
from execo_g5k.config import g5k_configuration
from execo_g5k.exception import G5kValueError
from execo_g5k.frontend import (frontend_process, get_frontend_host,  # noqa: F401 (2.x path)
                                resolve_timeout)
from execo_g5k.oar_common import date_window, in_date_window, natural_sorted, run_all
from execo_g5k.oar_submission import (OarSubmission, format_oar_date, format_oar_duration,
                                      get_oarsub_commandline, oar_date_to_unixts,
                                      oar_duration_to_seconds, oarsub_command_line)

__all__ = ["OarSubmission", "OarOutputError", "format_oar_date", "format_oar_duration",
           "get_current_oar_jobs", "get_oar_job_info", "get_oar_job_kavlan",
           "get_oar_job_nodes", "get_oar_job_subnets", "get_oarsub_commandline",
           "oar_date_to_unixts", "oar_duration_to_seconds", "oardel", "oarsub",
           "oarsub_command_line", "oarsubgrid", "parse_oarstat_json", "wait_oar_job_start"]

JobSpec = Tuple["OarSubmission", Optional[str]]
JobRef = Tuple[Optional[int], Optional[str]]

_ENDED_STATES = frozenset(("Terminated", "Error", "Finishing", "toError"))
_JOB_ID = re.compile(r'^OAR_JOB_ID=(\d+)\s*$', re.MULTILINE)


class OarOutputError(G5kValueError):
    """An OAR tool printed something we cannot read (version mismatch, a
    banner on stdout...): the message quotes the command and the output."""


def oarsub(job_specs: Iterable[JobSpec],
           frontend_connection_params: Optional[Mapping[str, Any]] = None,
           timeout: Any = False, abort_on_error: bool = False) -> List[JobRef]:
    """Submit jobs, each to its frontend, all in parallel.

    :param job_specs: ``(OarSubmission, frontend)`` pairs; frontend None is
      the default frontend.
    :param timeout: seconds per submission; False: the configured
      ``default_timeout``; None: no limit.
    :param abort_on_error: raise `ProcessesFailed` if any submission failed.
    :returns: ``(job_id, frontend)`` pairs in the order of ``job_specs``,
      ``job_id`` None for a failed submission (its reason is logged: an
      unreachable frontend, a request OAR refused...).

    >>> oarsub([(OarSubmission("nodes=1"), "nancy")])  # doctest: +SKIP
    [(1234, 'nancy')]
    """
    specs = list(job_specs)
    processes = []
    for submission, frontend in specs:
        if not isinstance(submission, OarSubmission):
            raise ExecoTypeError("oarsub takes (OarSubmission, frontend) pairs, got %r"
                            % ((submission, frontend),))
        processes.append(frontend_process(oarsub_command_line(submission), frontend,
                                          frontend_connection_params, timeout))
    run_all(processes)
    results: List[JobRef] = []
    failed = []
    for (_, frontend), process in zip(specs, processes):
        match = _JOB_ID.search(process.stdout) if process.ok else None
        if match is None:
            failed.append(process)
            if process.ok:
                # oarsub exited 0 without an id: say so, nobody else will
                logger.warning("oarsub on %s printed no OAR_JOB_ID: %s", frontend,
                               (process.stdout + process.stderr).strip()[-500:])
        results.append((int(match.group(1)) if match else None, frontend))
    if failed and abort_on_error:
        raise ProcessesFailed(failed)
    return results


def oardel(job_specs: Iterable[JobRef],
           frontend_connection_params: Optional[Mapping[str, Any]] = None,
           timeout: Any = False) -> None:
    """Delete jobs; one ``oardel`` per frontend, frontends in parallel.

    Jobs already gone, unknown or not ours are skipped silently: cleaning
    up at the end of an experiment must not fail because a job ended first.
    ``None`` ids (failed submissions from `oarsub`) are skipped too.
    """
    by_frontend: Dict[Optional[str], List[int]] = {}
    for job_id, frontend in job_specs:
        if job_id is not None:
            by_frontend.setdefault(frontend, []).append(int(job_id))
    processes = [frontend_process("oardel " + " ".join(str(i) for i in ids), frontend,
                                  frontend_connection_params, timeout,
                                  nolog_exit_code=True)
                 for frontend, ids in by_frontend.items()]
    run_all(processes)
    for process in processes:
        if process.error or process.timeouted:
            logger.warning("oardel failed: %s", process.error_reason or "timeout")


# ---- job information ----------------------------------------------------------------

def parse_oarstat_json(text: str, command: str = "oarstat -J") -> Dict[str, Any]:
    """The JSON object ``oarstat -J`` printed, ``{}`` for no output (OAR
    prints nothing for an unknown job).

    Lines before the JSON (a login banner...) are skipped.

    >>> parse_oarstat_json('{"12": {"state": "Running"}}')
    {'12': {'state': 'Running'}}
    """
    start = text.find("{")
    if start < 0:
        if text.strip():
            raise OarOutputError("%s printed no JSON object: %r" % (command, text[:300]))
        return {}
    try:
        data = json.loads(text[start:])
    except ValueError as exc:
        raise OarOutputError("cannot parse the output of %s as JSON (%s): %r"
                             % (command, exc, text[:300])) from None
    if not isinstance(data, dict):
        raise OarOutputError("%s printed JSON that is not an object: %r"
                             % (command, text[:300]))
    return data


def _positive(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def _job_info(raw: Mapping[str, Any]) -> Dict[str, Any]:
    """oarstat's JSON for one job, under the names execo has always used."""
    info: Dict[str, Any] = {}
    for key, source in (('state', 'state'), ('name', 'name'), ('owner', 'owner'),
                        ('queue', 'queue'), ('message', 'message'),
                        ('reservation', 'reservation'), ('command', 'command')):
        if source in raw:
            info[key] = raw[source]
    for key, source in (('start_date', 'startTime'), ('scheduled_start', 'scheduledStart'),
                        ('stop_date', 'stopTime'), ('submission_date', 'submissionTime'),
                        ('walltime', 'walltime')):
        value = _positive(raw.get(source))
        if value is not None:
            info[key] = value
    info['types'] = list(raw.get('types') or [])
    info['nodes'] = natural_sorted(raw.get('assigned_network_address') or [])
    reserved = raw.get('reserved_resources') or {}
    if isinstance(reserved, dict):
        info['reserved_nodes'] = natural_sorted(
            {r.get('network_address') for r in reserved.values()
             if isinstance(r, dict) and r.get('network_address')})
    return info


def _job_id_or_env(oar_job_id: Optional[int]) -> int:
    if oar_job_id is not None:
        return int(oar_job_id)
    if 'OAR_JOB_ID' in os.environ:
        return int(os.environ['OAR_JOB_ID'])
    raise G5kValueError("no OAR job id given and no OAR_JOB_ID in the environment")


def _oarstat_jobs(job_ids: Sequence[int], frontend: Optional[str],
                  frontend_connection_params: Optional[Mapping[str, Any]], timeout: Any,
                  **process_kwargs: Any) -> Dict[int, Dict[str, Any]]:
    command = "oarstat -J " + " ".join("-fj %d" % i for i in job_ids)
    process = frontend_process(command, frontend, frontend_connection_params, timeout,
                               **process_kwargs).run()
    if not process.ok:
        raise ProcessesFailed([process])
    data = parse_oarstat_json(process.stdout, "%r on %s" % (command, frontend))
    return {int(job_id): _job_info(raw) for job_id, raw in data.items()
            if isinstance(raw, dict)}


def get_oar_job_info(oar_job_id: Optional[int] = None, frontend: Optional[str] = None,
                     frontend_connection_params: Optional[Mapping[str, Any]] = None,
                     timeout: Any = False, nolog_exit_code: bool = False,
                     nolog_timeout: bool = False, nolog_error: bool = False
                     ) -> Dict[str, Any]:
    """What OAR knows of a job, ``{}`` if it does not know it.

    Keys, when OAR has a value: ``state`` ('Waiting', 'Launching',
    'Running', 'Terminated', 'Error'...), ``start_date`` (unix time; the
    reserved date for an advance reservation), ``scheduled_start`` (the
    scheduler's prediction, changes until the job starts), ``walltime``
    (seconds), ``name``, ``owner``, ``queue``, ``types``, ``nodes``
    (assigned hosts), ``reserved_nodes``, ``stop_date``, ``message``.

    Raises `ProcessesFailed` when oarstat could not be run and
    `OarOutputError` when its output is not the expected JSON.

    >>> get_oar_job_info(1234, "nancy")['state']  # doctest: +SKIP
    'Running'
    """
    job_id = _job_id_or_env(oar_job_id)
    jobs = _oarstat_jobs([job_id], frontend, frontend_connection_params, timeout,
                         nolog_exit_code=nolog_exit_code, nolog_timeout=nolog_timeout,
                         nolog_error=nolog_error)
    return jobs.get(job_id, {})


def get_current_oar_jobs(frontends: Optional[Iterable[Optional[str]]] = None,
                         start_between: Optional[Sequence[Date]] = None,
                         end_between: Optional[Sequence[Date]] = None,
                         frontend_connection_params: Optional[Mapping[str, Any]] = None,
                         timeout: Any = False, abort_on_error: bool = False
                         ) -> List[JobRef]:
    """Our jobs not ended yet, as ``(job_id, frontend)`` pairs.

    :param frontends: where to look (None: the default frontend).
    :param start_between: ``(low, high)`` dates: keep jobs whose start date
      (the reserved one for an advance reservation, the predicted one for a
      waiting job) is within; either bound may be None.
    :param end_between: the same for the end date (start + walltime).
    :param abort_on_error: raise `ProcessesFailed` if a frontend failed;
      otherwise its jobs are missing from the result (and it is logged).

    >>> get_current_oar_jobs(["nancy"], start_between=(time.time(), None))  # doctest: +SKIP
    [(1234, 'nancy')]
    """
    frontend_list = list(frontends) if frontends is not None else [None]
    starts, ends = date_window(start_between), date_window(end_between)
    processes = [frontend_process("oarstat -J -u", frontend, frontend_connection_params,
                                  timeout)
                 for frontend in frontend_list]
    run_all(processes)
    failed = [process for process in processes if not process.ok]
    if failed and abort_on_error:
        raise ProcessesFailed(failed)
    result: List[JobRef] = []
    for frontend, process in zip(frontend_list, processes):
        if not process.ok:
            continue
        job_ids = sorted(int(i) for i in
                         parse_oarstat_json(process.stdout, "'oarstat -J -u' on %s" % frontend))
        if job_ids and (starts is not None or ends is not None):
            # the listing lacks walltimes and predictions: ask for details
            try:
                infos = _oarstat_jobs(job_ids, frontend, frontend_connection_params, timeout)
            except ProcessesFailed:
                if abort_on_error:
                    raise
                continue
            job_ids = [i for i in job_ids if _dates_match(infos.get(i, {}), starts, ends)]
        result.extend((job_id, frontend) for job_id in job_ids)
    return result


def _dates_match(info: Mapping[str, Any], starts: Optional[Tuple[float, float]],
                 ends: Optional[Tuple[float, float]]) -> bool:
    start = info.get('start_date', info.get('scheduled_start'))
    end = start + info['walltime'] if start is not None and 'walltime' in info else None
    return in_date_window(start, starts) and in_date_window(end, ends)


# ---- waiting for a job and using it ---------------------------------------------------

def wait_oar_job_start(oar_job_id: Optional[int] = None, frontend: Optional[str] = None,
                       frontend_connection_params: Optional[Mapping[str, Any]] = None,
                       timeout: Any = None,
                       prediction_callback: Optional[Callable[[float], Any]] = None) -> bool:
    """Wait until a job runs: True once it is Running, False if it ended
    (Error, Terminated), OAR does not know it, or ``timeout`` expired.

    OAR has no notification: its state is polled, every
    ``g5k_configuration['polling_interval']`` seconds while the start is
    far, at the predicted start date when it is near, then every
    ``tiny_polling_interval`` seconds once that date has passed.
    ``prediction_callback(start_date)`` is called each time the predicted
    start changes. Frontend failures while polling are logged and polling
    goes on: a flaky ssh connection must not end a long wait.

    >>> wait_oar_job_start(1234, "nancy", timeout=600)  # doctest: +SKIP
    True
    """
    job_id = _job_id_or_env(oar_job_id)
    countdown = Timer(timeout)
    prediction: Optional[float] = None
    while True:
        remaining = countdown.remaining()
        if remaining is not None and remaining <= 0:
            return False
        try:
            info = get_oar_job_info(job_id, frontend, frontend_connection_params,
                                    timeout=remaining, nolog_exit_code=True,
                                    nolog_timeout=True, nolog_error=True)
        except ProcessesFailed as exc:
            logger.warning("polling OAR job %s on %s failed, retrying: %s", job_id, frontend,
                           "; ".join(str(p.error_reason or p.exit_code)
                                     for p in exc.processes))
            info = None
        if info == {}:
            logger.warning("OAR job %s is unknown on %s", job_id, frontend)
            return False
        if info:
            state = info.get('state')
            new_prediction = info.get('start_date', info.get('scheduled_start'))
            if new_prediction is not None and new_prediction != prediction:
                prediction = new_prediction
                if prediction_callback is not None:
                    prediction_callback(prediction)
            if state == 'Running':
                return True
            if state in _ENDED_STATES:
                return False
        _sleep_before_next_poll(prediction, countdown)


def _sleep_before_next_poll(prediction: Optional[float], countdown: Timer) -> None:
    now = time.time()
    interval = get_seconds(g5k_configuration.get('polling_interval'))
    if prediction is not None and now >= prediction:
        interval = get_seconds(g5k_configuration.get('tiny_polling_interval'))
    elif prediction is not None and prediction - now < interval:
        interval = prediction - now
    remaining = countdown.remaining()
    if remaining is not None:
        interval = min(interval, max(remaining, 0.0))
    sleep(interval)


# a query made after a wait that used up the caller's timeout still gets
# this long: the wait's outcome is known, the query itself is quick
_QUERY_GRACE = 1.0


def _query_timeout(countdown: Timer) -> Optional[float]:
    """What is left of ``countdown`` for a query that follows a wait: never
    negative (a Process refuses that), at least `_QUERY_GRACE`."""
    remaining = countdown.remaining()
    return None if remaining is None else max(remaining, _QUERY_GRACE)


def get_oar_job_nodes(oar_job_id: Optional[int] = None, frontend: Optional[str] = None,
                      frontend_connection_params: Optional[Mapping[str, Any]] = None,
                      timeout: Any = False) -> List[Host]:
    """The hosts of a job, sorted; waits for the job start (OAR chooses the
    nodes of a waiting job only when it starts).

    Empty if the job did not start within ``timeout``, or is unknown.

    >>> get_oar_job_nodes(1234, "nancy")  # doctest: +SKIP
    [Host('griffon-1.nancy.grid5000.fr'), Host('griffon-2.nancy.grid5000.fr')]
    """
    job_id = _job_id_or_env(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining())
    info = get_oar_job_info(job_id, frontend, frontend_connection_params,
                            timeout=_query_timeout(countdown))
    return [Host(name) for name in info.get('nodes', [])]


def get_oar_job_subnets(oar_job_id: Optional[int] = None, frontend: Optional[str] = None,
                        frontend_connection_params: Optional[Mapping[str, Any]] = None,
                        timeout: Any = False) -> Tuple[List[Tuple[str, str]], Dict[str, str]]:
    """The subnets reserved by a job: ``([(ip, mac)...], network_params)``.

    Asked to Grid5000's ``g5k-subnets`` on the frontend after the job
    started; ``network_params`` has ``ip_prefix``, ``broadcast``,
    ``netmask``, ``gateway``, ``network``, ``dns_hostname``, ``dns_ip``
    (empty if the job has no subnet). Raises `ProcessesFailed` if
    g5k-subnets failed (e.g. it is not installed: not a Grid5000 site).
    """
    job_id = _job_id_or_env(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining())
    processes = [frontend_process("g5k-subnets %s -j %d" % (options, job_id), frontend,
                                  frontend_connection_params, _query_timeout(countdown))
                 for options in ("-i -m", "-a")]
    run_all(processes)
    if not all(process.ok for process in processes):
        raise ProcessesFailed([process for process in processes if not process.ok])
    addresses = re.findall(r'^(\S+)\s+(\S+)\s*$', processes[0].stdout, re.MULTILINE)
    fields = processes[1].stdout.strip().split('\t')
    names = ('ip_prefix', 'broadcast', 'netmask', 'gateway', 'network', 'dns_hostname',
             'dns_ip')
    params = dict(zip(names, fields)) if len(fields) == len(names) else {}
    return addresses, params


def get_oar_job_kavlan(oar_job_id: Optional[int] = None, frontend: Optional[str] = None,
                       frontend_connection_params: Optional[Mapping[str, Any]] = None,
                       timeout: Any = False) -> List[int]:
    """The kavlan VLAN ids of a job, from Grid5000's ``kavlan -V`` on the
    frontend once the job started; ``[]`` for a job without VLAN or where
    kavlan is not available."""
    job_id = _job_id_or_env(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining())
    process = frontend_process("kavlan -V -j %d" % job_id, frontend,
                               frontend_connection_params, _query_timeout(countdown),
                               ignore_exit_code=True, nolog_exit_code=True).run()
    if process.error or process.timeouted:
        raise ProcessesFailed([process])
    if process.exit_code != 0:
        return []
    return [int(word) for word in process.stdout.split() if word.isdigit()]


def oarsubgrid(job_specs: Iterable[JobSpec], reservation_date: Date = None,
               walltime: Duration = None, job_type: Union[None, str, Sequence[str]] = None,
               queue: Optional[str] = None, directory: Optional[str] = None,
               additional_options: Optional[str] = None,
               frontend_connection_params: Optional[Mapping[str, Any]] = None,
               timeout: Any = False) -> List[JobRef]:
    """One job per frontend, all or none: oargrid's service on today's Grid5000.

    The submissions' reservation date, walltime, job type, queue, directory
    and additional options are replaced by the arguments (copies are
    submitted; the caller's submissions are untouched), so the jobs are
    alike and, with a ``reservation_date``, start together. If any
    submission fails the others are deleted and ``[]`` is returned.

    >>> oarsubgrid([(OarSubmission("nodes=2"), "nancy"),  # doctest: +SKIP
    ...             (OarSubmission("nodes=2"), "rennes")], walltime="1:00:00")
    [(1234, 'nancy'), (5678, 'rennes')]
    """
    specs = [(submission.copy(reservation_date=reservation_date, walltime=walltime,
                              job_type=job_type, queue=queue, directory=directory,
                              additional_options=additional_options), frontend)
             for submission, frontend in job_specs]
    jobs = oarsub(specs, frontend_connection_params, timeout)
    if all(job_id is not None for job_id, _ in jobs):
        return jobs
    oardel([job for job in jobs if job[0] is not None], frontend_connection_params, timeout)
    return []


# execo 2.x names this module served (see execo_g5k.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
from execo_g5k.compat import G5K_HOMES, G5K_LEGACY_MODULES  # noqa: E402
__getattr__ = legacy_getattr(__name__, G5K_LEGACY_MODULES, G5K_HOMES)
__dir__ = legacy_dir(__name__, globals(), G5K_LEGACY_MODULES)
