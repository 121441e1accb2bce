"""at1 is "localhost" in the document: with `AT1_CONNECTION = "local"` the production inventory
runs pyinfra on at1 itself (`@local`). The model must read that inventory exactly as the SSH one:
the same nodes, roles and rendered files, at1 reached through pyinfra's local connector."""

from __future__ import annotations

from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet


def _local_inventory(tmp_path: Path) -> Path:
    text = (PROJECT_ROOT / "inventory.py").read_text()
    assert 'AT1_CONNECTION = "ssh"' in text
    local = tmp_path / "inventory.py"
    local.write_text(text.replace('AT1_CONNECTION = "ssh"', 'AT1_CONNECTION = "local"'))
    return local


def test_at1_as_local_is_the_same_fleet(tmp_path):
    over_ssh = load_fleet(PROJECT_ROOT / "inventory.py")
    local = load_fleet(_local_inventory(tmp_path), root=PROJECT_ROOT)
    assert local.hosts["at1"].name == "@local"
    assert over_ssh.hosts["at1"].name == "at1"
    assert {n: (h.role, h.groups) for n, h in local.hosts.items()} == \
        {n: (h.role, h.groups) for n, h in over_ssh.hosts.items()}
    assert render_fleet(local) == render_fleet(over_ssh)
