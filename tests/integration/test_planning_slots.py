"""compute_slots and the slot choosers give execo 2.8.2's answers.

The topology (sites, clusters, hosts) reaches our ``execo_g5k`` through the
API stand-in (the real API cannot be reached from here) and 2.8.2 through
its own API cache (``tests.old_execo_g5k``). The plannings are generated
from seeds (``planning_data``): one of the benchmark's size (8 sites, 40
clusters, 800 hosts, 2 000 jobs in a week) and 20 smaller random ones with
exclusions, VLANs and per-host counts. 2.8.2 runs the same calls on the
same JSON in its own virtualenv, and everything it returns is compared.
"""

import copy
import json
import re

import pytest

from execo_g5k import api_utils
from execo_g5k.config import g5k_configuration
from execo_g5k.planning import (compute_slots, distribute_hosts, find_first_slot,
                                find_free_slot, find_max_slot, get_jobs_specs, max_resources)
from g5k_api_standin import G5kApiStandin
from planning_data import random_planning, standin_tree, topology
from tests.old_execo_g5k import run_old_g5k

START = 1924300800  # 2030-12-24, a Tuesday
BENCH_TOPOLOGY = topology(8, 40, 800, seed=18)
SMALL_TOPOLOGY = topology(3, 8, 120, seed=7)


@pytest.fixture
def api_topology(tmp_path, monkeypatch):
    """Point our API client at a stand-in serving a given topology."""
    servers = []
    saved = dict(g5k_configuration)

    def serve(topo):
        server = G5kApiStandin(tree=standin_tree(topo), page_size=100000).start()
        servers.append(server)
        g5k_configuration.update({'api_uri': server.uri, 'api_username': None,
                                  'api_cache_dir': str(tmp_path / ('cache%d' % len(servers)))})
        api_utils.clear_cache()
        return server

    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    yield serve
    api_utils.clear_cache()
    g5k_configuration.clear()
    g5k_configuration.update(saved)
    for server in servers:
        server.stop()


OLD_RUN = r'''
import copy
from execo_g5k.planning import (compute_slots, distribute_hosts, find_first_slot,
    find_free_slot, find_max_slot, get_jobs_specs, max_resources)
results = []
for case in DATA:
    planning = copy.deepcopy(case["planning"])
    slots = compute_slots(planning, case["walltime"], case["excluded"], case["include_hosts"])
    result = {"slots": slots, "planning_after": planning, "max_resources": max_resources(planning),
              "choices": []}
    for wanted in case["wanted"]:
        wanted = dict(wanted)
        free = find_free_slot(slots, wanted)
        choice = {"first": find_first_slot(slots, wanted), "max": find_max_slot(slots, wanted),
                  "free": free, "wanted_after": wanted}
        if free[0] is not None:
            available = copy.deepcopy(free[2])
            dist = distribute_hosts(available, wanted, case["excluded"], case["ratio"])
            choice["distribution"] = dist
            choice["available_after"] = available
            choice["specs"] = [[s.resources, s.name, site] for s, site in
                               get_jobs_specs(dist, case["excluded"], "exp")]
        result["choices"].append(choice)
    results.append(result)
print(json.dumps(results))
'''


def run_ours(cases):
    results = []
    for case in cases:
        planning = copy.deepcopy(case['planning'])
        slots = compute_slots(planning, case['walltime'], case['excluded'],
                              case['include_hosts'])
        result = {'slots': slots, 'planning_after': planning,
                  'max_resources': max_resources(planning), 'choices': []}
        for wanted in case['wanted']:
            wanted = dict(wanted)
            free = find_free_slot(slots, wanted)
            choice = {'first': find_first_slot(slots, wanted), 'max': find_max_slot(slots, wanted),
                      'free': free, 'wanted_after': wanted}
            if free[0] is not None:
                available = copy.deepcopy(free[2])
                dist = distribute_hosts(available, wanted, case['excluded'], case['ratio'])
                choice['distribution'] = dist
                choice['available_after'] = available
                choice['specs'] = [[s.resources, s.name, site] for s, site in
                                   get_jobs_specs(dist, case['excluded'], 'exp')]
            result['choices'].append(choice)
        results.append(result)
    return json.loads(json.dumps(results))


