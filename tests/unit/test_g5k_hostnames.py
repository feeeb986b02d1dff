"""Grid5000 host names are taken apart by string rules alone (no network)."""

import pytest

from execo_g5k.hostnames import (canonical_host_name, g5k_host_get_cluster,
                                 get_host_interface, get_host_shortname,
                                 get_host_site_from_name, split_host_name)


class FakeHost:
    """Any object with an ``address``: execo's Host is duck-typed."""

    def __init__(self, address, user=None):
        self.address = address
        self.user = user


@pytest.mark.parametrize('name, canonical', [
    ('griffon-12', 'griffon-12'),
    ('griffon-12.nancy.grid5000.fr', 'griffon-12.nancy.grid5000.fr'),
    ('griffon-12-kavlan-4', 'griffon-12'),
    ('griffon-12-kavlan-4.nancy.grid5000.fr', 'griffon-12.nancy.grid5000.fr'),
    ('griffon-12-eth1.nancy.grid5000.fr', 'griffon-12.nancy.grid5000.fr'),
    ('griffon-12-ib0', 'griffon-12'),
    ('griffon-12-eth1-kavlan-4-ipv6.nancy.grid5000.fr', 'griffon-12.nancy.grid5000.fr'),
    ('griffon-12-ipv6.nancy', 'griffon-12.nancy'),
    ('abacus12-3.rennes.grid5000.fr', 'abacus12-3.rennes.grid5000.fr'),
])
def test_canonical_name_drops_interface_kavlan_ipv6_and_keeps_domain(name, canonical):
    assert canonical_host_name(name) == canonical


@pytest.mark.parametrize('name', ['localhost', 'frontend.nancy.grid5000.fr', '127.0.0.1',
                                  'griffon', 'my-laptop'])
def test_names_that_are_not_node_names_are_left_unchanged(name):
    assert canonical_host_name(name) == name
    assert split_host_name(name) is None
    assert g5k_host_get_cluster(name) is None


def test_canonical_name_of_a_host_object_is_a_copy_with_its_other_fields():
    host = FakeHost('griffon-12-kavlan-4.nancy.grid5000.fr', user='root')
    canonical = canonical_host_name(host)
    assert canonical.address == 'griffon-12.nancy.grid5000.fr'
    assert canonical.user == 'root'
    assert host.address == 'griffon-12-kavlan-4.nancy.grid5000.fr'


@pytest.mark.parametrize('name', ['griffon-12', 'griffon-12.nancy.grid5000.fr',
                                  'griffon-12-kavlan-4.nancy.grid5000.fr', 'griffon-12-eth0'])
def test_shortname_is_the_bare_canonical_name(name):
    assert get_host_shortname(name) == 'griffon-12'
    assert get_host_shortname(FakeHost(name)) == 'griffon-12'


@pytest.mark.parametrize('name, cluster', [
    ('griffon-12-kavlan-4.nancy.grid5000.fr', 'griffon'),
    ('graphene-3', 'graphene'),
    ('abacus12-3-eth1.rennes', 'abacus12'),
])
def test_cluster_is_read_from_names_and_host_objects(name, cluster):
    assert g5k_host_get_cluster(name) == cluster
    assert g5k_host_get_cluster(FakeHost(name)) == cluster


@pytest.mark.parametrize('name, site', [
    ('griffon-12.nancy.grid5000.fr', 'nancy'),
    ('griffon-12-kavlan-4.nancy.grid5000.fr', 'nancy'),
    ('paravance-3.rennes', 'rennes'),
    ('frontend.lyon.grid5000.fr', 'lyon'),
    ('griffon-12', None),
    ('griffon-12.grid5000.fr', None),
    ('localhost.localdomain', None),
])
def test_site_is_read_from_the_domain_only_when_there_is_one(name, site):
    assert get_host_site_from_name(name) == site


def test_split_names_every_part():
    assert split_host_name('griffon-12-eth1-kavlan-4-ipv6.nancy.grid5000.fr') == {
        'cluster': 'griffon', 'number': 12, 'interface': 'eth1', 'vlan': 4,
        'ipv6': True, 'domain': 'nancy.grid5000.fr'}


def test_interface_defaults_to_eth0_for_a_plain_node_name():
    assert get_host_interface('griffon-12.nancy.grid5000.fr') == 'eth0'
    assert get_host_interface('griffon-12-ib0') == 'ib0'
    assert get_host_interface('localhost') is None


def test_something_that_is_not_a_host_is_rejected_clearly():
    with pytest.raises(TypeError, match='address'):
        canonical_host_name(12)


def test_execo_host_objects_keep_user_and_port_when_made_canonical():
    host_module = pytest.importorskip('execo.host')
    host = host_module.Host('griffon-12-kavlan-4.nancy.grid5000.fr', user='root', port=2222)
    canonical = canonical_host_name(host)
    assert (canonical.address, canonical.user, canonical.port) == (
        'griffon-12.nancy.grid5000.fr', 'root', 2222)
    assert get_host_shortname(host) == 'griffon-12'
    assert g5k_host_get_cluster(host) == 'griffon'
    assert get_host_site_from_name(host) == 'nancy'
