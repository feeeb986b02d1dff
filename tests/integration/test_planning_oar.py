"""get_planning, slots and job reuse against the REAL OAR test bed.

There is one real OAR here (tests/oar), shared with other tests: the
site ``nancy`` of the API stand-in is fed from it (``g5k_oar_api``: its
resources and jobs read with oarnodes/oarstat, served in the API's
format), and the PostgreSQL source reads the same OAR's database. A
second site, ``rennes``, is static data in the stand-in: multi-site
cases come from there. Jobs of other users or tests may be present:
the assertions only look at our own jobs' hosts, or compare two readings.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from execo_g5k import api_utils
from execo_g5k.config import g5k_configuration
from execo_g5k.oar import OarSubmission, get_oar_job_info, oarsub, wait_oar_job_start
from execo_g5k.planning import (compute_slots, find_free_slot, get_job_by_name,
                                get_jobs_specs, get_planning)
from g5k_oar_api import G5kOarApiStandin, real_oar_reader, static_oar_reader
from oar_deferred import PENDING, late_check_will_run
from oar_frontends import OarFrontends, oar_testbed_or_skip, run_as_user

WAIT = 90
# OAR keeps every job's hosts SCHEDULER_JOB_SECURITY_TIME (60 s here) after its
# walltime; 2.x's planning adds its margin after the jobs it sees, not after
# the one being placed: slots are looked for with this much more walltime
OAR_SECURITY = 60
RENNES_NODES = {str(i): {'resource_id': i, 'network_address': 'paravance-%d' % i,
                         'type': 'default', 'state': 'Alive', 'cluster': 'paravance'}
                for i in (1, 2, 3)}
RENNES_NODES['3']['state'] = 'Dead'


def api_tree_of(bed):
    def cluster(name):
        return ({'uid': name, 'type': 'cluster', 'queues': ['admin', 'default', 'besteffort']},
                [{'uid': host, 'type': 'node'} for host in bed['clusters'][name]])
    return {'nancy': ({'uid': 'nancy', 'type': 'site'},
                      {name: cluster(name) for name in bed['clusters']}),
            'rennes': ({'uid': 'rennes', 'type': 'site'},
                       {'paravance': ({'uid': 'paravance', 'type': 'cluster',
                                       'queues': ['admin', 'default']},
                                      [{'uid': 'paravance-%d' % i, 'type': 'node'}
                                       for i in (1, 2, 3)])})}


@pytest.fixture(scope='module')
def frontends():
    bed = oar_testbed_or_skip()
    with OarFrontends(bed, ['nancy']) as fronts:
        yield fronts


@pytest.fixture(scope='module')
def oar_api(frontends, tmp_path_factory):
    bed = oar_testbed_or_skip()
    now = int(time.time())
    rennes_jobs = {'7': {'job_id': 7, 'state': 'Running', 'start_time': now - 600,
                         'walltime': 3600, 'network_address': ['paravance-1'],
                         'queue_name': 'default', 'user': 'someone', 'resource_id': [1]}}
    server = G5kOarApiStandin(
        {'nancy': real_oar_reader(run_as_user),
         'rennes': static_oar_reader(RENNES_NODES, rennes_jobs)},
        tree=api_tree_of(bed), page_size=1000).start()
    keys = ('api_uri', 'api_username', 'api_cache_dir', 'planning_source', 'oar_pgsql_ro_host',
            'oar_pgsql_ro_port', 'oar_pgsql_ro_user', 'oar_pgsql_ro_password',
            'oar_pgsql_ro_db')
    saved = {key: g5k_configuration.get(key) for key in keys}
    g5k_configuration.update({
        'api_uri': server.uri, 'api_username': None,
        'api_cache_dir': str(tmp_path_factory.mktemp('api-cache')),
        'planning_source': 'api',
        # the test bed's OAR database (tests/oar/setup_oar_testbed.sh)
        'oar_pgsql_ro_host': '127.0.0.1', 'oar_pgsql_ro_port': 5432,
        'oar_pgsql_ro_user': 'oar_ro', 'oar_pgsql_ro_password': 'execo-oar-ro',
        'oar_pgsql_ro_db': 'oar'})
    api_utils.clear_cache()
    yield {'server': server, 'bed': bed, 'rennes_start': now - 600}
    g5k_configuration.update(saved)
    api_utils.clear_cache()
    server.stop()


@pytest.fixture
def jobs_to_delete(frontends):
    jobs = []
    yield jobs
    frontends.delete_jobs(jobs, timeout=WAIT)


# a reservation that outlasts the rest of a session's OAR tests: the late
# check (tests/zz_late) finds it running, and deletes it
RESERVATION_WALLTIME = 600


def _submit(jobs_to_delete, resources, walltime, **kwargs):
    (job_id, site), = oarsub([(OarSubmission(resources=resources, walltime=walltime,
                                             **kwargs), 'nancy')])
    assert job_id is not None, 'oarsub refused %s' % resources
    jobs_to_delete.append((job_id, site))
    return job_id


def test_api_planning_shows_the_real_oar_jobs_on_their_hosts(oar_api, jobs_to_delete,
                                                            monkeypatch):
    monkeypatch.setitem(g5k_configuration, 'planning_source', 'api')
    job_id = _submit(jobs_to_delete, 'nodes=2', '0:10:00')
    assert wait_oar_job_start(job_id, 'nancy', timeout=WAIT)
    info = get_oar_job_info(job_id, 'nancy')
    start = time.time()
    planning = get_planning(['nancy', 'paravance'], starttime=start, endtime=start + 3600)
    assert sorted(planning) == ['nancy', 'rennes']
    # the dead node is not in the planning; the static job keeps paravance-1 busy
    rennes = planning['rennes']['paravance']
    assert sorted(rennes) == ['paravance-1', 'paravance-2']
    assert rennes['paravance-1']['busy'] == [(int(start), oar_api['rennes_start'] + 3600 + 121)]
    nancy = {host: el for cluster in planning['nancy'].values() for host, el in cluster.items()}
    assert sorted(nancy) == sorted(oar_api['bed']['nodes'])
    for host in info['nodes']:
        busy_until = int(info['start_date']) + 600 + 121
        assert (int(start), busy_until) in nancy[host]['busy'], nancy[host]
        assert nancy[host]['free'][0][0] >= busy_until
    slots = compute_slots(planning, 600)
    assert slots[0][2]['nancy'] <= len(nancy) - 2
    assert slots[0][2]['rennes'] == 1


def _read_both(**kwargs):
    readings = {}
    for source in ('api', 'postgresql'):
        g5k_configuration['planning_source'] = source
        readings[source] = get_planning(**kwargs)
    return readings


def test_postgresql_and_api_give_the_same_planning(oar_api, jobs_to_delete, monkeypatch):
    pytest.importorskip('psycopg')
    monkeypatch.setitem(g5k_configuration, 'planning_source', 'api')
    running = _submit(jobs_to_delete, 'nodes=1', '0:20:00')
    assert wait_oar_job_start(running, 'nancy', timeout=WAIT)
    # a reservation in the future, where OAR has room for it (the OAR is shared)
    ahead = int(time.time()) + 600
    slots = compute_slots(get_planning(['nancy'], starttime=ahead, endtime=ahead + 86400),
                          30 * 60 + OAR_SECURITY)
    reserved = find_free_slot(slots, {'nancy': 3})[0]
    assert reserved is not None
    _submit(jobs_to_delete, 'nodes=3', '0:30:00', reservation_date=reserved)
    start = int(time.time())
    # other tests share this OAR: a job of theirs may start between the two
    # readings; they must agree on a quiet pair of readings
    for _ in range(3):
        readings = _read_both(elements=['nancy'], starttime=start, endtime=start + 7200)
        if readings['api'] == readings['postgresql']:
            break
        time.sleep(5)
    assert readings['postgresql'] == readings['api']
    busy_hosts = [h for c in readings['api']['nancy'].values() for h, el in c.items()
                  if len(el['busy']) > 0]
    assert len(busy_hosts) >= 3  # the reservation's hosts, from OAR's predictions


def test_a_script_run_twice_reuses_its_job(oar_api, jobs_to_delete):
    name = 'execo-reuse-%d' % (time.time() * 1000 % 10 ** 9,)

    def script():
        job_id, site = get_job_by_name(name, ['nancy'])
        if job_id is None:
            (job_id, site), = oarsub([(OarSubmission('nodes=1', walltime='0:05:00', name=name),
                                       'nancy')])
            jobs_to_delete.append((job_id, site))
        return job_id, site

    first, second = script(), script()
    assert first[0] is not None and first == second
    mine = run_as_user('oarstat -J', timeout=60).stdout
    assert mine.count('"%s"' % name) == 1
    assert get_job_by_name('no-such-job-' + name, ['nancy']) == (None, None)


def test_specs_from_a_slot_reserve_on_oar(oar_api, jobs_to_delete):
    g5k_configuration['planning_source'] = 'api'
    start = time.time() + 120
    planning = get_planning(['griffon'], starttime=start, endtime=start + 3 * 3600)
    slots = compute_slots(planning, 10 * 60 + OAR_SECURITY)
    slot = find_free_slot(slots, {'griffon': 2})
    assert slot[0] is not None
    (submission, site), = get_jobs_specs({'griffon': 2}, name='execo-planning-test')
    assert (submission.resources, site) == ("{cluster='griffon'}/nodes=2", 'nancy')
    submission.walltime, submission.reservation_date = '0:10:00', slot[0]
    (job_id, _), = oarsub([(submission, site)])
    assert job_id is not None
    jobs_to_delete.append((job_id, site))
    info = get_oar_job_info(job_id, site)
    assert info['state'] == 'Waiting'
    assert int(info['start_date']) == int(slot[0])


def oar_security_time() -> int:
    """SCHEDULER_JOB_SECURITY_TIME of the test bed's OAR (seconds a job's hosts
    stay reserved after its walltime; OAR's default is 60)."""
    with open('/etc/oar/oar.conf') as conf:
        for line in conf:
            match = re.match(r'\s*SCHEDULER_JOB_SECURITY_TIME\s*=\s*"?(\d+)"?', line)
            if match:
                return int(match.group(1))
    return 60