def _request_parts(resources):
    """A resources string with the order of set-ordered names (2.x) normalized,
    and 2.x's '{...}/+nodes=N' written as OAR reads it."""
    resources = resources.replace('}/+nodes=', '}/nodes=')
    return sorted(re.sub(r"\(([^)]*)\)", lambda m: '(' + ', '.join(sorted(m.group(1).split(', ')))
                         + ')', part) for part in resources.split('+') if part)


def assert_same(mine, old):
    assert len(mine) == len(old)
    for m, o in zip(mine, old):
        # the same JSON: values and their types (an int end stays an int)
        assert len(m['slots']) == len(o['slots'])
        differing = [(i, mine_slot, old_slot) for i, (mine_slot, old_slot)
                     in enumerate(zip(m['slots'], o['slots']))
                     if json.dumps(mine_slot, sort_keys=True) != json.dumps(old_slot, sort_keys=True)]
        assert not differing, str(differing[0])[:2000]
        assert m['planning_after'] == o['planning_after']
        assert m['max_resources'] == o['max_resources']
        for mc, oc in zip(m['choices'], o['choices']):
            for key in ('first', 'max', 'free', 'wanted_after', 'distribution',
                        'available_after'):
                assert mc.get(key) == oc.get(key), key
            assert [[_request_parts(r), n, s] for r, n, s in mc.get('specs', [])] == \
                [[_request_parts(r), n, s] for r, n, s in oc.get('specs', [])]


def test_benchmark_planning_gives_2_8_2s_slots(api_topology):
    api_topology(BENCH_TOPOLOGY)
    planning = random_planning(BENCH_TOPOLOGY, seed=18, n_jobs=2000, start=START)
    cases = [{'planning': planning, 'walltime': '2:00:00', 'excluded': None,
              'include_hosts': False, 'ratio': None,
              'wanted': [{'grid5000': 0}, {'grid5000': 300}, {'lyon': 40, 'rennes': 0},
                         {'claa': 5, 'nancy': 30}, {'grid5000': 500, 'clab': 0}]}]
    mine = run_ours(cases)
    old = run_old_g5k(OLD_RUN, cases, topology=BENCH_TOPOLOGY)
    assert_same(mine, old)
    assert len(mine[0]['slots']) > 1500
    assert 100 < mine[0]['choices'][0]['max'][2]['grid5000'] < 800


def _small_cases(seed):
    import random
    rng = random.Random(seed)
    sites = list(SMALL_TOPOLOGY['hierarchy'])
    clusters = [c for s in sites for c in SMALL_TOPOLOGY['hierarchy'][s]]
    vlans = seed % 4 == 0
    planning = random_planning(SMALL_TOPOLOGY, seed=seed, n_jobs=rng.choice([50, 300]),
                               start=START, days=rng.choice([1, 7]), vlans=vlans)
    if seed % 8 == 4:   # a single site: local VLANs are counted
        planning = {sites[0]: planning[sites[0]]}
    some_host = next(iter(planning[sites[0]][clusters[0]]), None)
    excluded = rng.choice([None, [], [sites[-1]], [clusters[1], some_host], ['nowhere']])
    wanted = [{'grid5000': 0}, {'grid5000': rng.randrange(1, 100)},
              {sites[0]: rng.randrange(0, 30), clusters[0]: rng.randrange(0, 10)},
              {clusters[2]: rng.randrange(1, 20), clusters[3]: 0}]
    if vlans:
        wanted.append({'kavlan': 0, sites[0]: 3})
    # elements gone from the planning (excluded, other sites) make 2.x fail
    # with a KeyError in distribute_hosts: ask only for elements still there
    present = {'grid5000', 'kavlan'} | {name for site, site_pl in planning.items()
                                        if site not in (excluded or [])
                                        for name in [site] + list(site_pl)
                                        if name not in (excluded or [])}
    wanted = [{k: v for k, v in w.items() if k in present} for w in wanted]
    return [{'planning': planning, 'walltime': rng.choice(['0:30:00', 3600, '4:00:00', '24:00:00']),
             'excluded': excluded, 'include_hosts': seed % 5 == 0,
             # 2.x fails to apply a ratio to a global VLAN's list of sites
             'ratio': None if vlans else rng.choice([None, 0.5]), 'wanted': wanted}]


