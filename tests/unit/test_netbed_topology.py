"""Topologies of the emulated test bed, and its refusal to start without root.

No namespace is created here: these run anywhere, as any user.
"""

import json

import pytest

from execo.testbed import EmulatedTestbed, Topology, TopologyError, TestbedUnavailable
from execo.testbed import emulated
from execo.testbed.netns import filter_table, shaping_commands
from execo.testbed.relay import DelayModel


def test_simple_spreads_numbered_hosts_over_sites_and_adds_extra_names_to_the_first():
    topology = Topology.simple(5, 2, extra_names=["host1"], rate="100mbit", delay="2ms")
    assert [(s.name, s.hosts) for s in topology.sites] == [
        ("site-1", ["node-1", "node-2", "node-3", "host1"]), ("site-2", ["node-4", "node-5"])]
    assert topology.sites[1].link.rate == 100_000_000
    assert topology.sites[1].link.delay == pytest.approx(0.002)
    assert topology.has_delay()


def test_a_topology_file_gives_the_same_as_its_dict(tmp_path):
    data = {"sites": {"rennes": {"hosts": 2, "link": {"rate": "1gbit", "loss": 0.5}},
                      "nancy": {"hosts": ["graphene-1", "graphene-2"]}},
            "backbone": {"rate": "10gbit", "delay": "5ms"},
            "frontend": {"link": {"rate": "200mbit"}}}
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(data))
    topology = Topology.from_file(str(path))
    assert topology == Topology.from_dict(data)
    assert topology.hosts == ["node-1", "node-2", "graphene-1", "graphene-2"]
    assert topology.frontend_link.rate == 200_000_000
    assert topology.backbone.delay == pytest.approx(0.005)
    assert topology.sites[0].link.loss == 0.5


@pytest.mark.parametrize("data, message", [
    ({}, "needs 'sites'"),
    ({"sites": {"a": {"hosts": 2}}, "backbon": {}}, "unknown topology key"),
    ({"sites": {"a": {"hosts": 2, "link": {"rate": "fast"}}}}, "rate 'fast'"),
    ({"sites": {"a": {"hosts": 2, "link": {"delay": "5 parsecs"}}}}, "delay '5 parsecs'"),
    ({"sites": {"a": {"hosts": 2, "link": {"loss": 120}}}}, "not a percentage"),
    ({"sites": {"a": {"hosts": 2, "link": {"jitter": "1ms"}}}}, "unknown link setting"),
    ({"sites": {"a": {"hosts": ["x"]}, "b": {"hosts": ["x"]}}}, "is in sites"),
    ({"sites": {"a": {"hosts": ["bad name"]}}}, "letters, digits"),
    ({"sites": {"a": {"hosts": 0}}}, "has no host"),
])
def test_a_bad_topology_says_what_is_wrong(data, message):
    with pytest.raises(TopologyError, match=message):
        Topology.from_dict(data)


def test_a_site_named_like_a_host_is_refused():
    with pytest.raises(ValueError, match="also host names"):
        EmulatedTestbed({"sites": {"node-1": {"hosts": 2}}})


def test_without_root_the_bed_says_so_and_points_to_the_loopback_bed(monkeypatch):
    monkeypatch.setattr(emulated.os, "geteuid", lambda: 1000)
    with pytest.raises(TestbedUnavailable, match="needs root.*LoopbackTestbed"):
        EmulatedTestbed(num_hosts=2).start()


def test_the_relay_delays_each_path_by_the_links_it_crosses():
    model = DelayModel()
    model.update({"links": {"198.18.0.1": [-1, 0.001], "198.18.1.1": [0, 0.002],
                            "198.18.1.2": [0, 0.003], "198.18.2.1": [1, 0.004]},
                  "uplinks": {"0": 0.010, "1": 0.020}})
    assert model.one_way("198.18.1.1", "198.18.1.2") == pytest.approx(0.005)
    assert model.one_way("198.18.0.1", "198.18.2.1") == pytest.approx(0.001 + 0.020 + 0.004)
    assert model.one_way("198.18.1.1", "198.18.2.1") == pytest.approx(0.002 + 0.030 + 0.004)


def test_shaping_and_filtering_commands():
    assert shaping_commands("eth0", None) == ["qdisc del dev eth0 root"]
    assert shaping_commands("eth0", 200_000_000)[1] == \
        "qdisc add dev eth0 root tbf rate 200000000bit burst 250000 latency 100ms"
    script = filter_table({"eth0": (False, 2.5), "p1": (True, 0.0)})
    assert "numgen random mod 10000 < 250 drop" in script
    assert 'hook ingress device "p1"' in script and script.count("drop") == 2
    assert filter_table({}) == "table netdev execo\ndelete table netdev execo\n"