def _refused(job_id, site) -> bool:
    """Whether OAR refused a reservation it gave an id (state Error), as
    oarsub waits for the validation: a refused one leaves Waiting at once."""
    if job_id is None:
        return True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = get_oar_job_info(job_id, site).get('state')
        if state in ('Error', 'toError'):
            return True
        if state not in ('toAckReservation', 'Hold'):
            return False
        time.sleep(0.5)  # validation still going on: nothing to wait on but oarstat
    return False


def test_end_to_end_slot_after_real_jobs_is_accepted_by_oar_there_and_not_before(
        oar_api, jobs_to_delete, frontends, request):
    """Occupy 4 of the 6 nodes, ask for 5: the slot starts when the job's
    hosts are free in the planning (its end plus 2.x's 121 s margin), OAR
    accepts a reservation there and places it, in its own gantt, on hosts
    the slot had free; the same request inside OAR's security time after
    the job is refused.

    OAR itself keeps a job's hosts SCHEDULER_JOB_SECURITY_TIME (S, 60 s
    here) after its walltime, less than 2.x's 121 s: the slot has 121 - S
    seconds of slack, so the same request 60 s earlier (job end + 61 s) is
    past S and OAR accepts it (measured here: accepted at job end + 61 s and
    + S + 1 s, refused at + S - 1 s). The refused request is therefore
    placed at job end + S - 5 s. The test does not wait for
    the reservation to start (it would cost the job's walltime plus 121 s):
    OAR's acceptance and its placement are what the slot predicts, and
    its start is checked by ``tests/zz_late/test_reserved_slot_starts.py``
    at the end of the session (here when that test is not selected).
    """
    from execo_g5k.api import APIConnection
    from execo_g5k.planning import distribute_hosts
    g5k_configuration['planning_source'] = 'api'
    security = oar_security_time()
    # long enough to be still running when the planning is read under load
    occupying = _submit(jobs_to_delete, 'nodes=4', '0:01:00')
    assert wait_oar_job_start(occupying, 'nancy', timeout=WAIT)
    info = get_oar_job_info(occupying, 'nancy')
    job_end = int(info['start_date']) + 60
    now = int(time.time())
    assert now < job_end - 5, 'the occupying job was seen running too late'
    planning = get_planning(['nancy'], starttime=now, endtime=now + 3600)
    # the reservation lasts past the late check, which must see it running
    slots = compute_slots(planning, RESERVATION_WALLTIME + OAR_SECURITY, include_hosts=True)
    start, _, free = find_free_slot(slots, {'grid5000': 5})
    ours = (now, job_end + 121)
    foreign = [host for cluster in planning['nancy'].values() for host, el in cluster.items()
               if any(interval != ours for interval in el['busy'])]
    # CI runs alone on its OAR: there, every check below must run
    assert not (foreign and os.environ.get('CI')), 'foreign jobs on the CI OAR: %s' % foreign
    if foreign:  # jobs of other tests sharing this OAR: the slot may come later
        assert start >= job_end + 121
    else:
        assert start == job_end + 121
    free_hosts = {host for host, count in free.items() if count == 1 and '-' in host}
    assert len(free_hosts) >= 5
    (submission, site), = get_jobs_specs(distribute_hosts(dict(free), {'grid5000': 5}),
                                         name='execo-e2e')
    submission.walltime = RESERVATION_WALLTIME
    if not foreign:
        early = submission.copy(reservation_date=job_end + security - 5,
                                name='execo-e2e-early')
        (early_id, _), = oarsub([(early, site)])
        if early_id is not None:
            jobs_to_delete.append((early_id, site))
        assert _refused(early_id, site), 'OAR accepted 5 nodes inside its security time'
    submission.reservation_date = start
    (job_id, _), = oarsub([(submission, site)])
    assert job_id is not None
    jobs_to_delete.append((job_id, site))
    assert not _refused(job_id, site), 'OAR refused the slot found'
    accepted = get_oar_job_info(job_id, site)
    assert accepted['state'] == 'Waiting' and int(accepted['start_date']) == start
    placed = APIConnection().get('sites/nancy/jobs/%d' % job_id)
    assert placed['scheduled_at'] == start
    assert len(placed['assigned_nodes']) == 5
    assert {host.split('.')[0] for host in placed['assigned_nodes']} <= \
        {host.split('.')[0] for host in free_hosts}
    reservation = {'job_id': job_id, 'site': site, 'start': start,
                   'hosts': {host.split('.')[0] for host in placed['assigned_nodes']}}
    if late_check_will_run(request.session):
        jobs_to_delete.remove((job_id, site))  # the late check deletes it
        PENDING.append(reservation)
    else:
        check_reservation_started(reservation, frontends)


def check_reservation_started(reservation, frontends):
    """OAR started the reservation within 30 s of the slot, on the hosts
    it had placed it on (the issue's tolerance: one scheduling cycle). A
    reservation that has already ended (a session that came to this check
    after its walltime) still records when it started."""
    job_id, site, start = reservation['job_id'], reservation['site'], reservation['start']
    try:
        info = get_oar_job_info(job_id, site)
        if info.get('state') not in ('Terminated', 'Error'):
            assert wait_oar_job_start(job_id, site, timeout=max(start - time.time(), 0) + 60)
            info = get_oar_job_info(job_id, site)
        assert abs(int(info['start_date']) - start) <= 30, (info['start_date'], start)
        assert {host.split('.')[0] for host in info['nodes']} == reservation['hosts']
    finally:
        frontends.delete_jobs([(job_id, site)], timeout=WAIT)
