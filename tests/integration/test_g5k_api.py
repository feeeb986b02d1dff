"""The Grid5000 API client against a real HTTP server on loopback.

The real API cannot be reached from here: ``g5k_api_standin`` serves a small
reference tree in its JSON shape (see its docstring), and
``g5k_configuration['api_uri']`` points at it for each test.
"""

import base64
import io
import json
import logging
import os
import pty
import select
import socket
import subprocess
import sys
import threading
import time
import traceback

import pytest

from execo_g5k import api_utils
from execo_g5k.api import APIConnection, APIException, forget_credentials
from execo_g5k.config import g5k_configuration
from g5k_api_standin import G5kApiStandin

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = 's3cr3t-Pa55w0rd'
NODES = {
    'graphene': ['graphene-1', 'graphene-2', 'graphene-3', 'graphene-10'],
    'griffon': ['griffon-1', 'griffon-2', 'griffon-12'],
    'paravance': ['paravance-1', 'paravance-2', 'paravance-3'],
}


@pytest.fixture
def standin():
    with G5kApiStandin() as server:
        yield server


@pytest.fixture
def g5k_api(standin, tmp_path, monkeypatch):
    """Point the configuration at the stand-in, with fast retries."""
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    saved = dict(g5k_configuration)
    g5k_configuration.update({
        'api_uri': standin.uri,
        'api_username': None,
        'api_cache_dir': str(tmp_path / 'cache'),
        'api_cache_max_age': 3600,
        'api_retries': 3,
        'api_retry_delay': 0.01,
        'api_timeout': 20,
    })
    api_utils.clear_cache()
    forget_credentials()
    yield standin
    api_utils.clear_cache()
    forget_credentials()
    g5k_configuration.clear()
    g5k_configuration.update(saved)


