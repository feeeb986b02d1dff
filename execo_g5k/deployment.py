"""What kadeploy3 is asked, and how its report is read.

`Deployment` says what to install where; `kadeploy_command` turns it into
kadeploy3's command line (from ``g5k_configuration['kadeploy3']`` and
``['kadeploy3_options']``, one string or words); `parse_kadeploy_output`
and `KadeployReportParser` (incrementally, as output arrives) read its
final report into deployed and undeployed hosts. Running kadeploy3 on the
frontends is `execo_g5k.kadeploy`'s business (these names are importable
from there too, as in execo 2.x).
"""

from __future__ import annotations

import re
import shlex
from typing import Dict, Iterable, Optional, Set, Tuple, Union

from execo.argv import option_words
from execo.host import Host, HostLike
from execo_g5k.config import g5k_configuration
from execo_g5k.exception import G5kValueError

__all__ = ["Deployment", "KadeployReportParser", "kadeploy_command", "parse_kadeploy_output"]

# Section headers of kadeploy3's final report. >= 3.2 says "The deployment
# is successful on nodes" (the word changes for reboots and powers);
# older versions print one section per cluster.
_DEPLOYED_HEADER = re.compile(
    r"^\s*(?:The \w+ is successful on nodes|Nodes correctly deployed on cluster \S+)\s*$")
_UNDEPLOYED_HEADER = re.compile(
    r"^\s*(?:The \w+ failed on nodes|Nodes not correctly deployed on cluster \S+)\s*$")
# one node per line; on failure possibly followed by " (why)"
_NODE_LINE = re.compile(r"^\s*(?P<host>[A-Za-z0-9][A-Za-z0-9.\-]*)(?:\s+\((?P<reason>.*)\))?\s*$")


class Deployment:
    """What to deploy, and where: the arguments of one kadeploy3 run.

    >>> Deployment(["griffon-1.nancy.grid5000.fr"], env_name="debian12-min")
    Deployment(hosts=['griffon-1.nancy.grid5000.fr'], env_name='debian12-min')

    :param hosts: host names or `Host` objects.
    :param env_file: an environment description file (kadeploy3 ``-a``).
    :param env_name: a registered environment (``-e``). Give one of the
      two; with neither, ``g5k_configuration['default_env_name']`` or
      ``['default_env_file']`` is used.
    :param user: owner of a registered environment (``-u``).
    :param vlan: a kavlan VLAN id the nodes are put in once deployed
      (``--vlan``); they are then reached as ``<node>-kavlan-<vlan>``.
    :param other_options: more kadeploy3 options, one shell string.
    """

    def __init__(self, hosts: Optional[Iterable[HostLike]] = None,
                 env_file: Optional[str] = None, env_name: Optional[str] = None,
                 user: Optional[str] = None, vlan: Union[None, int, str] = None,
                 other_options: Optional[str] = None) -> None:
        self.hosts = hosts
        self.env_file = env_file
        self.env_name = env_name
        self.user = user
        self.vlan = vlan
        self.other_options = other_options

    def __repr__(self) -> str:
        fields = ("hosts", "env_file", "env_name", "user", "vlan", "other_options")
        return "Deployment(%s)" % ", ".join(
            "%s=%r" % (f, getattr(self, f)) for f in fields if getattr(self, f) is not None)


def _environment_option(deployment: Deployment) -> str:
    if deployment.env_file and deployment.env_name:
        raise G5kValueError("%r has both env_file and env_name: kadeploy3 deploys one "
                         "environment, give only one" % (deployment,))
    if deployment.env_name:
        return "-e %s" % shlex.quote(deployment.env_name)
    if deployment.env_file:
        return "-a %s" % shlex.quote(deployment.env_file)
    name = g5k_configuration.get('default_env_name')
    path = g5k_configuration.get('default_env_file')
    if name and path:
        raise G5kValueError("g5k_configuration has both default_env_name and default_env_file: "
                         "set only one, or give env_name/env_file to the Deployment")
    if name:
        return "-e %s" % shlex.quote(name)
    if path:
        return "-a %s" % shlex.quote(path)
    raise G5kValueError("%r names no environment: give env_name or env_file, or set "
                     "g5k_configuration['default_env_name']" % (deployment,))


def kadeploy_command(deployment: Deployment, hosts: Iterable[HostLike]) -> str:
    """The kadeploy3 command line deploying ``deployment`` on ``hosts``,
    as a string for the frontend's shell.

    >>> kadeploy_command(Deployment(env_name="debian12-min"), ["griffon-1"])  # doctest: +SKIP
    'kadeploy3 -k -d -e debian12-min -m griffon-1'
    """
    # configured as one string or as words (2.x): the same words either way
    words = [shlex.quote(word) for key, default in (('kadeploy3', 'kadeploy3'),
                                                    ('kadeploy3_options', None))
             for word in option_words(g5k_configuration.get(key, default))]
    words.append(_environment_option(deployment))
    if deployment.user is not None:
        words.append("-u %s" % shlex.quote(str(deployment.user)))
    if deployment.vlan is not None:
        words.append("--vlan %s" % shlex.quote(str(deployment.vlan)))
    if deployment.other_options:
        words.append(deployment.other_options)
    words += ["-m %s" % shlex.quote(Host(h).address) for h in hosts]
    return " ".join(words)


# ---- parsing --------------------------------------------------------------


class KadeployReportParser:
    """kadeploy3's report, one line at a time: a header opens a section of
    node lines, any other line closes it (debug output surrounds the report)."""

    def __init__(self) -> None:
        self.section: Optional[bool] = None  # True: deployed, False: failed

    def feed(self, line: str) -> Optional[Tuple[bool, str, Optional[str]]]:
        """``(deployed?, host, reason)`` when ``line`` names a node."""
        if _DEPLOYED_HEADER.match(line):
            self.section = True
            return None
        if _UNDEPLOYED_HEADER.match(line):
            self.section = False
            return None
        if self.section is None:
            return None
        match = _NODE_LINE.match(line)
        if match is None:
            self.section = None
            return None
        return self.section, match.group('host'), match.group('reason')


def parse_kadeploy_output(text: str) -> Tuple[Set[str], Dict[str, Optional[str]]]:
    """The nodes kadeploy3's output reports deployed, and those reported
    failed with their reason (None when it gave none); both report formats.

    >>> parse_kadeploy_output("The deployment is successful on nodes\\ng-1\\n"
    ...                       "The deployment failed on nodes\\ng-2 (reboot timeout)\\n")
    ({'g-1'}, {'g-2': 'reboot timeout'})
    """
    parser = KadeployReportParser()
    deployed: Set[str] = set()
    failed: Dict[str, Optional[str]] = {}
    for line in text.splitlines():
        event = parser.feed(line.rstrip("\r"))
        if event is None:
            continue
        ok, host, reason = event
        if ok:
            deployed.add(host)
        else:
            failed[host] = reason
    return deployed, failed
