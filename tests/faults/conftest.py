"""Fixtures of the protocol-fault tests: a misbehaving ssh server per test
(`fault_bed.FaultServer`), killed by pid after the test."""

import subprocess

import pytest

from fault_bed import FaultServer, require_paramiko


@pytest.fixture(scope="session")
def fault_host_key(tmp_path_factory):
    require_paramiko()
    path = str(tmp_path_factory.mktemp("fault-sshd") / "host_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return path


@pytest.fixture
def fault_server(fault_host_key):
    """``fault_server(mode)`` starts a server; every one is killed after the test."""
    servers = []

    def start(mode):
        server = FaultServer(mode, fault_host_key)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