def test_twenty_random_plannings_give_2_8_2s_answers(api_topology):
    api_topology(SMALL_TOPOLOGY)
    cases = [case for seed in range(20) for case in _small_cases(seed)]
    mine = run_ours(cases)
    old = run_old_g5k(OLD_RUN, cases, topology=SMALL_TOPOLOGY)
    assert_same(mine, old)
    # the cases reach every branch: VLAN counts, per-host counts, no slot at all
    kinds = {type(slot[2].get('kavlan')).__name__ for r in mine for slot in r['slots'][:1]}
    assert {'int', 'list', 'NoneType'} <= kinds
    assert any(k.endswith('.grid5000.fr') for r in mine for k in r['slots'][0][2])
    assert any(c['free'] == [None, None, None] for r in mine for c in r['choices'])
    assert any('specs' in c for r in mine for c in r['choices'])


def test_gantt_and_slots_pictures_are_png_files(api_topology, tmp_path):
    pytest.importorskip('matplotlib')
    from execo_g5k.planning import draw_gantt, draw_slots
    api_topology(SMALL_TOPOLOGY)
    planning = random_planning(SMALL_TOPOLOGY, seed=3, n_jobs=60, start=START, days=1)
    slots = compute_slots(copy.deepcopy(planning), '1:00:00')
    for path in (draw_gantt(planning, outfile=str(tmp_path / 'gantt.png')),
                 draw_slots(slots, outfile=str(tmp_path / 'slots'))):
        with open(path, 'rb') as picture:
            assert picture.read(8) == b'\x89PNG\r\n\x1a\n'
    assert {'gantt.png', 'slots.png'} <= {p.name for p in tmp_path.iterdir()}


OLD_COORM = r'''
from execo_g5k.planning import compute_coorm_slots, find_coorm_slot
results = []
for case in DATA:
    slots = compute_coorm_slots(case["planning_for_old"])
    results.append({"slots": slots, "found": [find_coorm_slot(slots, w) for w in case["wanted"]]})
print(json.dumps(results))
'''


def _coorm_cases():
    import random
    sites = list(SMALL_TOPOLOGY['hierarchy'])
    cases = []
    for seed in range(6):
        rng = random.Random(seed)
        planning = random_planning(SMALL_TOPOLOGY, seed=100 + seed, n_jobs=rng.choice([40, 200]),
                                   start=START, days=rng.choice([1, 3]), vlans=seed % 3 == 0)
        clusters = [c for c in planning[sites[1]] if c != 'vlans']
        # 2.x ignored its excluded_elements: it is given a planning without them
        excluded = [None, [sites[2]], [clusters[0]]][seed % 3]
        planning_for_old = copy.deepcopy(planning)
        for name in excluded or []:
            planning_for_old.pop(name, None)
            planning_for_old[sites[1]].pop(name, None)
        cases.append({'planning': planning, 'excluded': excluded,
                      'planning_for_old': planning_for_old,
                      'wanted': [{'grid5000': 1}, {'grid5000': rng.randrange(2, 60)},
                                 {sites[0]: rng.randrange(1, 20), clusters[-1]: 1},
                                 {sites[1]: 10 ** 6}]})
    return cases


def test_coorm_slots_and_choice_are_2_8_2s(api_topology):
    """2.x's CoORM helpers (free cores, core-hours): the same slots and choices."""
    from execo_g5k.planning import compute_coorm_slots, find_coorm_slot
    api_topology(SMALL_TOPOLOGY)
    cases = _coorm_cases()
    mine = []
    for case in cases:
        planning = copy.deepcopy(case['planning'])
        slots = compute_coorm_slots(planning, case['excluded'])
        assert planning == case['planning']  # not modified
        mine.append({'slots': slots, 'found': [find_coorm_slot(slots, w) for w in case['wanted']]})
    mine = json.loads(json.dumps(mine))
    old = run_old_g5k(OLD_COORM, cases, topology=SMALL_TOPOLOGY)
    assert mine == old
    # 2.x's rule: a huge request is met only where a slot ends before it
    # starts (negative core-hours); small ones by the first slot
    for result in mine:
        assert result['found'][0] == result['slots'][0]
        huge = result['found'][3]
        assert huge != result['slots'][0] and huge[1] <= huge[0]
    assert all(len(result['slots']) > 10 for result in mine)
    one_hour = [(START, START + 3600, {'grid5000': 8, 'nancy': 8})]
    assert find_coorm_slot(one_hour, {'nancy': 8}) == one_hour[0]
    assert find_coorm_slot(one_hour, {'nancy': 9}) is None
    with pytest.raises(KeyError, match='not an element of the slots'):
        find_coorm_slot(compute_coorm_slots(cases[0]['planning']), {'nowhere': 1})
