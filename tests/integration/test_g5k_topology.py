"""execo_g5k.topology on the API stand-in, compared with execo 2.8.2's.

Our `g5k_graph` reads the stand-in over HTTP (loopback); 2.8.2's is given
the very descriptions ours read (sites, clusters, hosts, every site's
network equipments and the backbone), in its own virtualenv with networkx,
and both graphs must have the same nodes, edges and attributes.
"""

import inspect
import json
import subprocess

import networkx as nx
import pytest

import execo_g5k.topology as topology
from execo_g5k import api_utils
from execo_g5k.api_network import _network_data, get_backbone_network_equipments
from tests.old_execo import _clean_env
from tests.old_execo_g5k import old_g5k_python, run_old_execo


pytestmark = pytest.mark.timeout(300)

ELEMENTS = [["nancy", "rennes"], "graphene", "paravance-2", ["graphene-1.nancy.grid5000.fr",
            "paravance-1"], ["griffon"], "rennes"]


def described(graph):
    """Nodes, edges (ends sorted, key) and their attributes, as plain data."""
    return {
        "nodes": sorted([n, d] for n, d in graph.nodes(data=True)),
        "edges": sorted([sorted([u, v]), k, d] for u, v, k, d in graph.edges(keys=True,
                                                                              data=True)),
        "api_commit": graph.graph.get("api_commit"),
    }


OLD = r'''
import json, sys, logging
import execo_g5k.api_utils as api
api._data = DATA["api"]
from execo_g5k.topology import g5k_graph
logging.getLogger("execo").setLevel(logging.CRITICAL)
out = []
for elements in DATA["elements"]:
    g = g5k_graph(elements)
    out.append({
        "nodes": sorted([n, d] for n, d in g.nodes(data=True)),
        "edges": sorted([sorted([u, v]), k, d] for u, v, k, d in g.edges(keys=True, data=True)),
        "api_commit": g.graph.get("api_commit")})
print(json.dumps(out))
'''


def with_old_networkx():
    """2.8.2's execo_g5k.topology imports networkx: its virtualenv gets it (once)."""
    python = old_g5k_python()
    probe = subprocess.run([python, "-c", "import networkx"], capture_output=True,
                           env=_clean_env(), cwd="/")
    if probe.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", "networkx"], check=True,
                       env=_clean_env(), cwd="/")


def old_graphs(api_data):
    with_old_networkx()
    prelude = "import json, sys\nDATA = json.load(sys.stdin)\n"
    return run_old_execo(prelude + OLD, stdin=json.dumps({"api": api_data,
                                                          "elements": ELEMENTS}))


def api_data_as_2x_held_it():
    """What ours read from the stand-in, in 2.8.2's get_api_data() layout."""
    snapshot = api_utils.get_api_data()
    network = dict(_network_data())
    network["backbone"] = get_backbone_network_equipments()
    return {"network": network, "sites": snapshot["sites"], "clusters": snapshot["clusters"],
            "hosts": snapshot["hosts"], "hierarchy": snapshot["hierarchy"]}


def test_graphs_are_2x_s_on_the_same_api_data(network_api):
    ours = [described(topology.g5k_graph(elements)) for elements in ELEMENTS]
    theirs = old_graphs(api_data_as_2x_held_it())
    for elements, mine, old in zip(ELEMENTS, ours, theirs):
        assert json.loads(json.dumps(mine)) == old, elements


def test_two_sites_are_linked_through_the_backbone_only_where_needed(network_api):
    graph = topology.g5k_graph(["nancy", "rennes"])
    assert graph.get_sites() == ["nancy", "rennes"]
    assert sorted(n for n, _ in graph.get_backbone()) == ["renater-nancy", "renater-paris",
                                                          "renater-rennes"]
    path = nx.shortest_path(graph, "graphene-1", "paravance-3")
    assert path[1:-1] == ["sgraphene1.nancy", "gw-nancy-lc2.nancy", "gw-nancy.nancy",
                          "gw-nancy-lc0.nancy", "renater-nancy", "renater-paris",
                          "renater-rennes", "gw-rennes-lc0.rennes", "gw-rennes.rennes",
                          "gw-rennes-lc2.rennes", "sparavance1.rennes"]
    assert graph.nodes["paravance-3"] == {"kind": "node", "power": 75e9, "cores": 16}
    assert sorted(graph.get_host_neighbours("graphene-2")) == ["graphene-1", "graphene-10",
                                                               "graphene-3"]
    # the second interface of a paravance node is linked, but not mounted
    links = graph.get_edge_data("sparavance2.rennes", "paravance-1")
    assert [d["active"] for d in links.values()] == [False]
    graph.rm_site("rennes")
    assert graph.get_sites() == ["nancy"]
    assert not any(n.endswith(".rennes") and n.startswith("sparavance") for n in graph)


def test_treemap_draws_every_node(network_api, tmp_path):
    graph = topology.g5k_graph(["nancy", "rennes"])
    figure = topology.treemap(graph)
    drawn = sum(len(c.get_offsets()) for c in figure.axes[0].collections
                if hasattr(c, "get_offsets") and len(c.get_offsets()))
    assert drawn >= graph.number_of_nodes()
    path = tmp_path / "topology.png"
    figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    compact = topology.treemap(graph, compact=True)
    texts = [t.get_text() for t in compact.axes[0].texts]
    assert any(t.startswith("graphene\nsgraphene1") for t in texts)


SIGNATURES = r'''
import inspect, json
from execo_g5k import topology

def shape(function):
    return [[p.name, repr(p.default)] for p in inspect.signature(function).parameters.values()]
names = {"g5k_graph." + n: shape(m) for n, m in vars(topology.g5k_graph).items()
         if callable(m) and not n.startswith("_")}
names["g5k_graph"] = shape(topology.g5k_graph)
names["treemap"] = shape(topology.treemap)
print(json.dumps({"functions": names, "values": [topology.arbitrary_latency, topology.suffix]}))
'''


def shape(function):
    return [[p.name, repr(p.default)] for p in inspect.signature(function).parameters.values()]


def test_the_2x_names_and_signatures_are_there():
    """Same parameters, at the same places, with the same defaults."""
    with_old_networkx()
    theirs = run_old_execo(SIGNATURES)
    for name, parameters in theirs["functions"].items():
        owner, _, attribute = name.rpartition(".")
        ours = getattr(getattr(topology, owner) if owner else topology, attribute)
        assert shape(ours) == parameters, name
    assert [topology.arbitrary_latency, topology.suffix] == theirs["values"]
