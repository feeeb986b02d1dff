"""Fixtures for the doc's examples: the test beds they were written for.

The examples use the names a reader would: the tutorial's ``host1`` and
``host2``, Grid5000 frontends ``nancy`` and ``rennes``, nodes named
``griffon-1``... They are not rewritten for the tests: every name is
provided by configuration only (ssh aliases of loopback test beds, and
execo_g5k's configuration dicts set as a ``~/.execo.conf.py`` would).
"""

import os
import shutil
import sys
import tempfile

import pytest

from execo.testbed import SSHD, LoopbackTestbed
from tests.quick_retries import QUICK_RETRIES

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The OAR test bed's nodes (tests/oar): names of 127.0.0.1 in /etc/hosts,
# where OAR's node sshd listens on port 6667. Being aliases of the doc's
# test bed too, they also take root logins on it, as deployed nodes do.
OAR_NODES = tuple("%s-%d" % (cluster, i) for cluster in ("griffon", "graphene")
                  for i in (1, 2, 3))
DOC_HOST_NAMES = ("host1", "host2") + OAR_NODES


@pytest.fixture(scope="session")
def doc_testbed():
    if not os.path.exists(SSHD):
        pytest.skip("%s is missing: install openssh-server to run the doc's examples" % SSHD)
    with LoopbackTestbed(num_hosts=4, extra_names=DOC_HOST_NAMES) as bed:
        # the pages' closed ports are refused after the same attempts, over
        # ~2 s instead of ~28 each: no page shows how long they took
        bed.connection_params.update(QUICK_RETRIES)
        bed.install()
        yield bed


def _kadeploy3_standin(directory: str) -> str:
    """A kadeploy3 for the frontends: tests/integration's stand-in, run by
    the OAR user (hence a world-readable copy and the system python)."""
    state = os.path.join(directory, "state")
    os.makedirs(state)
    os.chmod(state, 0o777)
    script = os.path.join(directory, "kadeploy3_standin.py")
    shutil.copy(os.path.join(TESTS, "integration", "kadeploy3_standin.py"), script)
    wrapper = os.path.join(directory, "kadeploy3")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec /usr/bin/python3 %s --state-dir %s "$@"\n' % (script, state))
    for path in (script, wrapper):
        os.chmod(path, 0o755)
    return state


@pytest.fixture
def doc_g5k(doc_testbed):
    """The real OAR test bed behind frontends ``nancy`` and ``rennes``, a
    job key, the API stand-in, and kadeploy3's stand-in on the frontends."""
    for sub in ("integration", "oar"):
        if os.path.join(TESTS, sub) not in sys.path:
            sys.path.insert(0, os.path.join(TESTS, sub))
    from oar_frontends import OarFrontends, oar_testbed_or_skip
    from g5k_api_standin import G5kApiStandin
    from execo_g5k.config import g5k_configuration
    bed = oar_testbed_or_skip()
    directory = tempfile.mkdtemp(prefix="execo-doc-g5k-")
    os.chmod(directory, 0o755)
    saved = dict(g5k_configuration)
    try:
        with OarFrontends(bed, ["nancy", "rennes"]) as frontends, frontends.job_key(), \
                G5kApiStandin() as api:
            state = _kadeploy3_standin(directory)
            g5k_configuration.update({
                'api_uri': api.uri, 'api_username': None, 'api_cache_dir': None,
                'kadeploy3': os.path.join(directory, "kadeploy3"),
                # the stand-in "deploys" a node by leaving a marker file
                'check_deployed_command': "test -e %s/markers/{{{host}}}" % state,
            })
            yield frontends
    finally:
        g5k_configuration.clear()
        g5k_configuration.update(saved)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def doc_planning(doc_testbed):
    """doc/planning.rst: the real OAR test bed as site ``nancy``, its jobs
    served by the API stand-in in the API's format (``g5k_oar_api``), and
    kadeploy3's stand-in on the frontend."""
    for sub in ("integration", "oar"):
        if os.path.join(TESTS, sub) not in sys.path:
            sys.path.insert(0, os.path.join(TESTS, sub))
    from oar_frontends import OarFrontends, oar_testbed_or_skip
    from oar_fixture import run_as_user
    from g5k_oar_api import G5kOarApiStandin, real_oar_reader
    from execo_g5k import api_utils
    from execo_g5k.config import g5k_configuration
    bed = oar_testbed_or_skip()
    tree = {'nancy': ({'uid': 'nancy', 'type': 'site'}, {
        cluster: ({'uid': cluster, 'type': 'cluster',
                   'queues': ['admin', 'default', 'besteffort']},
                  [{'uid': host, 'type': 'node'} for host in hosts])
        for cluster, hosts in bed['clusters'].items()})}
    directory = tempfile.mkdtemp(prefix="execo-doc-planning-")
    os.chmod(directory, 0o755)
    saved = dict(g5k_configuration)
    try:
        with OarFrontends(bed, ["nancy"]) as frontends, frontends.job_key(), \
                G5kOarApiStandin({'nancy': real_oar_reader(run_as_user)}, tree=tree,
                                 page_size=1000) as api:
            state = _kadeploy3_standin(directory)
            g5k_configuration.update({
                'api_uri': api.uri, 'api_username': None, 'api_cache_dir': None,
                'planning_source': 'api',
                'kadeploy3': os.path.join(directory, "kadeploy3"),
                'check_deployed_command': "test -e %s/markers/{{{host}}}" % state,
            })
            api_utils.clear_cache()
            yield frontends
    finally:
        g5k_configuration.clear()
        g5k_configuration.update(saved)
        api_utils.clear_cache()
        shutil.rmtree(directory, ignore_errors=True)
