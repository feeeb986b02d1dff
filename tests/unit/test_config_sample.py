"""execo.conf.py.sample cannot drift from the real defaults."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_configuration_key_is_documented():
    import execo_g5k  # noqa: F401  (its dicts join the documented ones)
    from execo.config_sample import live_dicts, undocumented_keys
    assert undocumented_keys(live_dicts()) == []


def test_the_core_sample_needs_no_extension():
    code = ("import sys, execo.config_sample as s; s.main([]); "
            "print(); print(sorted(m for m in sys.modules if m.startswith('execo_g5k')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == "[]"
    assert "# default_connection_params = {" in out and "g5k_configuration" not in out


def test_every_key_of_execo_2_8_2_is_accepted_and_documented():
    from tests.old_execo import run_old_execo
    old = run_old_execo(
        "import json; from execo import config as c; from execo_g5k import config as g; "
        "print(json.dumps({'configuration': sorted(c.configuration), "
        "'default_connection_params': sorted(c.default_connection_params), "
        "'g5k_configuration': sorted(g.g5k_configuration), "
        "'default_frontend_connection_params': sorted(g.default_frontend_connection_params), "
        "'default_oarsh_oarcp_params': sorted(g.default_oarsh_oarcp_params)}))")
    import execo_g5k  # noqa: F401
    from execo.config import documented_dicts
    for name, keys in old.items():
        values, docs = documented_dicts[name]
        assert set(keys) <= set(values), (name, set(keys) - set(values))
        assert set(keys) <= set(docs), (name, set(keys) - set(docs))


def test_sample_file_matches_the_defaults(tmp_path):
    # a HOME without ~/.execo.conf.py: the sample shows the shipped defaults
    generated = subprocess.run([sys.executable, "-m", "execo.config_sample", "execo_g5k"],
                               cwd=REPO,
                               env=dict(os.environ, HOME=str(tmp_path), PYTHONPATH=REPO),
                               capture_output=True, text=True, check=True).stdout
    with open(os.path.join(REPO, "execo.conf.py.sample")) as f:
        assert f.read() == generated, \
            "run: python -m execo.config_sample execo_g5k > execo.conf.py.sample"


def test_sample_file_is_valid_python_once_uncommented(tmp_path):
    with open(os.path.join(REPO, "execo.conf.py.sample")) as f:
        text = f.read()
    import re
    uncommented = "\n".join(line[2:] if re.match(r"^# (\w+ = \{|\}|    '|    #)", line) else ""
                            for line in text.splitlines())
    compile(uncommented, "sample", "exec")
