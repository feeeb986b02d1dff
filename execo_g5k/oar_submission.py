"""What to ask OAR for: `OarSubmission` and the oarsub command line it makes.

Kept apart from `execo_g5k.oar`, which runs the tools: building and
checking a request needs no frontend, so it is testable and usable offline
(e.g. to print the command a script would run).
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import time
import zoneinfo
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from execo.time_utils import Date, Duration, get_seconds, get_unixts
from execo_g5k.config import g5k_configuration
from execo.exception import ExecoRuntimeError, ExecoTypeError
from execo_g5k.exception import G5kValueError

__all__ = ["DEFAULT_COMMAND", "ORIGIN_TYPE", "OarSubmission", "format_oar_date",
           "format_oar_duration", "get_oarsub_commandline", "oar_date_to_unixts",
           "oar_duration_to_seconds", "oarsub_command_line"]

# What a job runs when the submission names no command: OAR ends a job
# when its command exits, and the experimenter wants the nodes until the
# walltime (or oardel).
DEFAULT_COMMAND = "sleep 31536000"
# Grid5000 counts jobs by origin; its admission rules accept this type.
ORIGIN_TYPE = "origin=execo"


# ---- dates and durations as OAR writes them ------------------------------------

def format_oar_date(ts: Date) -> str:
    """``ts`` (any execo date) as oarsub ``-r`` wants it: ``YYYY-MM-DD
    HH:MM:SS`` in the OAR servers' time zone
    (``g5k_configuration['oar_timezone']``, Paris time as in 2.x), whatever
    the machine's.

    >>> format_oar_date(1893582245)
    '2030-01-02 12:04:05'
    """
    seconds = int(get_unixts(ts))  # truncated to the second, as 2.x did
    zone = _oar_zone()
    if zone is None:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return datetime.datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M:%S")


def format_oar_duration(duration: Duration) -> str:
    """``duration`` as an OAR walltime, ``H:M:S`` without zero padding and
    fractions of a second dropped, exactly as execo 2.x wrote it (scripts
    store these strings, e.g. in the JSON of a resource finder; OAR reads
    both forms).

    >>> format_oar_duration("1d2h"), format_oar_duration(90), format_oar_duration(600)
    ('26:0:0', '0:1:30', '0:10:0')
    """
    seconds = get_seconds(duration)
    hours = seconds // 3600
    minutes = (seconds - hours * 3600) // 60
    return "%d:%d:%d" % (hours, minutes, int(seconds - hours * 3600 - minutes * 60))


# Grid5000's OAR servers write dates in the time zone of France, wherever
# the script reading them runs: g5k_configuration['oar_timezone']'s default.
OAR_TIME_ZONE = "Europe/Paris"


def _oar_zone() -> Optional[datetime.tzinfo]:
    """The OAR servers' time zone; None for this machine's."""
    name = g5k_configuration.get('oar_timezone', OAR_TIME_ZONE)
    if name is None:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        raise ExecoRuntimeError("OAR dates are in the time zone %r "
                                "(g5k_configuration['oar_timezone']), not known here: check "
                                "the name, or install the system's time zone data (Debian: "
                                "apt install tzdata) or pip install tzdata" % (name,)) from None
    except (TypeError, ValueError) as exc:
        raise G5kValueError("g5k_configuration['oar_timezone'] must be a time zone name such "
                            "as 'Europe/Paris', or None: %r (%s)" % (name, exc)) from None
_NUMBER = re.compile(r'^\s*(\d+(?:\.\d*)?|\.\d+)\s*$')
_OAR_DATE = re.compile(r'^\s*(\d{4})-(\d\d?)-(\d\d?)[Tt ](\d\d?):(\d\d?):(\d\d?)(\.\d+)?'
                       r'\s*(?:([Zz])|([+-])(\d\d?):?(\d\d))?\s*$')
_OAR_DURATION = re.compile(r'^\s*(\d+):(\d\d?):(\d\d?)(\.\d+)?\s*$')


def oar_date_to_unixts(date: Union[str, float, int]) -> float:
    """The unix timestamp of a date as Grid5000's OAR writes it
    (``YYYY-MM-DD HH:MM:SS``, in ``g5k_configuration['oar_timezone']``,
    French time, unless an offset or ``Z`` says otherwise); a number, or a
    string of one, is already a timestamp.

    >>> oar_date_to_unixts("2030-07-01 12:00:00")
    1909130400.0
    """
    if isinstance(date, (int, float)):
        return float(date)
    if _NUMBER.match(date):
        return float(date)
    match = _OAR_DATE.match(date)
    if not match:
        raise G5kValueError("not an OAR date (YYYY-MM-DD HH:MM:SS): %r" % (date,))
    (year, month, day, hour, minute, second, fraction, utc, sign,
     offset_hours, offset_minutes) = match.groups()
    if utc:
        zone: datetime.tzinfo = datetime.timezone.utc
    elif sign:
        offset = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        zone = datetime.timezone(offset if sign == '+' else -offset)
    else:
        zone = _oar_zone()  # None: naive, read as this machine's time
    moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute),
                               int(second), tzinfo=zone)
    return moment.timestamp() + (float(fraction) if fraction else 0.0)


def oar_duration_to_seconds(duration: Union[str, float, int]) -> Union[int, float]:
    """Seconds in a duration as OAR writes it (``H:MM:SS``, hours may exceed
    24), or in a number of seconds.

    >>> oar_duration_to_seconds("26:00:00"), oar_duration_to_seconds("90")
    (93600, 90.0)
    """
    if isinstance(duration, (int, float)):
        return duration
    if _NUMBER.match(duration):
        return float(duration)
    match = _OAR_DURATION.match(duration)
    if not match:
        raise G5kValueError("not an OAR duration (H:MM:SS): %r" % (duration,))
    hours, minutes, seconds, fraction = match.groups()
    total = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + float(fraction) if fraction else total


# ---- submissions ------------------------------------------------------------------

def _check_text(field: str, value: Any, allow_empty: bool = False) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ExecoTypeError("OarSubmission %s must be a string, not %s %r"
                        % (field, type(value).__name__, value))
    if not allow_empty and not value.strip():
        raise G5kValueError("OarSubmission %s is empty: give a value or None" % (field,))
    return value


def _check_texts(field: str, value: Any) -> Optional[Union[str, List[str]]]:
    """A string or a non-empty sequence of non-empty strings."""
    if value is None or isinstance(value, str):
        return _check_text(field, value)
    try:
        items = list(value)
    except TypeError:
        raise ExecoTypeError("OarSubmission %s must be a string or a list of strings, not %s %r"
                        % (field, type(value).__name__, value)) from None
    if not items:
        raise G5kValueError("OarSubmission %s is an empty list: give at least one or None"
                         % (field,))
    return [_check_text(field, item) for item in items]


def _check_walltime(value: Any) -> Optional[Duration]:
    if value is None:
        return None
    try:
        seconds = get_seconds(value)
    except (TypeError, ValueError) as exc:
        raise G5kValueError("OarSubmission walltime=%r is not a duration: %s" % (value, exc)) \
            from None
    if seconds < 1:
        raise G5kValueError("OarSubmission walltime=%r: a walltime is at least one second"
                         % (value,))
    return value


def _check_date(value: Any) -> Optional[Date]:
    if value is None:
        return None
    try:
        get_unixts(value)
    except (TypeError, ValueError) as exc:
        raise G5kValueError("OarSubmission reservation_date=%r is not a date: %s" % (value, exc)) \
            from None
    return value


def _check_job_types(value: Any) -> Optional[Union[str, List[str]]]:
    checked = _check_texts("job_type", value)
    for job_type in ([checked] if isinstance(checked, str) else checked or []):
        if re.search(r'\s', job_type.strip()):
            raise G5kValueError("OarSubmission job_type %r contains blanks: give several job "
                             "types as a list, e.g. ['deploy', 'destructive']" % (job_type,))
    return checked


_CHECKS: Dict[str, Callable[[Any], Any]] = {
    'resources': lambda value: _check_texts("resources", value),
    'walltime': _check_walltime,
    'job_type': _check_job_types,
    'sql_properties': lambda value: _check_text("sql_properties", value),
    'queue': lambda value: _check_text("queue", value),
    'reservation_date': _check_date,
    'directory': lambda value: _check_text("directory", value),
    'project': lambda value: _check_text("project", value),
    'name': lambda value: _check_text("name", value),
    'additional_options': lambda value: _check_text("additional_options", value,
                                                    allow_empty=True),
    'command': lambda value: _check_text("command", value),
}


class OarSubmission:
    """What to ask oarsub for; every field is optional.

    Values are checked when set (also after construction: `oarsubgrid` and
    many scripts change fields of a submission), so a typo fails here with
    the field's name instead of as an oarsub syntax error on a frontend.

    :param resources: OAR resource request(s) (oarsub ``-l``), e.g.
      ``"/cluster=2/nodes=4"``; a list is joined with ``+`` (OAR's
      "and").
    :param walltime: a duration (seconds, ``"1:30:00"``, ``"1h30m"``...).
    :param job_type: a type (``"deploy"``) or a list of types (``-t``);
      ``origin=execo`` is always added.
    :param sql_properties: ``-p``; quote literals with single quotes.
    :param queue: ``-q``.
    :param reservation_date: ``-r``: an advance reservation starting at
      this date (timestamp, datetime or ``"YYYY-MM-DD HH:MM:SS"``).
    :param directory: ``-d``, where the command runs.
    :param project: ``--project``.
    :param name: ``-n``.
    :param additional_options: passed to oarsub as written (a shell string).
    :param command: what the job runs (default: sleep until the walltime).

    >>> OarSubmission(resources="/nodes=2", walltime="0:30:00")
    OarSubmission(resources='/nodes=2', walltime='0:30:00')
    """

    def __init__(self, resources: Union[None, str, Sequence[str]] = None,
                 walltime: Duration = None, job_type: Union[None, str, Sequence[str]] = None,
                 sql_properties: Optional[str] = None, queue: Optional[str] = None,
                 reservation_date: Date = None, directory: Optional[str] = None,
                 project: Optional[str] = None, name: Optional[str] = None,
                 additional_options: Optional[str] = None, command: Optional[str] = None
                 ) -> None:
        self.resources = resources
        self.walltime = walltime
        self.job_type = job_type
        self.sql_properties = sql_properties
        self.queue = queue
        self.reservation_date = reservation_date
        self.directory = directory
        self.project = project
        self.name = name
        self.additional_options = additional_options
        self.command = command

    def __setattr__(self, field: str, value: Any) -> None:
        check = _CHECKS.get(field)
        super().__setattr__(field, check(value) if check else value)

    def copy(self, **changes: Any) -> "OarSubmission":
        """A new submission with some fields changed; this one is untouched."""
        fields = {field: getattr(self, field) for field in _CHECKS}
        fields.update(changes)
        return OarSubmission(**fields)

    def __repr__(self) -> str:
        given = ["%s=%r" % (field, getattr(self, field)) for field in _CHECKS
                 if getattr(self, field) is not None]
        return "OarSubmission(%s)" % (", ".join(given),)


def _job_key_file() -> Optional[str]:
    return g5k_configuration.get('oar_job_key_file') or os.environ.get('OAR_JOB_KEY_FILE')


def _as_list(value: Union[None, str, Sequence[str]]) -> List[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def oarsub_command_line(submission: OarSubmission) -> str:
    """The shell command that submits ``submission`` (run on a frontend).

    The job key (``-k -i``) is ``g5k_configuration['oar_job_key_file']``,
    else ``$OAR_JOB_KEY_FILE``, as a path on the frontend.

    >>> oarsub_command_line(OarSubmission("nodes=1", walltime=60, command="hostname"))
    'oarsub -l nodes=1,walltime=0:1:0 -t origin=execo hostname'
    """
    words = ["oarsub"]
    resources = "+".join(_as_list(submission.resources))
    if submission.walltime is not None:
        walltime = "walltime=" + format_oar_duration(submission.walltime)
        resources = resources + "," + walltime if resources else walltime
    if resources:
        words += ["-l", shlex.quote(resources)]
    key = _job_key_file()
    if key:
        words += ["-k", "-i", shlex.quote(key)]
    job_types = _as_list(submission.job_type)
    if not any(t.startswith("origin=") for t in job_types):
        job_types.append(ORIGIN_TYPE)
    for job_type in job_types:
        words += ["-t", shlex.quote(job_type)]
    for option, value in (("-p", submission.sql_properties), ("-q", submission.queue),
                          ("-d", submission.directory), ("--project", submission.project),
                          ("-n", submission.name)):
        if value is not None:
            words += [option, shlex.quote(value)]
    if submission.reservation_date is not None:
        words += ["-r", shlex.quote(format_oar_date(submission.reservation_date))]
    if submission.additional_options:
        words.append(submission.additional_options)
    words.append(shlex.quote(submission.command if submission.command is not None
                             else DEFAULT_COMMAND))
    return " ".join(words)


def get_oarsub_commandline(job_spec: OarSubmission) -> str:
    """The oarsub command line character for character as execo 2.x wrote
    it: scripts store it or compare it. Values are wrapped in double quotes
    and not escaped, in 2.x's order; to run a request, `oarsub` (or
    `oarsub_command_line`, quoted for the shell) is the safe form.

    >>> get_oarsub_commandline(OarSubmission("nodes=1", walltime=600, name="X"))
    'oarsub -l "nodes=1,walltime=0:10:0" -t "origin=execo" -n "X" "sleep 31536000"'
    """
    words = ["oarsub"]
    if job_spec.additional_options is not None:
        words.append(job_spec.additional_options)
    resources = "+".join(_as_list(job_spec.resources))
    if job_spec.walltime is not None:
        walltime = "walltime=" + format_oar_duration(job_spec.walltime)
        resources = resources + "," + walltime if resources else walltime
    if resources:
        words.append('-l "%s"' % (resources,))
    key = _job_key_file()
    if key is not None:
        words.append("-k -i %s" % (key,))
    # 2.x went through a set: several types came out in no fixed order; here
    # they keep the order given, origin=execo last
    job_types = [t for t in _as_list(job_spec.job_type) if t != ORIGIN_TYPE] + [ORIGIN_TYPE]
    words += ['-t "%s"' % (t,) for t in dict.fromkeys(job_types)]
    reservation = (None if job_spec.reservation_date is None
                   else format_oar_date(job_spec.reservation_date))
    for option, value in (("-p", job_spec.sql_properties), ("-q", job_spec.queue),
                          ("-r", reservation), ("-d", job_spec.directory),
                          ("--project", job_spec.project), ("-n", job_spec.name)):
        if value is not None:
            words.append('%s "%s"' % (option, value))
    words.append('"%s"' % (job_spec.command if job_spec.command is not None
                           else DEFAULT_COMMAND,))
    return " ".join(words)
