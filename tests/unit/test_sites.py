"""Which site a node belongs to (Fleet.site_of): a host with a public address is its own, a
container belongs to its incus host's, or to the host whose bridge holds its address; and the
one list of secrets the sites may share."""

from __future__ import annotations

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.loader import inventory_groups, load_fleet


def test_each_node_belongs_to_the_site_of_its_wan_facing_host(fleet):
    assert fleet.sites() == {"at1": ["at1", "aitbc"], "ns3-root": ["ns3-root", "ns3-aitbc"]}
    assert fleet.site_of("ns3-aitbc") == "ns3-root"


def test_a_container_without_container_data_belongs_to_the_host_whose_bridge_holds_it(fleet):
    bare = Fleet({n: s.model_copy(update={"container": None}) if n == "ns3-aitbc" else s
                  for n, s in fleet.hosts.items()})
    assert bare.site_of("ns3-aitbc") == "ns3-root"
    assert load_fleet(PROJECT_ROOT / "examples/three-sites/inventory.py").site_of("ns4-aitbc") \
        == "ns4-root"


def test_a_node_on_no_site_is_refused_naming_it(data):
    data.groups["aitbc_container"].pop("container")
    data.host("aitbc")["bridge_address"] = "10.9.9.9"
    with pytest.raises(ModelError) as exc:
        data.load()
    assert [str(p) for p in exc.value.problems if "belongs to no site" in p.message] == [
        "host aitbc: public_address: belongs to no site: it has no public_address (set it, if "
        "the host faces the wan), and its bridge_address 10.9.9.9 lies on no bridge of a host "
        "with one (for a host behind another: give container.host, the incus host it runs on)"]


def test_shared_secrets_is_one_list_of_declared_secrets(data):
    data.groups["all"]["shared_secrets"] = ["JWT_SECRET", "NO_SUCH_SECRET"]
    data.host("aitbc")["shared_secrets"] = ["JWT_SECRET"]
    with pytest.raises(ModelError) as exc:
        data.load()
    problems = [str(p) for p in exc.value.problems]
    assert "host at1: shared_secrets[1]: 'NO_SUCH_SECRET' is no app's secret" in problems
    assert "host aitbc: shared_secrets: ['JWT_SECRET'] differs from the other hosts' " \
           "['JWT_SECRET', 'NO_SUCH_SECRET']: set it once, in group_data/all.py" in problems
    assert not any(p.startswith("host at1: shared_secrets:") for p in problems), problems


@pytest.mark.parametrize("example", ["three-sites", "monorepo", "pool-hub"])
def test_an_example_takes_the_production_sites_from_inventory_py(example):
    # Read without validation: a validated production inventory would stop here, this
    # machine having none of its sites' secrets.
    production = inventory_groups(PROJECT_ROOT / "inventory.py")
    assert sorted(production) == ["aitbc_container", "incus_host", "ns3_container", "ns3_host"]
    groups = inventory_groups(PROJECT_ROOT / "examples" / example / "inventory.py")
    assert {g: groups[g] for g in production} == production
    assert load_fleet(PROJECT_ROOT / "examples" / example / "inventory.py").sites().keys() \
        >= load_fleet(PROJECT_ROOT / "inventory.py").sites().keys()
