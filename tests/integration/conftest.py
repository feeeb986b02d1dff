"""Integration fixtures: one real sshd on loopback for the whole session.

Every remote test runs against the real ``ssh``/``scp`` binaries through
`execo.testbed.LoopbackTestbed`; its connection params are installed in
the defaults for the session, so tests write plain ``Remote(cmd, hosts)``.
"""

import os

import pytest

from execo.testbed import SSHD, LoopbackTestbed
from execo_g5k import api_utils
from execo_g5k.api import forget_credentials
from execo_g5k.config import g5k_configuration
from tests.integration.g5k_api_standin import G5kApiStandin, network_tree

NUM_ALIASES = 20
# names the tutorial's examples use, so they run as written
TUTORIAL_NAMES = ("host1", "host2")


@pytest.fixture(scope="session")
def testbed():
    """A started, installed `LoopbackTestbed` with node-1..node-20, host1, host2."""
    if not os.path.exists(SSHD):
        pytest.skip("%s is missing: install openssh-server to run the ssh tests" % SSHD)
    with LoopbackTestbed(num_hosts=NUM_ALIASES, extra_names=TUTORIAL_NAMES) as bed:
        bed.install()
        yield bed


@pytest.fixture
def network_api(tmp_path, monkeypatch):
    """The stand-in with the network tree, and the configuration pointing at it."""
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    saved = dict(g5k_configuration)
    with G5kApiStandin(tree=network_tree()) as standin:
        g5k_configuration.update({
            'api_uri': standin.uri, 'api_username': None,
            'api_cache_dir': str(tmp_path / 'cache'), 'api_cache_max_age': 3600,
            'api_retries': 1, 'api_retry_delay': 0.01, 'api_timeout': 20,
        })
        api_utils.clear_cache()
        forget_credentials()
        try:
            yield standin
        finally:
            api_utils.clear_cache()
            g5k_configuration.clear()
            g5k_configuration.update(saved)
