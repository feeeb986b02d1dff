"""Strings that execo_g5k hands to users, compared with execo 2.8.2's.

Scripts store these (a resource finder writes oarsub command lines and
walltimes into its JSON output) or compare them with stored ones: the same
inputs must give the same characters as 2.8.2, run here in its own
virtualenv (`tests.old_execo_g5k`).
"""

import json
import re

from execo_g5k import OarSubmission
from execo_g5k.config import g5k_configuration
from execo_g5k.hostnames import canonical_host_name, get_host_shortname
from execo_g5k.oar import format_oar_date, format_oar_duration, get_oarsub_commandline
from execo_g5k.utils import get_kavlan_host_name, hosts_list
from tests.old_execo_g5k import run_old_g5k

DURATIONS = [0, 1, 59, 59.9, 60, 61, 90, 599, 600, 600.7, 3599, 3600, 3601, 3661.5, 7200,
             86399, 86400, 90061, 360000, "0:10:00", "1:00:00", "0:0:30", "26:03:04"]
DATES = [0, 1e9, 1234567890.75, 1500000000, 1700000000, 1893582245, "2030-01-02 03:04:05",
         "2021-03-28 02:30:00", "2021-10-31 02:30:00"]
# (resources, walltime, reservation_date, job_type, sql_properties, queue,
#  directory, project, name, additional_options, command)
SUBMISSIONS = [
    ("nodes=1", 600, None, None, None, None, None, None, "X", None, None),
    ("nodes=1", 600, 1893582245, None, None, None, None, None, "X", None, None),
    (None, 3600, None, None, None, None, None, None, None, None, "hostname"),
    (["{cluster='a'}/nodes=1", "{cluster='b'}/nodes=2"], 5400, "2030-01-02 03:04:05",
     "deploy", "memnode > 1000", "production", "/tmp/d", "proj", "my job", "-O out",
     "echo hi"),
    ("/cluster=2/nodes=2", "2:00:00", None, "origin=execo", None, "default", None, None,
     None, None, None),
    ("slash_22=1", None, None, None, None, None, None, None, None, None, None),
    (None, None, None, None, None, None, None, None, None, None, None),
]
FIELDS = ("resources", "walltime", "reservation_date", "job_type", "sql_properties", "queue",
          "directory", "project", "name", "additional_options", "command")
HOSTS = [["b-2.nancy.grid5000.fr", "a-1.rennes.grid5000.fr", "griffon-10.nancy.grid5000.fr"],
         ["node-3", "node-1", "node-2"], ["graphene-1-kavlan-4.nancy.grid5000.fr"], []]
NAMES = ["griffon-12.nancy.grid5000.fr", "griffon-12", "griffon-12-eth1",
         "griffon-12-eth1-kavlan-4.nancy.grid5000.fr", "griffon-12-kavlan-4",
         "paravance-3-ipv6.rennes.grid5000.fr", "localhost", "my.example.org"]

OLD = '''
import execo_g5k.config
execo_g5k.config.g5k_configuration['oar_job_key_file'] = DATA["key"]
from execo_g5k import OarSubmission
from execo_g5k.oar import format_oar_date, format_oar_duration, get_oarsub_commandline
from execo_g5k.utils import get_kavlan_host_name, hosts_list
from execo_g5k.api_utils import canonical_host_name, get_host_shortname
print(json.dumps({
    "durations": [format_oar_duration(d) for d in DATA["durations"]],
    "dates": [format_oar_date(d) for d in DATA["dates"]],
    "oarsub": [get_oarsub_commandline(OarSubmission(**dict(zip(DATA["fields"], s))))
               for s in DATA["submissions"]],
    "hosts_list": [[hosts_list(h), hosts_list(h, ", ")] for h in DATA["hosts"]]
                  + [hosts_list(DATA["hosts"][0], site=True)],
    "names": [[canonical_host_name(n), get_host_shortname(n), get_kavlan_host_name(n, 7)]
              for n in DATA["names"]],
}))
'''


def ours(key):
    saved = g5k_configuration.get('oar_job_key_file')
    g5k_configuration['oar_job_key_file'] = key
    try:
        return {
            "durations": [format_oar_duration(d) for d in DURATIONS],
            "dates": [format_oar_date(d) for d in DATES],
            "oarsub": [get_oarsub_commandline(OarSubmission(**dict(zip(FIELDS, s))))
                       for s in SUBMISSIONS],
            "hosts_list": [[hosts_list(h), hosts_list(h, ", ")] for h in HOSTS]
                          + [hosts_list(HOSTS[0], site=True)],
            "names": [[canonical_host_name(n), get_host_shortname(n),
                       get_kavlan_host_name(n, 7)] for n in NAMES],
        }
    finally:
        g5k_configuration['oar_job_key_file'] = saved


def theirs(key):
    data = {"key": key, "durations": DURATIONS, "dates": DATES,
            "submissions": json.loads(json.dumps(SUBMISSIONS)), "fields": FIELDS,
            "hosts": HOSTS, "names": NAMES}
    return run_old_g5k(OLD, data)


_JOB_TYPES = re.compile(r'(?: -t "[^"]*")+')


def job_types_apart(line):
    """2.8.2 wrote the job types (origin=execo included) in the order of a
    set, which varies from run to run: they are compared as a set, and the
    rest of the line character for character, their place included."""
    types = _JOB_TYPES.search(line)
    return (line.replace(types.group(0), " <types>"),
            sorted(re.findall(r'-t "([^"]*)"', types.group(0))))


def test_oar_strings_and_host_names_are_2x_s_on_a_range_of_inputs(monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'oar_timezone', 'Europe/Paris')  # 2.x's, forced
    for key in (None, "/home/u/.ssh/id_rsa"):
        mine, old = ours(key), theirs(key)
        for kind in mine:
            if kind == "oarsub":
                mine[kind] = [job_types_apart(line) for line in mine[kind]]
                old[kind] = [job_types_apart(line) for line in old[kind]]
            assert mine[kind] == old[kind], kind


def test_the_issue_s_examples():
    assert format_oar_duration(600) == '0:10:0'
    assert format_oar_duration('0:10:00') == '0:10:0'
    assert format_oar_duration(3600) == '1:0:0'
    line = get_oarsub_commandline(OarSubmission("nodes=1", walltime=600, name="X",
                                                reservation_date="2030-01-02 03:04:05"))
    assert line.startswith('oarsub -l "nodes=1,walltime=0:10:0"')
    assert re.search(r' -r "2030-01-02 \d\d:04:05" -n "X" "sleep 31536000"$', line)
