"""The README's example runs as written on the loopback test bed."""

import os
import re

import pytest

from execo import default_connection_params, load_results

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "README.md")


def readme_python_blocks():
    with open(README) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_readme_has_one_short_python_example():
    blocks = readme_python_blocks()
    assert len(blocks) == 1
    assert len(blocks[0].strip().splitlines()) <= 13


def test_readme_example_runs_as_written_starting_its_own_test_bed(capsys, tmp_path,
                                                                   monkeypatch):
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server is not installed")
    monkeypatch.chdir(tmp_path)
    saved = dict(default_connection_params)
    exec(compile(readme_python_blocks()[0], README, "exec"), {})
    # the example's test bed is gone, and the defaults are back
    assert default_connection_params == saved
    out = capsys.readouterr().out
    assert "node-1 0 ['rank 0 on node-1']" in out
    assert "node-3 0 ['rank 2 on node-3']" in out
    assert "node-1 3 []" in out
    saved_results = load_results(str(tmp_path / "results.json"))
    assert [p.exit_code for p in saved_results.entries[1].processes] == [3]
