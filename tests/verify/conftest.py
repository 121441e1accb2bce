"""Connections and check lists for the verify suite, all derived from one inventory.

AITBC_VERIFY_INVENTORY names the inventory (set by `aitbc-infra verify`). Hosts are reached the
way pyinfra reaches them: the same ssh_config, key and known_hosts (strict checking).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest
import testinfra

from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet, load_pyinfra_inventory
from aitbc_infra.render import render_fleet


def inventory_path() -> Path:
    value = os.environ.get("AITBC_VERIFY_INVENTORY")
    if not value:
        raise pytest.UsageError("run the verify suite with `aitbc-infra verify --inventory FILE`")
    return Path(value)


@cache
def fleet() -> Fleet:
    return load_fleet(inventory_path())


@cache
def rendered() -> dict:
    return render_fleet(fleet())


@cache
def _connection_data() -> dict[str, dict]:
    data = {}
    for host in load_pyinfra_inventory(inventory_path()):
        d = host.data.dict()
        data[d.get("node") or host.name] = {**d, "_name": host.name}
    return data


@cache
def connect(node: str):
    d = _connection_data()[node]
    if d["_name"] == "@local":
        return testinfra.get_host("local://")
    user = f"{d['ssh_user']}@" if d.get("ssh_user") else ""
    kwargs = {}
    if d.get("ssh_config_file"):
        kwargs["ssh_config"] = d["ssh_config_file"]
    if d.get("ssh_key"):
        kwargs["ssh_identity_file"] = d["ssh_key"]
    return testinfra.get_host(f"ssh://{user}{d.get('ssh_hostname') or node}", **kwargs)


def public_access() -> tuple[str, str, str | None]:
    """(site name, address to reach it on, CA file to trust or None for the system store)."""
    for host in fleet().hosts.values():
        for site in host.nginx_sites:
            if site.tls:
                return site.server_name, str(host.public_address), host.acme_root_file
    raise pytest.UsageError("no TLS site in the inventory")


def pytest_collection_modifyitems(items):
    # One block of lines per host: stable sort on the host each check is about.
    # A check with nothing declared to check (an empty parameter set) sorts last.
    def host(item) -> str:
        node = getattr(item, "callspec", None) and item.callspec.params.get("node")
        return node if isinstance(node, str) else "~"

    items.sort(key=host)


def checks(triples):
    """Parametrize (node, thing, label) triples as (node, thing), with ids `node: label`."""
    triples = list(triples)
    return pytest.mark.parametrize(("node", "thing"), [(n, t) for n, t, _ in triples],
                                   ids=[f"{n}: {label}" for n, _, label in triples])
