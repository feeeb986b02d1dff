"""Test beds: run experiment scripts against real sshds on this machine.

Experiment scripts can be developed on a laptop before going to a real
cluster, and execo's own tests run against the real ``ssh``/``scp``/
``taktuk`` binaries, never against mocks.

- `LoopbackTestbed`: one sshd on 127.0.0.1 posing as N hosts (no
  privilege needed, zero latency, every host the same address).
- `EmulatedTestbed`: a cluster emulated with network namespaces, one per
  host, each with its own sshd, links of limited bandwidth, latency and
  loss, sites, and faults injected on demand (needs root).

>>> with LoopbackTestbed(num_hosts=3) as testbed:  # doctest: +SKIP
...     testbed.install()
...     SshProcess("hostname", "node-1").run().ok
True

From a shell: ``python -m execo.testbed -n 10`` starts one and prints how
to use it.
"""

from execo.testbed.cli import main
from execo.testbed.emulated import EmulatedTestbed, TestbedUnavailable
from execo.testbed.loopback import LoopbackTestbed
from execo.testbed.sshd import SSHD
from execo.testbed.topology import Topology, TopologyError

__all__ = ["LoopbackTestbed", "EmulatedTestbed", "TestbedUnavailable", "Topology",
           "TopologyError", "SSHD", "main"]
