"""The fan-out limit against the real sshd: a fan-out wider than the fd
limit allows is queued, not failed (execo.fanout).

The script runs in a child interpreter under ``prlimit --nofile``, the
loopback test bed (2 000 aliases of one sshd) in the test's own.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from execo.testbed import SSHD, LoopbackTestbed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAN_OUT = r"""
import json, os, sys
import execo
params = json.loads(os.environ["BED_PARAMS"])
hosts = ["node-%d" % i for i in range(1, int(sys.argv[1]) + 1)]
remote = execo.Remote(sys.argv[2], hosts, connection_params=params).run()
failed = [p.error_reason or p.exit_code for p in remote.processes if not p.ok]
print(json.dumps({"ok": len(hosts) - len(failed), "failed": len(failed),
                  "first_failure": failed[0] if failed else None}))
"""


@pytest.fixture(scope="module")
def wide_bed():
    if not os.path.exists(SSHD):
        pytest.skip("%s is missing: install openssh-server to run the ssh tests" % SSHD)
    with LoopbackTestbed(num_hosts=2000) as bed:
        yield bed


def _fan_out(bed, nofile, hosts, command):
    assert shutil.which("prlimit"), "prlimit (util-linux) is needed"
    result = subprocess.run(
        ["prlimit", "--nofile=%d:%d" % (nofile, nofile), sys.executable, "-c", FAN_OUT,
         str(hosts), command], cwd=REPO, capture_output=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO, BED_PARAMS=json.dumps(bed.connection_params)))
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return json.loads(result.stdout.decode().splitlines()[-1])


def test_a_fan_out_wider_than_the_fd_limit_is_queued_not_failed(wide_bed):
    # 200 commands lasting long enough to be alive together would need
    # about 800 descriptors: under 256 they used to fail with EMFILE.
    assert _fan_out(wide_bed, 256, 200, "sleep 0.5") == {"ok": 200, "failed": 0,
                                                         "first_failure": None}


def test_two_thousand_hosts_under_1024_open_files(wide_bed):
    assert _fan_out(wide_bed, 1024, 2000, "true") == {"ok": 2000, "failed": 0,
                                                      "first_failure": None}
