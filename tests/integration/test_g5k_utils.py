"""execo_g5k.utils, the network side of the API, and the small 2.x names of
execo_g5k.config / .oar / .kadeploy.

The Grid5000 API (network equipments, metrology, KaVLAN) cannot be reached
from here: ``g5k_api_standin`` serves them in the API 3.0's documented
JSON shapes (see the issue-19 block of its docstrings), on loopback. Data
that 2.x hands to users (address ranges, host lists, parsed OAR dates) is
compared with execo 2.8.2 run on the same inputs.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from execo import Process, ProcessOutputHandler
from execo_g5k import api_utils
from execo_g5k.config import (default_frontend_connection_params,
                              make_default_frontend_connection_params,
                              make_default_oarsh_oarcp_params)
from execo_g5k.kadeploy import FrontendPrefixWrapper
from execo_g5k.oar import (OarSubmission, get_oarsub_commandline, oar_date_to_unixts,
                           oar_duration_to_seconds)
from execo_g5k.utils import (G5kAutoPortForwarder, frontend_factory, get_fastest_host,
                             get_ipv4_range, get_kavlan_host_name, get_kavlan_ip_mac,
                             get_kavlan_network, get_mac_addresses, hosts_list)
from tests.old_execo import run_old_execo


# ---- network equipments ----------------------------------------------------------------

def test_network_equipments_of_sites_clusters_and_hosts(network_api):
    assert api_utils.get_site_network_equipments('nancy') == [
        'gw-nancy', 'sgraphene1', 'sgriffon1', 'sgriffon2', 'sw-admin-nancy']
    # the management adapter's switch is not an experiment switch
    assert api_utils.get_host_network_equipments('griffon-2.nancy.grid5000.fr') == [
        'sgriffon1', 'sgriffon2']
    assert api_utils.get_cluster_network_equipments('graphene') == ['sgraphene1']
    assert api_utils.get_network_equipment_site('sparavance2') == 'rennes'
    assert api_utils.get_network_equipment_site('nowhere') is None
    router = api_utils.get_network_equipment_attributes('gw-rennes')
    assert router['kind'] == 'router' and router['vlans']['vlan104']['name'] == 'kavlan-4'
    with pytest.raises(KeyError, match='nowhere'):
        api_utils.get_network_equipment_attributes('nowhere')
    with pytest.raises(KeyError, match='lyon'):
        api_utils.get_site_network_equipments('lyon')


def test_network_data_is_fetched_once_then_served_from_the_disk_cache(network_api):
    api_utils.get_site_network_equipments('nancy')
    asked = [path for _, path in network_api.requests if 'network_equipments' in path]
    assert sorted(asked) == ['/3.0/sites/nancy/network_equipments',
                             '/3.0/sites/nancy/network_equipments?offset=2',
                             '/3.0/sites/nancy/network_equipments?offset=4',
                             '/3.0/sites/rennes/network_equipments',
                             '/3.0/sites/rennes/network_equipments?offset=2']
    count = network_api.request_count
    api_utils.get_network_equipment_site('sgraphene1')
    api_utils.clear_cache()  # memory only: the disk copy answers
    assert api_utils.get_site_network_equipments('rennes')[0] == 'gw-rennes'
    assert network_api.request_count == count


def test_cluster_queues_and_job_types(network_api):
    assert api_utils.get_cluster_queues('griffon') == ['admin', 'production']
    assert api_utils.get_cluster_jobtypes('griffon') == ['exotic']
    assert api_utils.get_cluster_jobtypes('paravance') == []
    with pytest.raises(KeyError, match='nocluster'):
        api_utils.get_cluster_queues('nocluster')


def test_host_interface_from_api_utils():
    assert api_utils.get_host_interface('griffon-1-eth2-kavlan-4.nancy.grid5000.fr') == 'eth2'
    assert api_utils.get_host_interface('griffon-1') == 'eth0'


def test_hosts_metric_ganglia_and_kwapi_shapes_keyed_by_the_hosts_given(network_api):
    hosts = ['graphene-2.nancy.grid5000.fr', 'paravance-3']
    ganglia = api_utils.get_hosts_metric(hosts, 'cpu_user', from_ts=1700000000,
                                         to_ts=1700000045, resolution=15)
    assert ganglia == {
        'graphene-2.nancy.grid5000.fr': {
            'from': 1700000000, 'to': 1700000045, 'resolution': 15, 'type': 'timeseries',
            'values': [(1700000000, 20.0), (1700000015, 21.0), (1700000030, 22.0)]},
        'paravance-3': {
            'from': 1700000000, 'to': 1700000045, 'resolution': 15, 'type': 'timeseries',
            'values': [(1700000000, 30.0), (1700000015, 31.0), (1700000030, 32.0)]}}
    power = api_utils.get_hosts_metric(['griffon-1'], 'power', from_ts=1700000000,
                                       to_ts=1700000030, resolution=10)
    assert power['griffon-1']['values'] == [(1700000000.5, 10.0), (1700000010.5, 11.0),
                                            (1700000020.5, 12.0)]
    asked = [path for _, path in network_api.requests if 'metrics' in path]
    assert '/3.0/sites/rennes/metrics/cpu_user/timeseries?only=paravance-3&from=1700000000' \
           '&to=1700000045&resolution=15' in asked


def test_set_nodes_vlan_posts_the_interface_names(network_api):
    answer = api_utils.set_nodes_vlan('nancy', ['graphene-1.nancy.grid5000.fr', 'graphene-2'],
                                      'eth1', 4)
    assert network_api.posted[-1] == ('/sites/nancy/vlans/4', {
        'nodes': ['graphene-1-eth1.nancy.grid5000.fr', 'graphene-2-eth1']})
    assert answer == {'graphene-1-eth1.nancy.grid5000.fr': 'ok', 'graphene-2-eth1': 'ok'}
    assert network_api.vlan_members == {'graphene-1-eth1.nancy.grid5000.fr': 4,
                                        'graphene-2-eth1': 4}


# ---- KaVLAN addresses -------------------------------------------------------------------

def test_kavlan_network_and_free_addresses(network_api):
    assert get_kavlan_network(5, 'nancy') == ('10.16.64.0', '18')
    assert get_kavlan_network(16, 'rennes') == ('10.23.216.0', '21')
    assert get_kavlan_network(9, 'nancy') == (None, None)
    pairs = get_kavlan_ip_mac(16, 'rennes')
    ips = [ip for ip, _ in pairs]
    # third byte >= 216, none of .0, .254, .255
    assert ips[0] == '10.23.216.1' and ips[252] == '10.23.216.253' and ips[253] == '10.23.217.1'
    assert len(ips) == 8 * 253
    assert len({mac for _, mac in pairs}) == len(pairs)
    with pytest.raises(ValueError, match='KaVLAN 9'):
        get_kavlan_ip_mac(9, 'nancy')


def test_kavlan_network_outside_grid5000_says_what_it_needs(network_api, monkeypatch):
    import tests.integration.g5k_api_standin as g5k_api_standin
    # a site with switches and no router: no KaVLAN there
    monkeypatch.setattr(g5k_api_standin, 'site_network_equipments', lambda tree, site: [
        {'uid': 'sw-1', 'type': 'network_equipment', 'kind': 'switch'}])
    with pytest.raises(ValueError, match='router with vlans'):
        get_kavlan_network(4, 'nancy')


def test_fastest_host_from_the_clusters_flops(network_api):
    assert get_fastest_host(['graphene-1', 'paravance-2.rennes.grid5000.fr', 'griffon-1']) \
        == 'paravance-2.rennes.grid5000.fr'
    with pytest.raises(ValueError):
        get_fastest_host([])


def test_mac_addresses_are_distinct_and_in_the_2x_prefix():
    macs = get_mac_addresses(5000)
    assert len(set(macs)) == 5000
    assert all(mac.startswith('00:20:4e:') and len(mac) == 17 for mac in macs)


def test_frontend_factory_always_uses_ssh_and_scp():
    from execo import configuration, TAKTUK
    saved = configuration['remote_tool']
    configuration['remote_tool'] = TAKTUK
    try:
        assert type(frontend_factory.get_remote('true', ['nancy'])).__name__ == 'Remote'
        assert type(frontend_factory.get_fileput(['nancy'], ['f'])).__name__ == 'Put'
        assert type(frontend_factory.get_fileget(['nancy'], ['f'])).__name__ == 'Get'
    finally:
        configuration['remote_tool'] = saved


# ---- config, oar, kadeploy names --------------------------------------------------------

def test_make_default_params_are_fresh_builtin_dicts():
    default_frontend_connection_params['user'] = 'someone'
    try:
        made = make_default_frontend_connection_params()
        assert 'user' not in made and made['pty'] is True
        assert made['host_rewrite_func']('nancy') == 'nancy.grid5000.fr'
        assert make_default_frontend_connection_params() is not made
    finally:
        del default_frontend_connection_params['user']
    oarsh = make_default_oarsh_oarcp_params()
    assert (oarsh['user'], oarsh['port'], oarsh['pty']) == ('oar', 6667, True)


def test_get_oarsub_commandline_is_written_as_2x_wrote_it():
    line = get_oarsub_commandline(OarSubmission("nodes=2", walltime=3600, name="x y"))
    assert line == 'oarsub -l "nodes=2,walltime=1:0:0" -t "origin=execo" -n "x y" ' \
                   '"sleep 31536000"'


def test_oar_dates_and_durations_errors():
    with pytest.raises(ValueError, match='OAR date'):
        oar_date_to_unixts('yesterday')
    with pytest.raises(ValueError, match='OAR duration'):
        oar_duration_to_seconds('1h')


def test_frontend_prefix_wrapper_prefixes_each_line_with_the_frontend():
    class Lines(ProcessOutputHandler):
        def __init__(self):
            super().__init__()
            self.lines = []

        def read_line(self, process, stream, string):
            self.lines.append(string)

    lines = Lines()
    process = Process("printf 'one\\ntwo\\n'", shell=True,
                      stdout_handlers=[FrontendPrefixWrapper(lines)])
    process.frontend = 'nancy'
    process.run()
    assert lines.lines == ['nancy: one', 'nancy: two']


# ---- the same data as execo 2.8.2 -------------------------------------------------------

SAME_AS_2X = r'''
import json, sys
from execo.host import Host
from execo_g5k.utils import get_ipv4_range, get_kavlan_host_name, hosts_list
from execo_g5k.oar import oar_date_to_unixts, oar_duration_to_seconds
result = {
    'range': [list(a) for a in get_ipv4_range((172, 16, 5, 77), 27)],
    'range32': [list(a) for a in get_ipv4_range((10, 0, 0, 1), 32)],
    'kavlan': [get_kavlan_host_name('griffon-1.nancy.grid5000.fr', 4),
               get_kavlan_host_name(Host('griffon-1'), 16),
               get_kavlan_host_name('griffon-1-eth1.nancy.grid5000.fr', '5')],
    'list': hosts_list(['paravance-3.rennes.grid5000.fr', 'graphene-1.nancy.grid5000.fr',
                        'graphene-10.nancy.grid5000.fr']),
    'list_site': hosts_list(['b-2.nancy.grid5000.fr', 'a-1.rennes.grid5000.fr'],
                            separator=',', site=True),
    'dates': [oar_date_to_unixts(d) for d in ('2026-01-15 10:00:00', '2026-07-15 10:00:00',
                                               '2026-03-29 03:30:00', '1700000000')],
    'durations': [oar_duration_to_seconds(d) for d in ('0:10:00', '26:00:05', '90', '1:2:3')],
}
print(json.dumps(result))
'''


def test_address_ranges_names_lists_and_oar_dates_match_2x():
    env = {'TZ': 'UTC'}
    old = run_old_execo(SAME_AS_2X, env=env)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, '-c', SAME_AS_2X], capture_output=True, text=True,
                          cwd=repo, env=dict(os.environ, PYTHONPATH=repo, **env), timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == old


# ---- G5kAutoPortForwarder --------------------------------------------------------------

def test_auto_port_forwarder_goes_through_the_site_frontend_from_outside(testbed, tmp_path):
    """Outside Grid5000 (this machine), the node's port is forwarded through
    the frontend: here a test-bed alias playing it, with the frontend params
    a user's configuration would give."""
    (tmp_path / 'page.txt').write_text('node service\n')
    with socket.socket() as sock:
        sock.bind(('127.0.0.2', 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, '-u', '-m', 'http.server', '--bind', '127.0.0.2',
                               '--directory', str(tmp_path), str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    saved = dict(default_frontend_connection_params)
    try:
        assert 'Serving HTTP' in server.stdout.readline()
        default_frontend_connection_params.update(
            {'host_rewrite_func': None, 'pty': False,
             'ssh_options': testbed.connection_params['ssh_options']})
        with G5kAutoPortForwarder('node-3', '127.0.0.2', port) as (address, local_port):
            assert address == '127.0.0.1' and local_port != port
            url = 'http://%s:%d/page.txt' % (address, local_port)
            with urllib.request.urlopen(url, timeout=20) as answer:
                assert answer.read() == b'node service\n'
        with pytest.raises(OSError):
            socket.create_connection(('127.0.0.1', local_port), timeout=5).close()
    finally:
        default_frontend_connection_params.clear()
        default_frontend_connection_params.update(saved)
        server.kill()
        server.wait()
