"""A misspelled configuration key warns once, with the closest valid key;
execo 2.8.2's keys never warn (compared with 2.8.2 itself)."""

import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from execo import Remote, SshProcess, config, configuration, default_connection_params
from execo.config import ExecoConfigWarning
from execo_g5k.config import g5k_configuration
from tests.old_execo import run_old_execo

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which keys were warned about; restore the dicts after."""
    monkeypatch.setattr(config, "_warned_keys", set())
    saved = [(d, dict(d)) for d in (configuration, g5k_configuration)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    for target, copy in saved:
        dict.clear(target)
        dict.update(target, copy)


def messages(caught):
    return [str(w.message) for w in caught if issubclass(w.category, ExecoConfigWarning)]


@pytest.fixture(scope="module")
def keys_2x():
    return run_old_execo(textwrap.dedent("""\
        import json
        from execo.config import configuration, default_connection_params
        from execo_g5k.config import (g5k_configuration, default_frontend_connection_params,
                                      default_oarsh_oarcp_params)
        print(json.dumps({"configuration": sorted(configuration),
                          "connection": sorted(set(default_connection_params)
                                               | set(default_frontend_connection_params)
                                               | set(default_oarsh_oarcp_params)),
                          "g5k": sorted(g5k_configuration)}))
    """))


def test_a_misspelled_configuration_key_warns_once_with_the_closest_key(fresh_warnings):
    configuration['kil_timeout'] = 3
    configuration['kil_timeout'] = 4
    assert messages(fresh_warnings) == [
        "unknown configuration key 'kil_timeout': it has no effect; did you mean "
        "'kill_timeout'?"]
    # it points at the user's line
    assert fresh_warnings[0].filename == __file__


def test_update_and_setdefault_are_checked_too(fresh_warnings):
    configuration.update({'log_levle': 10})
    configuration.setdefault('remote_tol', 0)
    assert messages(fresh_warnings) == [
        "unknown configuration key 'log_levle': it has no effect; did you mean 'log_level'?",
        "unknown configuration key 'remote_tol': it has no effect; did you mean "
        "'remote_tool'?"]
    assert {w.filename for w in fresh_warnings} == {__file__}


def test_g5k_configuration_and_connection_params_are_checked(fresh_warnings):
    g5k_configuration['polling_intervall'] = 3
    Remote("true", ["h1"], connection_params={'usr': 'x'})
    SshProcess("true", "h1", connexion_params={'ssh_option': ()})
    assert messages(fresh_warnings) == [
        "unknown g5k_configuration key 'polling_intervall': it has no effect; did you mean "
        "'polling_interval'?",
        "unknown connection params key 'usr': it has no effect; did you mean 'user'?",
        "unknown connection params key 'ssh_option': it has no effect; did you mean "
        "'ssh_options'?"]


def test_no_close_key_lists_the_valid_ones(fresh_warnings):
    configuration['zzzzzzzz'] = 1
    assert messages(fresh_warnings)[0].endswith("valid keys: " + ", ".join(
        sorted(config.CONFIGURATION_DOCS)))


def test_every_key_of_execo_2_8_2_is_accepted_silently(fresh_warnings, keys_2x):
    for key in keys_2x["configuration"]:
        configuration[key] = configuration.get(key)
    for key in keys_2x["g5k"]:
        g5k_configuration[key] = g5k_configuration.get(key)
    Remote("true", ["h1"], connection_params={
        key: default_connection_params.get(key) for key in keys_2x["connection"]})
    assert messages(fresh_warnings) == []


def run_with_config_file(tmp_path, text):
    (tmp_path / ".execo.conf.py").write_text(text)
    return subprocess.run([sys.executable, "-c", "import execo, execo_g5k"],
                          env=dict(os.environ, HOME=str(tmp_path), PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=60)


def test_a_typo_in_the_configuration_file_warns_once_naming_the_file(tmp_path):
    result = run_with_config_file(tmp_path, textwrap.dedent("""\
        configuration = {'kill_timout': 2}
        default_connexion_params = {'usr': 'me'}
        g5k_configuration = {'default_frontnd': 'nancy'}
    """))
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if "ExecoConfigWarning" in line]
    path = str(tmp_path / ".execo.conf.py")
    assert [line.split("ExecoConfigWarning: ", 1)[1] for line in lines] == [
        "unknown configuration key 'kill_timout' in configuration of %s: it has no effect; "
        "did you mean 'kill_timeout'?" % path,
        "unknown connection params key 'usr' in default_connexion_params of %s: it has no "
        "effect; did you mean 'user'?" % path,
        "unknown g5k_configuration key 'default_frontnd' in g5k_configuration of %s: it has "
        "no effect; did you mean 'default_frontend'?" % path]


def test_a_2x_configuration_file_loads_without_a_word(tmp_path, keys_2x):
    # every 2.x key, set to our default value (a value of the right type)
    def entries(kind, defaults):
        return ", ".join("%r: %r" % (key, defaults.get(key)) for key in keys_2x[kind])
    text = "configuration = {%s}\ndefault_connection_params = {%s}\n" \
        "g5k_configuration = {%s}\n" % (entries("configuration", configuration),
                                        entries("connection", default_connection_params),
                                        entries("g5k", g5k_configuration))
    text += "default_frontend_connexion_params = {'pty': True}\n"
    result = run_with_config_file(tmp_path, text)
    assert result.returncode == 0
    assert result.stderr == ""


def test_a_transport_key_set_in_the_configuration_file_is_kept_without_a_word(tmp_path):
    # ssh declares 'connection_sharing' when execo is imported, after the
    # file was read: the file's value must win and must not be taken for a typo
    (tmp_path / ".execo.conf.py").write_text(
        "default_connection_params = {'connection_sharing': 30, 'taktuk_options': ('-w', '3')}\n")
    code = ("import execo; p = execo.default_connection_params; "
            "print(p['connection_sharing'], p['taktuk_options'], p['kill_remote_on_disconnect'])")
    result = subprocess.run([sys.executable, "-c", code],
                            env=dict(os.environ, HOME=str(tmp_path), PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "30 ('-w', '3') True\n"


def test_a_transport_declares_its_keys_with_their_documentation(monkeypatch):
    monkeypatch.setattr(config, "default_connection_params", dict(default_connection_params))
    monkeypatch.setattr(config, "CONNECTION_PARAMS_DOCS", dict(config.CONNECTION_PARAMS_DOCS))
    config.declare_connection_params({'example_retries': 2}, {'example_retries': "tries"})
    assert config.default_connection_params['example_retries'] == 2
    assert config.CONNECTION_PARAMS_DOCS['example_retries'] == "tries"
    with pytest.raises(ValueError):
        config.declare_connection_params({'example_undocumented': 1}, {})
