"""execo 2.x's calls of APIConnection, get_api_data, format_oar_date and
load_configuration, as its signatures allow them, work here too.

The API is the stand-in on loopback (``g5k_api_standin``: the real one
cannot be reached from here); 2.8.2 runs in its own virtualenv
(``tests.old_execo``) where the same inputs are compared.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from execo.config import load_configuration
from execo_g5k import api_utils
from execo_g5k.api import APIConnection
from execo_g5k.config import FromConfiguration, g5k_configuration
from execo_g5k.oar import format_oar_date
from g5k_api_standin import G5kApiStandin
from tests.old_execo import run_old_execo
from tests.old_execo_g5k import run_old_g5k

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def g5k_api(tmp_path, monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    saved = dict(g5k_configuration)
    with G5kApiStandin() as server:
        g5k_configuration.update({'api_uri': server.uri, 'api_username': None,
                                  'api_cache_dir': str(tmp_path / 'configured'),
                                  'api_retries': 1, 'api_retry_delay': 0.01})
        api_utils.clear_cache()
        yield server
    api_utils.clear_cache()
    g5k_configuration.clear()
    g5k_configuration.update(saved)


def test_api_connection_takes_2x_positional_arguments_and_its_default_timeout(g5k_api):
    connection = APIConnection(g5k_api.uri, None, None, {'Accept': 'application/json'},
                               {'deep': 'true'}, 30)
    assert connection.get('sites')['total'] > 0
    assert g5k_api.requests[-1] == ('GET', '/3.0/sites?deep=true')
    # 2.x's default, 30 s, is the configuration's, read when the call is made
    assert APIConnection()._timeout() == 30.0
    g5k_configuration['api_timeout'] = 7
    assert APIConnection()._timeout() == 7.0
    # None: no bound, as in 2.x
    unbounded = APIConnection(timeout=None)
    assert unbounded._timeout() is None
    assert unbounded.get('sites')['total'] > 0


def _cache_files(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_get_api_data_cache_dir_as_2x_none_disables_the_disk_cache(g5k_api, tmp_path):
    configured, given = str(tmp_path / 'configured'), str(tmp_path / 'given') + '/'
    assert get_hierarchy(cache_dir=None) and _cache_files(configured) == []
    api_utils.clear_cache()
    assert get_hierarchy(given) and _cache_files(configured) == []
    assert [name.split('-')[0] for name in _cache_files(given)] == ['reference']
    api_utils.clear_cache()
    asked = g5k_api.request_count
    get_hierarchy(given)  # from the given directory's cache: no request
    assert g5k_api.request_count == asked
    api_utils.clear_cache()
    get_hierarchy()
    assert [name.split('-')[0] for name in _cache_files(configured)] == ['reference']


def get_hierarchy(*args, **kwargs):
    return api_utils.get_api_data(*args, **kwargs)['hierarchy']


def test_defaults_read_from_the_configuration_show_their_key():
    assert repr(FromConfiguration('api_cache_dir')) == "g5k_configuration['api_cache_dir']"
    assert FromConfiguration.resolve(FromConfiguration('api_timeout')) == \
        g5k_configuration['api_timeout']
    assert FromConfiguration.resolve(None) is None


DATES = [0, 1924300800, 1711846800, 1711850400, 1729990800, 1729994400.7,
         "2030-01-02 03:04:05"]


@pytest.mark.parametrize("machine_tz", ["Europe/Paris", "UTC", "America/New_York"])
def test_format_oar_date_takes_ts_as_2x_and_gives_its_dates_in_paris_time(machine_tz):
    """2.x formats in Paris time wherever the script runs (Grid5000's OAR
    servers read dates so): ours too, by default; each side in a
    subprocess under the machine time zone given."""
    code = ("import json, sys\nfrom execo_g5k.oar import format_oar_date\n"
            "print(json.dumps([format_oar_date(ts=d) for d in json.loads(sys.argv[1])]"
            " + [format_oar_date(d) for d in json.loads(sys.argv[1])]))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(DATES)], capture_output=True,
                          text=True, check=True, cwd=REPO,
                          env=dict(os.environ, TZ=machine_tz, PYTHONPATH=REPO))
    ours = json.loads(done.stdout)
    old = run_old_g5k("from execo_g5k.oar import format_oar_date\n"
                      "print(json.dumps([format_oar_date(ts=d) for d in DATA]"
                      " + [format_oar_date(d) for d in DATA]))",
                      DATES, env={'TZ': machine_tz})
    assert ours == old
    assert format_oar_date(ts=DATES[1]) == format_oar_date(DATES[1])


def test_oar_dates_follow_the_configured_time_zone(monkeypatch):
    """None: the machine's time, for an OAR server next to the script (the
    test bed's); a zone name: that zone's. Written and read alike."""
    from execo_g5k.oar import oar_date_to_unixts
    monkeypatch.setenv('TZ', 'America/New_York')
    import time
    time.tzset()
    try:
        monkeypatch.setitem(g5k_configuration, 'oar_timezone', None)
        assert format_oar_date(1893582245) == '2030-01-02 06:04:05'
        assert oar_date_to_unixts('2030-01-02 06:04:05') == 1893582245
        monkeypatch.setitem(g5k_configuration, 'oar_timezone', 'Asia/Tokyo')
        assert format_oar_date(1893582245) == '2030-01-02 20:04:05'
        assert oar_date_to_unixts('2030-01-02 20:04:05') == 1893582245
        monkeypatch.setitem(g5k_configuration, 'oar_timezone', 'Europe/Pariss')
        with pytest.raises(RuntimeError, match="Europe/Pariss"):
            format_oar_date(0)
    finally:
        monkeypatch.undo()
        time.tzset()


CONFIG_FILE = textwrap.dedent("""\
    configuration = {'color_mode': True, 'port_range': (25000, 26000)}
    default_connection_params = {'user': 'someone', 'ssh_options': ('-o', 'A=b')}
    unrelated = 3
    """)


def test_load_configuration_takes_2x_arguments_with_2x_results(tmp_path):
    path = tmp_path / 'conf.py'
    path.write_text(CONFIG_FILE)
    dicts = {'configuration': {'color_mode': False, 'kept': 1},
             'default_connection_params': {'user': None}, 'absent': {'x': 1}}
    code = textwrap.dedent("""\
        import json
        from execo.config import load_configuration
        dicts = json.loads(%r)
        load_configuration(%r, [(d, name) for name, d in dicts.items()])
        load_configuration(filename=%r, dicts_confs=[(dicts['absent'], 'absent')])
        print(json.dumps(dicts))
        """) % (json.dumps(dicts), str(path), str(path))
    old = run_old_execo(code)
    ours = json.loads(json.dumps(dicts))
    load_configuration(str(path), [(d, name) for name, d in ours.items()])
    load_configuration(filename=str(path), dicts_confs=[(ours['absent'], 'absent')])
    assert json.loads(json.dumps(ours)) == old
    assert old['configuration'] == {'color_mode': True, 'kept': 1, 'port_range': [25000, 26000]}
    # and execo's own spelling: {name: dict}, then the file
    again = {'color_mode': False}
    load_configuration({'configuration': again}, str(path))
    assert again == {'color_mode': True, 'port_range': (25000, 26000)}
