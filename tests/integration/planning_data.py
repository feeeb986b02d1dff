"""Grid5000-like topologies and plannings, from a seed, for tests and benchmarks.

``topology(sites, clusters, hosts)`` spreads hosts over clusters and
clusters over sites; ``random_planning`` places jobs on it (starts on a
one-minute grid, walltimes from minutes to days, some jobs spanning
clusters' hosts) and turns them into a planning exactly as
``get_planning`` does (``normalize_busy``, ``free_intervals``).
``standin_tree`` gives the API stand-in the same topology, so that our
``execo_g5k`` sees it through the API, and ``tests.old_execo_g5k`` gives it
to 2.8.2.
"""

import random
import string

SITE_NAMES = ['grenoble', 'lille', 'luxembourg', 'lyon', 'nancy', 'nantes', 'rennes',
              'sophia', 'toulouse', 'reims', 'bordeaux', 'orsay', 'sagittaire', 'strasbourg']
DAY = 86400


def _name(index, prefix):
    letters = string.ascii_lowercase
    return prefix + letters[index // 26 % 26] + letters[index % 26]


def topology(n_sites=8, n_clusters=40, n_hosts=800, seed=0):
    rng = random.Random(seed)
    sites = [SITE_NAMES[i] if i < len(SITE_NAMES) else _name(i, 'site')
             for i in range(n_sites)]
    hierarchy = {site: {} for site in sites}
    queues = {}
    cores = {}
    per_cluster = [1] * n_clusters
    for _ in range(n_hosts - n_clusters):
        per_cluster[rng.randrange(n_clusters)] += 1
    for index in range(n_clusters):
        cluster = _name(index, 'cl')
        site = sites[index % n_sites]
        hierarchy[site][cluster] = ['%s-%d' % (cluster, n + 1) for n in range(per_cluster[index])]
        # core counts (for the CoORM helpers) take nothing from rng: the
        # plannings of a seed stay those the tests were written with
        cores.update(dict.fromkeys(hierarchy[site][cluster], (4, 8, 16, 24, 32)[index % 5]))
        queues[cluster] = (['admin', 'production'] if index % 9 == 8
                           else ['admin', 'default', 'besteffort'])
    return {'hierarchy': hierarchy, 'queues': queues, 'cores': cores}


def fqdn(site, host):
    return '%s.%s.grid5000.fr' % (host, site)


def random_planning(topo, seed, n_jobs, start, days=7, vlans=False):
    """A planning of ``topo`` over ``days`` from ``start``, with ``n_jobs`` jobs."""
    from execo_g5k.planning import free_intervals, normalize_busy
    rng = random.Random(seed)
    end = start + days * DAY
    busy = {}
    clusters = [(site, cluster, hosts) for site, cs in topo['hierarchy'].items()
                for cluster, hosts in cs.items()]
    for _ in range(n_jobs):
        site, cluster, hosts = rng.choice(clusters)
        count = min(len(hosts), rng.choice([1, 1, 1, 2, 2, 4, 8, 16, len(hosts)]))
        job_start = start - DAY + 60 * rng.randrange((days + 1) * 1440)
        walltime = 60 * (rng.choice([10, 30, 60, 60, 120, 240, 600, 840, 1440, 4320])
                         if rng.random() < 0.5 else rng.randrange(5, 1440))
        for host in rng.sample(hosts, count):
            busy.setdefault(fqdn(site, host), []).append((job_start, job_start + walltime + 121))
    planning = {}
    for site, cs in topo['hierarchy'].items():
        planning[site] = {}
        for cluster, hosts in cs.items():
            planning[site][cluster] = {}
            for host in hosts:
                if rng.random() < 0.02:   # a dead host: not in the planning
                    continue
                name = fqdn(site, host)
                host_busy = normalize_busy(busy.get(name, []), start, end)
                planning[site][cluster][name] = {
                    'busy': host_busy, 'free': free_intervals(host_busy, start, end)}
        if vlans:
            planning[site]['vlans'] = {}
            for number in list(range(4, 10)) + [11 + list(topo['hierarchy']).index(site)]:
                vlan_busy = []
                for _ in range(rng.randrange(6)):
                    s = start + 60 * rng.randrange(days * 1440)
                    vlan_busy.append((s, s + 60 * rng.choice([60, 240, 1440])))
                vlan_busy = normalize_busy(vlan_busy, start, end)
                planning[site]['vlans']['kavlan-%d' % number] = {
                    'busy': vlan_busy, 'free': free_intervals(vlan_busy, start, end)}
    return planning


def standin_tree(topo):
    """The API stand-in's tree for ``topo`` (nodes reduced to what planning uses)."""
    tree = {}
    for site, clusters in topo['hierarchy'].items():
        tree[site] = ({'uid': site, 'type': 'site', 'name': site.title()}, {
            cluster: ({'uid': cluster, 'type': 'cluster', 'queues': topo['queues'][cluster]},
                      [{'uid': host, 'type': 'node',
                        'architecture': {'nb_cores': topo['cores'][host]}} for host in hosts])
            for cluster, hosts in clusters.items()})
    return tree
