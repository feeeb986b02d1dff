"""oargrid: one reservation spanning several Grid5000 sites.

oargrid was retired from Grid5000 and can no longer be installed; these
functions keep scripts written for it working wherever its tools still
exist, speaking their command-line formats:

- ``oargridsub`` prints ``[OAR_GRIDSUB] Grid reservation id = <id>`` and
  ``[OAR_GRIDSUB] SSH KEY : <path>``;
- ``oargridstat`` prints a ``Reservation # <id>:`` block per grid job;
  ``oargridstat <id>`` adds ``start date : YYYY-MM-DD HH:MM:SS``,
  ``walltime : H:MM:SS`` and one ``\\t<cluster alias> --> <oar job id> (...)``
  line per site;
- ``oargridstat -w -l <id>`` waits for the jobs and lists their nodes, one
  per line.

On today's Grid5000, use `execo_g5k.oar.oarsubgrid` instead: parallel
oarsub on each site's frontend, all or nothing, same result as a list of
``(oar_job_id, frontend)``.

The tools' names come from ``g5k_configuration['oargridsub']``,
``['oargridstat']`` and ``['oargriddel']`` when set (e.g. a copy installed
outside the PATH).
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from execo.action import ProcessesFailed
from execo.host import Host
from execo.log import logger
from execo.time_utils import Date, Duration, Timer, get_unixts, sleep
from execo_g5k.config import g5k_configuration
from execo_g5k.frontend import frontend_process, resolve_timeout
from execo_g5k.oar_common import date_window, in_date_window, natural_sorted, run_all
from execo_g5k.oar_submission import OarSubmission, format_oar_date, format_oar_duration
from execo_g5k.exception import G5kValueError

__all__ = ["get_current_oargrid_jobs", "get_oargrid_job_info", "get_oargrid_job_nodes",
           "get_oargrid_job_oar_jobs", "oargriddel", "oargridsub", "wait_oargrid_job_start"]

_GRID_ID = re.compile(r'^\[OAR_GRIDSUB\] Grid reservation id = (\d+)\s*$', re.MULTILINE)
_SSH_KEY = re.compile(r'^\[OAR_GRIDSUB\] SSH KEY : (\S.*?)\s*$', re.MULTILINE)
_RESERVATION = re.compile(r'^Reservation # (\d+):', re.MULTILINE)
_START_DATE = re.compile(r'^\s*start date : (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$', re.MULTILINE)
_WALLTIME = re.compile(r'^\s*walltime : (\d+:\d\d?:\d\d?)\s*$', re.MULTILINE)
_SUB_JOB = re.compile(r'^\s*([\w.-]+) --> (\d+)\b', re.MULTILINE)


def _tool(name: str) -> str:
    return g5k_configuration.get(name) or name


def _quoted(value: str) -> str:
    """oargridsub splits its resource list itself on ``,`` and ``:``; a
    value is double-quoted for it, inside the shell quoting."""
    if '"' in value:
        raise G5kValueError("oargridsub cannot take a double quote in %r" % (value,))
    return '"%s"' % (value,)


def _oargridsub_command(job_specs: Sequence[Tuple[OarSubmission, str]],
                        reservation_date: Date, walltime: Duration,
                        job_type: Union[None, str, Sequence[str]], queue: Optional[str],
                        directory: Optional[str], additional_options: Optional[str]) -> str:
    words = [_tool('oargridsub'), "-v"]
    key = g5k_configuration.get('oar_job_key_file')
    if key:
        words += ["-i", shlex.quote(key)]
    if reservation_date is not None:
        words += ["-s", shlex.quote(format_oar_date(reservation_date))]
    if queue is not None:
        words += ["-q", shlex.quote(queue)]
    if job_type is not None:
        words += ["-t", shlex.quote(job_type if isinstance(job_type, str)
                                    else ",".join(job_type))]
    if walltime is not None:
        words += ["-w", format_oar_duration(walltime)]
    if directory is not None:
        words += ["-d", shlex.quote(directory)]
    if additional_options:
        words.append(additional_options)
    clusters = []
    for submission, alias in job_specs:
        resources = submission.resources
        if resources is None:
            raise G5kValueError("oargridsub needs the resources of every cluster, %r has none"
                             % (alias,))
        parts = ["%s:rdef=%s" % (alias, _quoted("+".join([resources] if isinstance(
            resources, str) else resources)))]
        if submission.job_type is not None:
            parts.append("type=" + _quoted(submission.job_type if isinstance(
                submission.job_type, str) else ",".join(submission.job_type)))
        if submission.sql_properties is not None:
            parts.append("prop=" + _quoted(submission.sql_properties))
        if submission.name is not None:
            parts.append("name=" + _quoted(submission.name))
        clusters.append(":".join(parts))
    words.append(shlex.quote(",".join(clusters)))
    return " ".join(words)


def oargridsub(job_specs: Iterable[Tuple[OarSubmission, str]], reservation_date: Date = None,
               walltime: Duration = None, job_type: Union[None, str, Sequence[str]] = None,
               queue: Optional[str] = None, directory: Optional[str] = None,
               additional_options: Optional[str] = None,
               frontend_connection_params: Optional[Mapping[str, Any]] = None,
               timeout: Any = False, frontend: Optional[str] = None
               ) -> Tuple[Optional[int], Optional[str]]:
    """Submit one grid job: ``(OarSubmission, cluster alias)`` pairs, run
    together from ``frontend`` (default: the default frontend).

    Of each submission only the resources, job type, properties and name
    are used; dates, walltime, queue... are the grid job's, given here.

    :returns: ``(oargrid_job_id, ssh_key_path)``, ``(None, None)`` on failure
      (logged).

    >>> oargridsub([(OarSubmission("nodes=2"), "nancy"),  # doctest: +SKIP
    ...             (OarSubmission("nodes=2"), "rennes")], walltime="1:00:00")
    (4321, '/tmp/oargrid/oargrid_ssh_key_user_4321')
    """
    command = _oargridsub_command(list(job_specs), reservation_date, walltime, job_type, queue,
                                  directory, additional_options)
    process = frontend_process(command, frontend, frontend_connection_params, timeout).run()
    match = _GRID_ID.search(process.stdout) if process.ok else None
    if match is None:
        if process.ok:
            logger.warning("oargridsub printed no grid reservation id: %s",
                           (process.stdout + process.stderr).strip()[-500:])
        return None, None
    key = _SSH_KEY.search(process.stdout)
    return int(match.group(1)), key.group(1) if key else None


def oargriddel(job_ids: Iterable[int],
               frontend_connection_params: Optional[Mapping[str, Any]] = None,
               timeout: Any = False, frontend: Optional[str] = None) -> None:
    """Delete grid jobs, in parallel; jobs already gone are ignored."""
    processes = [frontend_process("%s %d" % (_tool('oargriddel'), int(job_id)), frontend,
                                  frontend_connection_params, timeout, nolog_exit_code=True)
                 for job_id in job_ids if job_id is not None]
    run_all(processes)


def _oargridstat(arguments: str, frontend: Optional[str],
                 frontend_connection_params: Optional[Mapping[str, Any]], timeout: Any) -> str:
    process = frontend_process("%s %s" % (_tool('oargridstat'), arguments), frontend,
                               frontend_connection_params, timeout).run()
    if not process.ok:
        raise ProcessesFailed([process])
    return process.stdout


def get_oargrid_job_info(oargrid_job_id: int,
                         frontend_connection_params: Optional[Mapping[str, Any]] = None,
                         timeout: Any = False, frontend: Optional[str] = None
                         ) -> Dict[str, Any]:
    """``{'start_date': unix time, 'walltime': seconds}`` of a grid job, as
    far as oargridstat tells them. Raises `ProcessesFailed` if it failed."""
    text = _oargridstat("%d" % int(oargrid_job_id), frontend, frontend_connection_params,
                        timeout)
    info: Dict[str, Any] = {}
    start = _START_DATE.search(text)
    if start:
        info['start_date'] = get_unixts(start.group(1))
    walltime = _WALLTIME.search(text)
    if walltime:
        hours, minutes, seconds = (int(f) for f in walltime.group(1).split(":"))
        info['walltime'] = hours * 3600 + minutes * 60 + seconds
    return info


def get_oargrid_job_oar_jobs(oargrid_job_id: int,
                             frontend_connection_params: Optional[Mapping[str, Any]] = None,
                             timeout: Any = False, frontend: Optional[str] = None
                             ) -> List[Tuple[int, str]]:
    """The OAR jobs making a grid job: ``[(oar_job_id, cluster alias)...]``,
    ready for the `execo_g5k.oar` functions when aliases are site names."""
    text = _oargridstat("%d" % int(oargrid_job_id), frontend, frontend_connection_params,
                        timeout)
    return [(int(job_id), alias) for alias, job_id in _SUB_JOB.findall(text)]


def get_current_oargrid_jobs(start_between: Optional[Sequence[Date]] = None,
                             end_between: Optional[Sequence[Date]] = None,
                             frontend_connection_params: Optional[Mapping[str, Any]] = None,
                             timeout: Any = False, frontend: Optional[str] = None
                             ) -> List[int]:
    """Our grid jobs' ids, optionally only those starting / ending between
    two dates (each bound may be None)."""
    job_ids = [int(i) for i in _RESERVATION.findall(
        _oargridstat("", frontend, frontend_connection_params, timeout))]
    starts, ends = date_window(start_between), date_window(end_between)
    if starts is None and ends is None:
        return job_ids
    kept = []
    for job_id in job_ids:
        info = get_oargrid_job_info(job_id, frontend_connection_params, timeout, frontend)
        start = info.get('start_date')
        end = start + info['walltime'] if start is not None and 'walltime' in info else None
        if in_date_window(start, starts) and in_date_window(end, ends):
            kept.append(job_id)
    return kept


def wait_oargrid_job_start(oargrid_job_id: int,
                           frontend_connection_params: Optional[Mapping[str, Any]] = None,
                           timeout: Any = False, frontend: Optional[str] = None) -> bool:
    """Sleep until the grid job's start date; False if ``timeout`` came first
    or oargridstat gave no start date.

    oargrid jobs are advance reservations: the start date is known at
    submission, there is nothing to poll.
    """
    countdown = Timer(resolve_timeout(timeout))
    start = get_oargrid_job_info(oargrid_job_id, frontend_connection_params,
                                 countdown.remaining(), frontend).get('start_date')
    if start is None:
        return False
    remaining = countdown.remaining()
    if remaining is not None and start > Timer().start_date() + remaining:
        sleep(max(remaining, 0.0))
        return False
    sleep(until=start)
    return True


def get_oargrid_job_nodes(oargrid_job_id: int,
                          frontend_connection_params: Optional[Mapping[str, Any]] = None,
                          timeout: Any = False, frontend: Optional[str] = None) -> List[Host]:
    """The nodes of a grid job, once its jobs run (``oargridstat -w -l``
    waits for them), sorted, each once."""
    text = _oargridstat("-w -l %d" % int(oargrid_job_id), frontend,
                        frontend_connection_params, timeout)
    names = {line.strip() for line in text.splitlines() if line.strip()}
    return [Host(name) for name in natural_sorted(names)]
