"""get_planning, get_hosts_jobs and show_resources on the API stand-in alone.

Two sites served with fixed OAR data in the API's format (``g5k_oar_api``
with static readers: the real OAR is exercised by test_planning_oar), so
these run anywhere, quickly, and with a known planning.
"""

import logging
import time

import pytest

from execo_g5k import api_utils
from execo_g5k.config import g5k_configuration
from execo_g5k.planning import get_hosts_jobs, get_planning, max_resources, show_resources
from g5k_oar_api import G5kOarApiStandin, static_oar_reader

NOW = int(time.time())


def _nodes(cluster, numbers, dead=()):
    return {str(n): {'resource_id': n, 'network_address': '%s-%d' % (cluster, n),
                     'type': 'default', 'state': 'Dead' if n in dead else 'Alive'}
            for n in numbers}


def _job(job_id, start, walltime, nodes, state='Running', queue='default'):
    return {'job_id': job_id, 'state': state, 'start_time': start, 'walltime': walltime,
            'network_address': nodes, 'queue_name': queue, 'user': 'someone'}


def _tree():
    def site(name, clusters):
        return ({'uid': name, 'type': 'site'}, {
            c: ({'uid': c, 'type': 'cluster', 'queues': ['admin', 'default', 'besteffort']},
                [{'uid': '%s-%d' % (c, n), 'type': 'node'} for n in (1, 2, 3)])
            for c in clusters})
    return {'nancy': site('nancy', ['graphene']), 'rennes': site('rennes', ['paravance'])}


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    readers = {
        'nancy': static_oar_reader(_nodes('graphene', (1, 2, 3)), {
            '1': _job(1, NOW - 300, 1200, ['graphene-1', 'graphene-2']),
            '2': _job(2, NOW + 3600, 600, ['graphene-3'], state='Waiting'),
            '3': _job(3, NOW - 60, 7200, ['graphene-3'], queue='besteffort')}),
        'rennes': static_oar_reader(_nodes('paravance', (1, 2, 3), dead=(3,)), {
            '9': _job(9, NOW - 100, 900, ['paravance-2'])}),
    }
    saved = dict(g5k_configuration)
    with G5kOarApiStandin(readers, tree=_tree(), page_size=1000) as server:
        g5k_configuration.update({'api_uri': server.uri, 'api_username': None,
                                  'api_cache_dir': None, 'planning_source': 'api'})
        api_utils.clear_cache()
        yield server
    g5k_configuration.clear()
    g5k_configuration.update(saved)
    api_utils.clear_cache()


def test_planning_from_the_api_places_jobs_and_ignores_besteffort(api):
    start, end = NOW, NOW + 4 * 3600
    planning = get_planning(['grid5000'], starttime=start, endtime=end)
    graphene = planning['nancy']['graphene']
    assert graphene['graphene-1']['busy'] == [(start, NOW - 300 + 1200 + 121)]
    assert graphene['graphene-1']['free'] == [(NOW - 300 + 1321, end)]
    # the waiting job is placed at its prediction; the besteffort one is ignored
    assert graphene['graphene-3']['busy'] == [(NOW + 3600, NOW + 3600 + 600 + 121)]
    assert sorted(planning['rennes']['paravance']) == ['paravance-1', 'paravance-2']
    with_besteffort = get_planning(['graphene-3'], starttime=start, endtime=end,
                                   ignore_besteffort=False)
    assert list(with_besteffort['nancy']['graphene']) == ['graphene-3']
    assert with_besteffort['nancy']['graphene']['graphene-3']['busy'][0] == (start, NOW + 7261)
    assert max_resources(planning) == {'grid5000': 5, 'nancy': 3, 'graphene': 3,
                                       'rennes': 2, 'paravance': 2}


def test_out_of_chart_makes_charter_hours_busy(api):
    from execo_g5k.charter import get_charter_el_planning
    start, end = NOW, NOW + 3 * 86400
    planning = get_planning(['paravance-1'], starttime=start, endtime=end, out_of_chart=True)
    charter = get_charter_el_planning(start, end)
    busy = planning['rennes']['paravance']['paravance-1']['busy']
    assert [iv for iv in busy if iv in charter or (iv[0] == start)] == busy
    assert len(busy) == len(charter)


def test_get_hosts_jobs_reserves_when_all_hosts_are_free(api):
    hosts = ['graphene-1.nancy.grid5000.fr', 'graphene-3.nancy.grid5000.fr',
             'paravance-2.rennes.grid5000.fr']
    specs = get_hosts_jobs(hosts, '0:30:00')
    assert [(s.resources, site) for s, site in specs] == [
        ("{host in ('graphene-1.nancy.grid5000.fr','graphene-3.nancy.grid5000.fr')}/nodes=2",
         'nancy'),
        ("{host in ('paravance-2.rennes.grid5000.fr')}/nodes=1", 'rennes')]
    # graphene-1 is free at its job's end + 121 s; graphene-3 then has 43 min before its next job
    assert {s.reservation_date for s, _ in specs} == {NOW - 300 + 1200 + 121}
    # for an hour, graphene-3's waiting job must be over first
    later = get_hosts_jobs(hosts, '1:00:00')
    assert {s.reservation_date for s, _ in later} == {NOW + 3600 + 600 + 121}


def test_show_resources_logs_sites_clusters_and_totals(api, caplog_execo):
    caplog_execo.handler.setLevel(logging.INFO)
    logger = logging.getLogger('execo')
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        show_resources({'grid5000': 4, 'nancy': 2, 'graphene': 1, 'paravance': 2},
                       max_resources={'grid5000': 5, 'graphene': 3})
    finally:
        logger.setLevel(level)
    text = caplog_execo.text
    assert 'graphene: 1/3' in text and 'paravance: 2' in text
    assert 'Grid5000' in text and '4/5' in text
