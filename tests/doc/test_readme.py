"""The README's example runs as written on the loopback test bed."""

import os
import re

import pytest

from execo import default_connection_params
from execo.testbed import LoopbackTestbed

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "README.md")


def readme_python_blocks():
    with open(README) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_readme_has_one_short_python_example():
    blocks = readme_python_blocks()
    assert len(blocks) == 1
    assert len(blocks[0].strip().splitlines()) <= 12


def test_readme_example_runs_on_the_test_bed(capsys):
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server is not installed")
    saved = dict(default_connection_params)
    with LoopbackTestbed(num_hosts=3) as testbed:
        testbed.install()
        try:
            exec(compile(readme_python_blocks()[0], README, "exec"), {})
        finally:
            testbed.uninstall()
    assert default_connection_params == saved
    out = capsys.readouterr().out
    assert "node-1 0 ['rank 0 on node-1']" in out
    assert "node-3 0 ['rank 2 on node-3']" in out
    assert "node-1 3 []" in out
