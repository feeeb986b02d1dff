"""A provisioning-style script, written for execo 2.x, run here and under
execo 2.8.2 on the same test bed: same output, except documented differences.

The script does what cloud and VM provisioners do on Grid5000: an OAR job
with subnets and a KaVLAN, its nodes renamed into the VLAN and moved there
through the API, the network equipments behind them looked up, addresses
for VMs computed, metrics fetched, and a service started on a node reached
from outside through a port forwarded by the frontend.

What is real: OAR (tests/oar), ssh to the frontend alias and to the nodes
through the job key (port 6667, as oarsh), the http service and the ssh
port forward. What cannot exist here is played by stand-ins speaking the
documented formats: the Grid5000 API (``g5k_api_standin``, network block),
and ``kavlan`` / ``g5k-subnets`` on the frontend (``kavlan_standin``: this
OAR has no VLAN or subnet resources, so what OAR would have reserved for
the job is written in the stand-in's state). The KaVLAN names of the nodes
(``graphene-1-kavlan-4``) reach the same loopback node sshd through the
script's ssh config, as Grid5000's DNS would resolve them.

Documented differences (doc/migrating.rst): ``set_nodes_vlan`` returns the
API's decoded answer, where 2.x returned the ``requests`` response; the
script reads both. 2.x's port forward may refuse its first connections (it
trusts a debug line ssh prints before binding): the script retries refused
connections, and the test requires that ours needed none.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import pytest

from execo_g5k.config import g5k_configuration
from g5k_api_standin import G5kApiStandin, network_tree
from kavlan_standin import make_tools
from oar_frontends import OarFrontends, oar_testbed_or_skip
from tests.old_execo import old_execo_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT_TIMEOUT = 240

SCRIPT = r'''
import json, sys, time, urllib.error, urllib.request
from execo import Host, Remote, default_connection_params
from execo_g5k import (OarSubmission, oarsub, oardel, wait_oar_job_start, get_oar_job_nodes,
                       get_oar_job_kavlan, get_oar_job_subnets, get_host_network_equipments,
                       get_cluster_network_equipments, get_site_network_equipments,
                       get_network_equipment_attributes, get_network_equipment_site,
                       get_cluster_queues, get_hosts_metric, G5kAutoPortForwarder,
                       get_kavlan_host_name, default_frontend_connection_params,
                       default_oarsh_oarcp_params, g5k_configuration)
from execo_g5k.api_utils import set_nodes_vlan
from execo_g5k.utils import get_kavlan_network, get_kavlan_ip_mac, hosts_list, get_fastest_host

cfg = json.loads(sys.stdin.read())
ssh_options = tuple(cfg['ssh_options'])
default_connection_params['ssh_options'] = ssh_options
default_frontend_connection_params.update({'user': cfg['user'], 'ssh_options': ssh_options,
                                           'host_rewrite_func': lambda host: host})
default_oarsh_oarcp_params.update({'ssh': 'ssh', 'scp': 'scp', 'taktuk_connector': 'ssh',
                                   'user': 'oar', 'port': 6667, 'keyfile': cfg['key'],
                                   'ssh_options': ssh_options})
g5k_configuration.update({'api_uri': cfg['api_uri'], 'oar_job_key_file': cfg['key'],
                          'polling_interval': 1, 'tiny_polling_interval': 0.5,
                          'default_timeout': 90})
site = 'nancy'
out = {}
# on Grid5000: resources="slash_22=1+{type='kavlan'}/vlan=1+nodes=2"
jobs = oarsub([(OarSubmission(resources="nodes=2", walltime="0:10:00",
                              sql_properties="cluster='graphene'", name="provision"), site)])
job_id = jobs[0][0]
print("JOB %s" % (job_id,), flush=True)
try:
    out['started'] = bool(wait_oar_job_start(job_id, site, timeout=90))
    nodes = sorted(get_oar_job_nodes(job_id, site), key=lambda h: h.address)
    out['nodes'] = [n.address for n in nodes]
    vlan = get_oar_job_kavlan(job_id, site)[0]
    out['vlan'] = vlan
    ip_macs, network = get_oar_job_subnets(job_id, site)
    out['subnets'] = [len(ip_macs), list(ip_macs[0]), list(ip_macs[-1]), network]
    answer = set_nodes_vlan(site, nodes, 'eth0', vlan)
    out['vlan_answer'] = answer.json() if hasattr(answer, 'json') else answer
    in_vlan = [get_kavlan_host_name(n, vlan) for n in nodes]
    out['in_vlan'] = in_vlan
    out['hosts_list'] = hosts_list(in_vlan)
    check = Remote("echo $OAR_JOB_ID", [Host(h) for h in in_vlan],
                   connection_params=default_oarsh_oarcp_params).run()
    out['in_job'] = [p.stdout.strip() == str(job_id) for p in check.processes]
    out['kavlan_network'] = list(get_kavlan_network(vlan, site))
    vms = get_kavlan_ip_mac(vlan, site)
    out['vm_ips'] = [len(vms)] + [ip for ip, mac in vms[:3]]
    out['equipments'] = {n.address: sorted(get_host_network_equipments(n)) for n in nodes}
    out['cluster_equipments'] = sorted(get_cluster_network_equipments('graphene'))
    out['site_equipments'] = get_site_network_equipments(site)
    out['router'] = [get_network_equipment_attributes('gw-' + site)['kind'],
                     get_network_equipment_site('gw-' + site)]
    out['queues'] = get_cluster_queues('graphene')
    out['fastest'] = get_fastest_host(nodes)
    metric = get_hosts_metric(nodes, 'cpu_user', from_ts=1700000000, to_ts=1700000030,
                              resolution=15)
    out['metric'] = {getattr(h, 'address', h): [list(v) for v in m['values']]
                     for h, m in metric.items()}
    service = Remote("exec python3 -u -m http.server %d --bind 127.0.0.1 --directory %s"
                     % (cfg['service_port'], cfg['www']), [Host(in_vlan[0])],
                     connection_params=default_oarsh_oarcp_params)
    service.start()
    out['service'] = service.processes[0].expect("Serving HTTP", timeout=30)[0] == 0
    try:
        with G5kAutoPortForwarder(site, nodes[0].address, cfg['service_port']) as (host, port):
            url = "http://%s:%d/page.txt" % (host, port)
            # 2.x sets its ready event on ssh's "Local forwarding listening"
            # debug line, which ssh prints before bind(): its first connect
            # may be refused. Count the refusals; here there must be none.
            refused, deadline = 0, time.monotonic() + 20
            while True:
                try:
                    page = urllib.request.urlopen(url, timeout=20).read().decode()
                    break
                except urllib.error.URLError as err:
                    if not (isinstance(err.reason, ConnectionRefusedError)
                            and time.monotonic() < deadline):
                        raise
                    refused += 1
                    time.sleep(0.05)
            out['page'] = page
            out['refused_connects'] = refused
    finally:
        service.kill()
        service.wait()
finally:
    oardel(jobs)
print(json.dumps(out))
'''


def _world_readable_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def provisioning_bed():
    bed = oar_testbed_or_skip()
    tools = _world_readable_dir("execo-kavlan-standin-")
    state = os.path.join(tools, "state")
    www = os.path.join(tools, "www")
    os.mkdir(state)
    os.mkdir(www)
    for path in (state, www):
        os.chmod(path, 0o755)
    with open(os.path.join(www, "page.txt"), "w") as page:
        page.write("service of a node in the VLAN\n")
    os.chmod(os.path.join(www, "page.txt"), stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP
             | stat.S_IROTH)
    make_tools(tools, state)
    # what OAR would have reserved with slash_22=1+{type='kavlan'}/vlan=1
    with open(os.path.join(state, "default.json"), "w") as reserved:
        json.dump({"kavlan": [4], "subnets": ["10.158.4.0/22"]}, reserved)
    try:
        with OarFrontends(bed, ["nancy"], path_first=tools) as frontends, \
                G5kApiStandin(tree=network_tree(), page_size=100) as api:
            config = os.path.join(tools, "ssh_config")
            with open(frontends.testbed.ssh_config) as base:
                text = base.read()
            # the nodes' KaVLAN names, as Grid5000's DNS would resolve them
            text += "\nHost *-kavlan-*\n    HostName 127.0.0.1\n    BatchMode yes\n" \
                    "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n" \
                    "    LogLevel ERROR\n"
            with open(config, "w") as out:
                out.write(text)
            yield {"frontends": frontends, "api": api, "ssh_config": config, "www": www,
                   "state": state}
    finally:
        shutil.rmtree(tools, ignore_errors=True)


def _run(python, bed, key, home, extra_env=None):
    cfg = {"ssh_options": ["-F", bed["ssh_config"]], "user": bed["frontends"].user,
           "key": key, "api_uri": bed["api"].uri, "service_port": _free_port(),
           "www": bed["www"]}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update({"HOME": home, "NO_PROXY": "127.0.0.1,localhost", "TZ": "UTC"})
    env.update(extra_env or {})
    done = subprocess.run([python, "-c", SCRIPT], input=json.dumps(cfg), capture_output=True,
                          text=True, env=env, cwd=home, timeout=SCRIPT_TIMEOUT)
    jobs = [int(line.split()[1]) for line in done.stdout.splitlines()
            if line.startswith("JOB ") and line.split()[1].isdigit()]
    return done, jobs


def test_provisioning_script_gives_the_same_output_here_and_under_2x(provisioning_bed,
                                                                      tmp_path):
    frontends = provisioning_bed["frontends"]
    results = {}
    for name, python, extra_env in (
            ("here", sys.executable, {"PYTHONPATH": REPO}),
            ("2.8.2", old_execo_python(), None)):
        home = tmp_path / name
        home.mkdir()
        with frontends.job_key() as key:
            done, jobs = _run(python, provisioning_bed, key, str(home), extra_env)
            # whatever happened, no job of ours is left behind
            frontends.delete_jobs([(job, "nancy") for job in jobs], timeout=60)
        assert done.returncode == 0, "%s:\n%s\n%s" % (name, done.stdout[-2000:],
                                                      done.stderr[-4000:])
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    here, old = results["here"], results["2.8.2"]
    # ours is ready when entered; 2.x's may refuse a first connect (see SCRIPT)
    assert here.pop("refused_connects") == 0
    old.pop("refused_connects")
    assert here == old
    # and the output says what the script was meant to do
    assert here["started"] and here["vlan"] == 4 and here["in_job"] == [True, True]
    assert here["in_vlan"] == [n + "-kavlan-4" for n in here["nodes"]]
    assert here["subnets"][0] == 1024
    assert here["page"] == "service of a node in the VLAN\n"
    assert here["vlan_answer"] == {n + "-eth0": "ok" for n in here["nodes"]}
    assert here["kavlan_network"] == ["10.16.0.0", "18"]