@pytest.fixture
def keyring_backend(tmp_path):
    """A real file keyring in tmp_path, since no desktop keyring runs here."""
    keyring = pytest.importorskip('keyring')
    plaintext = pytest.importorskip('keyrings.alt.file')
    previous = keyring.get_keyring()
    backend = plaintext.PlaintextKeyring()
    backend.file_path = str(tmp_path / 'keyring_pass.cfg')
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def all_logs():
    """Everything logged at any level, by execo and by requests/urllib3."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger('execo')]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield stream
    for lg, level in zip(loggers, levels):
        lg.removeHandler(handler)
        lg.setLevel(level)


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def assert_no_secret(text, username='alice', password=PASSWORD):
    token = base64.b64encode(('%s:%s' % (username, password)).encode()).decode()
    assert password not in text
    assert token not in text


def full_text(exc):
    return ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# listings

def test_sites_clusters_and_hosts_are_listed_in_natural_order(g5k_api):
    assert api_utils.get_g5k_sites() == ['nancy', 'rennes']
    assert api_utils.get_site_clusters('nancy', queues=None) == ['graphene', 'griffon']
    assert api_utils.get_g5k_clusters(queues=None) == ['graphene', 'griffon', 'paravance']
    assert api_utils.get_cluster_hosts('graphene') == NODES['graphene']
    assert api_utils.get_site_hosts('rennes') == NODES['paravance']
    assert api_utils.get_g5k_hosts(queues=None) == (
        NODES['graphene'] + NODES['griffon'] + NODES['paravance'])
    assert api_utils.get_cluster_site('paravance') == 'rennes'
    assert api_utils.get_cluster_site('nosuchcluster') is None


def test_clusters_are_filtered_by_oar_queue_default_by_default(g5k_api):
    # griffon is only in the production queue in the stand-in's tree
    assert api_utils.get_site_clusters('nancy') == ['graphene']
    assert api_utils.get_g5k_clusters() == ['graphene', 'paravance']
    assert api_utils.get_g5k_clusters(queues='production') == ['griffon']
    assert api_utils.get_g5k_clusters(queues=['production', 'besteffort']) == [
        'griffon', 'paravance']
    assert 'griffon-1' not in api_utils.get_g5k_hosts()


def test_host_questions_accept_short_long_kavlan_and_host_object_names(g5k_api):
    class Host:
        address = 'griffon-12-kavlan-4'

    assert api_utils.get_host_site('griffon-1') == 'nancy'
    assert api_utils.get_host_site('paravance-2-eth1.rennes.grid5000.fr') == 'rennes'
    assert api_utils.get_host_site(Host()) == 'nancy'
    assert api_utils.get_host_cluster('paravance-2-kavlan-5') == 'paravance'
    assert api_utils.get_host_longname('griffon-12-kavlan-4') == \
        'griffon-12-kavlan-4.nancy.grid5000.fr'
    assert api_utils.get_host_longname(Host()) == 'griffon-12-kavlan-4.nancy.grid5000.fr'
    assert api_utils.get_host_longname('paravance-1.rennes') == \
        'paravance-1.rennes.grid5000.fr'
    assert api_utils.get_host_longname('nosuchcluster-1') is None
    assert api_utils.get_host_shortname('griffon-2-eth1.nancy.grid5000.fr') == 'griffon-2'
    assert api_utils.canonical_host_name('griffon-2-eth1.nancy') == 'griffon-2.nancy'


def test_attributes_are_the_api_descriptions(g5k_api):
    host = api_utils.get_host_attributes('griffon-2-eth1.nancy.grid5000.fr')
    assert host['uid'] == 'griffon-2'
    assert host['architecture']['nb_cores'] == 8
    assert api_utils.get_cluster_attributes('griffon')['queues'] == ['admin', 'production']
    assert api_utils.get_site_attributes('rennes')['name'] == 'Rennes'
    path = 'sites/nancy/clusters/griffon/nodes/griffon-1'
    assert api_utils.get_resource_attributes(path)['uid'] == 'griffon-1'


def test_unknown_names_raise_key_errors_naming_them(g5k_api):
    with pytest.raises(KeyError, match='nosuchcluster-1'):
        api_utils.get_host_attributes('nosuchcluster-1')
    with pytest.raises(KeyError, match='nosuchcluster'):
        api_utils.get_cluster_hosts('nosuchcluster')
    with pytest.raises(KeyError, match="'lille'"):
        api_utils.get_site_clusters('lille')


def test_group_hosts_groups_by_site_then_cluster_keeping_the_given_objects(g5k_api):
    hosts = ['griffon-1', 'paravance-3.rennes.grid5000.fr', 'graphene-2-kavlan-4',
             'griffon-12.nancy.grid5000.fr']
    assert api_utils.group_hosts(hosts) == {
        'nancy': {'griffon': ['griffon-1', 'griffon-12.nancy.grid5000.fr'],
                  'graphene': ['graphene-2-kavlan-4']},
        'rennes': {'paravance': ['paravance-3.rennes.grid5000.fr']},
    }


# the cache

def test_second_listing_makes_no_request(g5k_api):
    api_utils.get_g5k_sites()
    first = g5k_api.request_count
    assert first > 0
    api_utils.get_g5k_hosts()
    api_utils.get_site_clusters('rennes')
    api_utils.get_host_attributes('griffon-1')
    assert g5k_api.request_count == first


def test_another_script_is_served_by_the_disk_cache_without_requests(g5k_api, tmp_path):
    api_utils.get_g5k_sites()
    count = g5k_api.request_count
    script = (
        'from execo_g5k.config import g5k_configuration as c\n'
        'c["api_uri"] = %r\n'
        'c["api_cache_dir"] = %r\n'
        'c["api_username"] = None\n'
        'from execo_g5k import api_utils\n'
        'print(",".join(api_utils.get_cluster_hosts("paravance")))\n'
        % (g5k_api.uri, g5k_configuration['api_cache_dir']))
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            cwd=REPO, timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ','.join(NODES['paravance'])
    assert g5k_api.request_count == count


def test_a_stale_cache_is_fetched_again(g5k_api):
    api_utils.get_g5k_sites()
    count = g5k_api.request_count
    g5k_configuration['api_cache_max_age'] = 0
    api_utils.get_g5k_sites()
    assert g5k_api.request_count == 2 * count


def test_a_stale_cache_is_used_when_the_api_cannot_be_reached(g5k_api, all_logs):
    api_utils.get_g5k_sites()
    g5k_api.stop()
    api_utils.clear_cache()
    g5k_configuration['api_cache_max_age'] = 0
    assert api_utils.get_cluster_hosts('griffon') == NODES['griffon']
    assert 'API is unreachable' in all_logs.getvalue()


def test_a_corrupt_cache_file_is_ignored_and_replaced(g5k_api):
    api_utils.get_g5k_sites()
    count = g5k_api.request_count
    cache_dir = g5k_configuration['api_cache_dir']
    (name,) = os.listdir(cache_dir)
    with open(os.path.join(cache_dir, name), 'w') as cache:
        cache.write('{"format": 1, "api_uri": ')
    api_utils.clear_cache()
    assert api_utils.get_g5k_sites() == ['nancy', 'rennes']
    assert g5k_api.request_count == 2 * count
    with open(os.path.join(cache_dir, name)) as cache:
        assert json.load(cache)['hierarchy']['rennes'] == {'paravance': NODES['paravance']}


def test_concurrent_cache_writers_never_expose_a_partial_file(tmp_path):
    path = str(tmp_path / 'cache' / 'reference-x.json')
    snapshots = [{'writer': n, 'padding': [str(n) * 100] * 2000} for n in range(4)]
    api_utils._write_cache(path, snapshots[0])
    stop = threading.Event()

    def write(snapshot):
        while not stop.is_set():
            api_utils._write_cache(path, snapshot)

    writers = [threading.Thread(target=write, args=(s,)) for s in snapshots]
    for writer in writers:
        writer.start()
    try:
        seen = set()
        for _ in range(300):
            with open(path) as cache:
                snapshot = json.load(cache)  # a torn file would not parse
            assert snapshot == snapshots[snapshot['writer']]
            seen.add(snapshot['writer'])
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert os.listdir(os.path.dirname(path)) == ['reference-x.json']


def test_disk_cache_can_be_disabled(g5k_api):
    g5k_configuration['api_cache_dir'] = None
    assert api_utils.get_g5k_sites() == ['nancy', 'rennes']


# HTTP behaviour

def test_503s_are_retried_until_success(g5k_api):
    g5k_api.fail_next(2, 503)
    connection = APIConnection()
    assert [site['uid'] for site in connection.get('sites')['items']] == ['nancy', 'rennes']
    assert g5k_api.request_count == 3


def test_5xx_beyond_the_retry_budget_fail_with_status_and_body(g5k_api):
    g5k_api.fail_next(10, 503)
    connection = APIConnection(retries=2)
    with pytest.raises(APIException) as failure:
        connection.get('sites')
    assert g5k_api.request_count == 3
    assert failure.value.status_code == 503
    message = str(failure.value)
    assert message.startswith('GET %ssites: HTTP 503' % (g5k_api.uri,))
    assert 'the stand-in was told to fail' in message
    assert '[3 attempts]' in message


def test_a_404_is_not_retried_and_names_the_resource(g5k_api):
    with pytest.raises(APIException, match='HTTP 404.*Cannot find resource'):
        APIConnection().get('sites/lille')
    assert g5k_api.request_count == 1


def test_post_sends_json_and_returns_the_decoded_answer(g5k_api):
    answer = APIConnection().post('sites/nancy/jobs', {'resources': 'nodes=2'})
    assert answer['submitted'] == {'resources': 'nodes=2'}
    assert g5k_api.posted == [('/sites/nancy/jobs', {'resources': 'nodes=2'})]


def test_post_is_not_replayed_after_a_500_it_may_have_acted_on(g5k_api):
    g5k_api.fail_next(1, 500)
    with pytest.raises(APIException):
        APIConnection().post('sites/nancy/jobs', {'resources': 'nodes=2'})
    assert g5k_api.request_count == 1


def test_additional_args_are_sent_as_query_arguments(g5k_api):
    g5k_configuration['api_additional_args'] = {'branch': 'testing'}
    APIConnection(additional_args={'deep': 'true'}).get('sites')
    assert g5k_api.requests[-1] == ('GET', '/3.0/sites?branch=testing&deep=true')


def test_an_unreachable_api_fails_clearly_within_the_timeout(g5k_api):
    uri = 'http://127.0.0.1:%d/3.0/' % (closed_port(),)
    timeout = 10.0
    start = time.monotonic()
    with pytest.raises(APIException) as failure:
        APIConnection(uri, timeout=timeout).get('sites')
    assert (time.monotonic() - start) / timeout < 1
    assert failure.value.response is None
    assert 'cannot reach the API' in str(failure.value)
    assert 'GET %ssites' % (uri,) in str(failure.value)


def test_a_silent_server_fails_within_the_timeout_retries_included(g5k_api):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        uri = 'http://127.0.0.1:%d/3.0/' % (silent.getsockname()[1],)
        timeout = 1.0
        start = time.monotonic()
        with pytest.raises(APIException, match='no answer within'):
            APIConnection(uri, timeout=timeout, retries=5).get('sites')
        assert (time.monotonic() - start) / timeout < 2


@pytest.fixture
def tls_standin(tmp_path, monkeypatch):
    """The stand-in over HTTPS with a self-signed certificate for 127.0.0.1."""
    cert, key = str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, capture_output=True, timeout=60)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    saved = dict(g5k_configuration)
    with G5kApiStandin(tls_files=(cert, key)) as server:
        server.cert = cert
        yield server
    g5k_configuration.clear()
    g5k_configuration.update(saved)


def test_tls_certificates_are_verified_by_default_and_not_retried(tls_standin):
    with pytest.raises(APIException, match='CERTIFICATE_VERIFY_FAILED.*api_verify_ssl_cert'):
        APIConnection(tls_standin.uri, retries=3, retry_delay=0.01).get('sites')
    assert tls_standin.request_count == 0


def test_tls_verification_uses_the_configured_bundle_or_can_be_disabled(tls_standin,
                                                                         all_logs):
    g5k_configuration['api_verify_ssl_cert'] = tls_standin.cert
    assert APIConnection(tls_standin.uri).get('sites')['total'] == 2
    g5k_configuration['api_verify_ssl_cert'] = False
    assert APIConnection(tls_standin.uri).get('sites')['total'] == 2
    assert "api_verify_ssl_cert'] is False" in all_logs.getvalue()


# credentials

def test_401_without_username_says_authentication_is_needed(g5k_api):
    g5k_api.credentials = ('alice', PASSWORD)
    with pytest.raises(APIException, match=r"HTTP 401.*set g5k_configuration\['api_username'\]"):
        api_utils.get_g5k_sites()


def test_401_for_a_wrong_password_is_clear_and_never_shows_the_password(g5k_api, all_logs):
    g5k_api.credentials = ('alice', 'the-right-one')
    connection = APIConnection(username='alice', password=PASSWORD)
    with pytest.raises(APIException) as failure:
        connection.get('sites')
    message = str(failure.value)
    assert 'HTTP 401' in message and "refused user 'alice'" in message
    assert 'keyring set grid5000_api alice' in message
    for text in (message, repr(failure.value), full_text(failure.value), repr(connection),
                 repr(connection._session.auth), all_logs.getvalue()):
        assert_no_secret(text)


def test_credentials_in_the_uri_authenticate_and_never_leak(g5k_api, all_logs):
    g5k_api.credentials = ('alice', PASSWORD)
    good = g5k_api.uri.replace('http://', 'http://alice:%s@' % (PASSWORD,))
    connection = APIConnection(good)
    assert connection.get('sites')['total'] == 2
    assert_no_secret(repr(connection))
    unreachable = 'http://alice:%s@127.0.0.1:%d/3.0/' % (PASSWORD, closed_port())
    with pytest.raises(APIException) as failure:
        APIConnection(unreachable).get('sites')
    assert 'cannot reach' in str(failure.value)
    for text in (str(failure.value), repr(failure.value), full_text(failure.value),
                 all_logs.getvalue()):
        assert_no_secret(text)


def test_the_keyring_password_is_used_for_the_configured_user(g5k_api, keyring_backend):
    keyring_backend.set_password('grid5000_api', 'alice', PASSWORD)
    g5k_api.credentials = ('alice', PASSWORD)
    g5k_configuration['api_username'] = 'alice'
    assert api_utils.get_g5k_sites() == ['nancy', 'rennes']


def test_without_stored_password_nor_terminal_the_error_says_how_to_store_it(
        g5k_api, keyring_backend, monkeypatch):
    monkeypatch.setattr(sys, 'stdin', open(os.devnull))
    g5k_configuration['api_username'] = 'bob'
    with pytest.raises(APIException, match='keyring set grid5000_api bob'):
        api_utils.get_g5k_sites()
    sys.stdin.close()


def test_api_modules_import_without_requests_and_keyring_and_say_what_is_missing():
    script = ('import sys\n'
              'sys.modules["requests"] = None\n'
              'sys.modules["keyring"] = None\n'
              'import execo_g5k, execo_g5k.api_utils\n'
              'from execo_g5k.api import APIConnection\n'
              'try:\n'
              '    APIConnection("http://127.0.0.1:9/")\n'
              'except ImportError as exc:\n'
              '    print(exc)\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'pip install requests' in result.stdout


class Terminal:
    """A child process whose stdin/stdout/stderr are a pseudo-terminal."""

    def __init__(self, argv, env, cwd):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd=cwd, start_new_session=True)
        os.close(slave)
        self.output = b''
        self.seen = 0  # expect() looks past what earlier calls matched

    def expect(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output[self.seen:]:
            remaining = deadline - time.monotonic()
            assert remaining > 0, 'no %r in %r' % (text, self.output)
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b''
                assert chunk, 'child ended without printing %r: %r' % (text, self.output)
                self.output += chunk
        self.seen = self.output.index(text.encode(), self.seen) + len(text)

    def send(self, line):
        os.write(self.master, line.encode() + b'\n')

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        os.close(self.master)


def test_password_is_asked_on_the_terminal_once_then_offered_to_the_keyring(
        g5k_api, tmp_path):
    g5k_api.credentials = ('carol', PASSWORD)
    script = (
        'from execo_g5k.config import g5k_configuration as c\n'
        'c.update(api_uri=%r, api_username="carol", api_cache_dir=None)\n'
        'from execo_g5k.api import APIConnection\n'
        'for _ in range(2):\n'
        '    print("sites:", APIConnection().get("sites")["total"])\n'
        'print("done")\n' % (g5k_api.uri,))
    env = dict(os.environ, PYTHON_KEYRING_BACKEND='keyrings.alt.file.PlaintextKeyring',
               XDG_DATA_HOME=str(tmp_path / 'data'), HOME=str(tmp_path), NO_PROXY='127.0.0.1')
    terminal = Terminal([sys.executable, '-c', script], env, REPO)
    try:
        terminal.expect('password for carol')
        terminal.send('not-the-password')
        terminal.expect('refused')
        terminal.expect('password for carol')
        terminal.send(PASSWORD)
        terminal.expect('[Y/n]')
        terminal.send('y')
        terminal.expect('done')
        assert terminal.process.wait(timeout=30) == 0
    finally:
        terminal.close()
    output = terminal.output.decode(errors='replace')
    assert output.count('password for carol') == 2  # once, plus once after the refusal
    assert output.count('sites: 2') == 2
    assert PASSWORD not in output  # typed with echo off
    stored = (tmp_path / 'data' / 'python_keyring' / 'keyring_pass.cfg').read_text()
    assert 'carol' in stored
    keyring_file = pytest.importorskip('keyrings.alt.file')
    backend = keyring_file.PlaintextKeyring()
    backend.file_path = str(tmp_path / 'data' / 'python_keyring' / 'keyring_pass.cfg')
    assert backend.get_password('grid5000_api', 'carol') == PASSWORD
