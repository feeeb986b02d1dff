"""Integration fixtures: one real sshd on loopback for the whole session.

Every remote test runs against the real ``ssh``/``scp`` binaries through
`execo.testbed.LoopbackTestbed`; its connection params are installed in
the defaults for the session, so tests write plain ``Remote(cmd, hosts)``.
"""

import os

import pytest

from execo.testbed import SSHD, LoopbackTestbed

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
