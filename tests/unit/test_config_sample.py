"""execo.conf.py.sample cannot drift from the real defaults."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_configuration_key_is_documented():
    from execo.config_sample import live_dicts, undocumented_keys
    assert undocumented_keys(live_dicts()) == []


def test_sample_file_matches_the_defaults(tmp_path):
    # a HOME without ~/.execo.conf.py: the sample shows the shipped defaults
    generated = subprocess.run([sys.executable, "-m", "execo.config_sample"], cwd=REPO,
                               env=dict(os.environ, HOME=str(tmp_path), PYTHONPATH=REPO),
                               capture_output=True, text=True, check=True).stdout
    with open(os.path.join(REPO, "execo.conf.py.sample")) as f:
        assert f.read() == generated, "run: python -m execo.config_sample > execo.conf.py.sample"


def test_sample_file_is_valid_python_once_uncommented(tmp_path):
    with open(os.path.join(REPO, "execo.conf.py.sample")) as f:
        text = f.read()
    import re
    uncommented = "\n".join(line[2:] if re.match(r"^# (\w+ = \{|\}|    '|    #)", line) else ""
                            for line in text.splitlines())
    compile(uncommented, "sample", "exec")
