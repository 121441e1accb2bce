"""The sandbox takes its groups and its image's packages from the production data, not copies."""

from __future__ import annotations

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import ROLE_GROUPS, Fleet
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import image, inventory
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.plan import MACHINES, inventory_addresses


def _role(groups: list[str]) -> list[str]:
    return [g for g in groups if g in ROLE_GROUPS]


def test_sandbox_inventory_puts_each_node_in_its_production_group(fleet, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(inventory.render(Paths(state=tmp_path), fleet))
    sandbox = load_fleet(path, root=PROJECT_ROOT)  # the model accepts every fact it writes
    assert sorted(sandbox.hosts) == sorted(fleet.hosts) == sorted(m.name for m in MACHINES)
    for node, spec in sandbox.hosts.items():
        assert _role(spec.groups) == _role(fleet.hosts[node].groups), node
        assert spec.deploy_environment == "sandbox"
    for m in MACHINES:
        assert str(sandbox.hosts[m.name].bridge_address) == inventory_addresses(m)["bridge_address"]


def test_a_production_node_without_a_sandbox_machine_is_named(fleet):
    renamed = Fleet({("web9" if node == "aitbc" else node): spec
                     for node, spec in fleet.hosts.items()})
    with pytest.raises(ValueError, match="node web9 .group aitbc_container. has no sandbox machine"):
        inventory.role_groups(renamed)


def test_image_holds_every_package_any_host_installs_and_no_other(fleet):
    installed = {name for spec in fleet.hosts.values()
                 for name in (*spec.base_packages, *spec.packages)}  # as deploys/base.py installs
    packages = image.deploy_packages(fleet)
    assert set(packages) == installed
    assert {"nginx", "firehol", "certbot", "ca-certificates"} <= installed  # from group_data/
    # Another package in group_data/ is another image.
    assert image.cache_key((*packages, "htop")) != image.cache_key(packages)
    assert image.cache_key(tuple(reversed(packages))) == image.cache_key(packages)
