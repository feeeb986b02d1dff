"""A loopback test bed whose aliases play Grid5000 frontends and nodes.

Shared by the kadeploy and kaconsole tests: the given names reach the
loopback sshd; ``lille`` and every other name reach a closed port on
127.0.0.1, so an unreachable frontend is a real ssh failure and no name
ever leaves the machine.
"""

import contextlib
import os
import socket

import pytest

from execo.testbed import SSHD, LoopbackTestbed


def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def frontend_testbed(names, config_dir):
    """Yield a started LoopbackTestbed with ``g5k_ssh_options`` set: ssh
    options whose config also sends unknown names to a closed port."""
    if not os.path.exists(SSHD):
        pytest.skip("%s is missing: install openssh-server to run the ssh tests" % SSHD)
    with LoopbackTestbed(num_hosts=0, extra_names=list(names)) as bed:
        config = config_dir / "ssh_config"
        with open(bed.ssh_config) as base:
            text = base.read()
        # ssh takes the first value found: the aliases above win over these
        text += ("\nHost lille *.lille.grid5000.fr *\n    HostName 127.0.0.1\n    Port %d\n"
                 "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n"
                 "    BatchMode yes\n    ConnectTimeout 10\n" % closed_port())
        config.write_text(text)
        options = list(bed.connection_params['ssh_options'])
        options[options.index('-F') + 1] = str(config)
        bed.g5k_ssh_options = tuple(options)
        yield bed
