"""Secret values reach the hosts' env files and nowhere else: not the output of a deploy,
a `--dry --diff` run, any CLI command, the rendered files, nor any other file on any host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import deploy, variant_inventory

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy import pyinfra_command
from aitbc_infra.sandbox import paths, ssh_run
from aitbc_infra.secrets import read_secrets_file

CLI = [sys.executable, "-m", "aitbc_infra"]


@pytest.fixture(scope="module")
def secret_values() -> list[str]:
    values = [s.value for s in read_secrets_file(paths().secrets)]
    assert len(values) >= 6 and all(len(v) >= 16 for v in values)
    return values


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    return proc.stdout + proc.stderr


def _assert_clean(text: str, values: list[str], what: str) -> None:
    leaked = [v[:4] + "…" for v in values if v in text]
    assert not leaked, f"{what} shows secret values (prefixes {leaked})"


def test_deploy_and_dry_diff_never_show_secrets(deployed_inventory, secret_values, tmp_path):
    _assert_clean(deploy(deployed_inventory).output, secret_values, "deploy")
    # A change to the coordinator's env makes its env file (full of secrets) differ.
    variant = variant_inventory(tmp_path, "aitbc_container", '"env": {"URL": ',
                                '"env": {"LOG_LEVEL": "debug", "URL": ')
    dry = _run(pyinfra_command(variant, "--dry", "--diff"))
    assert "/etc/aitbc/coordinator-api.env (holds secrets: content not shown)" in dry
    _assert_clean(dry, secret_values, "pyinfra --dry --diff")


def test_cli_commands_never_show_secrets(deployed_inventory, secret_values, tmp_path):
    outputs = {
        "render": _run([*CLI, "render", "--inventory", str(deployed_inventory), "--out",
                        str(tmp_path / "out")]),
        "check": _run([*CLI, "check", "--inventory", str(deployed_inventory), "-v"]),
        "docs": _run([*CLI, "docs", "--inventory", str(deployed_inventory), "--stdout"]),
        "verify": _run([*CLI, "verify", "--inventory", str(deployed_inventory)]),
        "sandbox status": _run([*CLI, "sandbox", "status"]),
        "deploy --dry": _run([*CLI, "deploy", "--inventory", str(deployed_inventory), "--dry"]),
    }
    for name, text in outputs.items():
        _assert_clean(text, secret_values, name)
    rendered = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "<redacted:JWT_SECRET>" in rendered
    _assert_clean(rendered, secret_values, "rendered files")


def test_no_file_on_any_host_holds_secrets_but_the_env_files(deployed_inventory, secret_values,
                                                             tmp_path):
    patterns = tmp_path / "patterns"
    patterns.write_text("\n".join(secret_values) + "\n")
    for node in ("at1", "aitbc", "ns3-root", "ns3-aitbc"):
        found = ssh_run(node, "grep -rlsF -f /dev/stdin /etc /var /opt /home /root /tmp /srv "
                        "2>/dev/null | grep -v '^/etc/aitbc/' || true",
                        input=patterns.read_text()).stdout.split()
        assert found == [], f"{node}: secret values found in {found}"


def test_repository_holds_no_secret_values(secret_values):
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True,
                             check=True).stdout.split(b"\0")
    for name in filter(None, tracked):
        path = Path(PROJECT_ROOT, name.decode())
        if path.is_file():
            _assert_clean(path.read_text(errors="replace"), secret_values, str(name))


def test_each_site_runs_with_its_own_values(deployed_inventory):
    """The coordinators of both sites hold their own site's values, not the other's."""
    given = {(s.site, s.name): s.value for s in read_secrets_file(paths().secrets)}
    assert given["at1", "JWT_SECRET"] != given["ns3-root", "JWT_SECRET"]
    for node, site, other in (("aitbc", "at1", "ns3-root"), ("ns3-aitbc", "ns3-root", "at1")):
        for name in ("JWT_SECRET", "ADMIN_API_KEYS"):
            # Looked up by the exact line, fed on stdin: no value in an argv or this output.
            lines = {owner: f'{name}="{given[owner, name]}"' for owner in (site, other)}
            if name == "ADMIN_API_KEYS":  # rendered as the JSON list the app reads
                lines = {owner: f'{name}="[\\"{given[owner, name]}\\"]"' for owner in (site, other)}
            counts = [ssh_run(node, "grep -cxF -f /dev/stdin /etc/aitbc/coordinator-api.env",
                              input=lines[owner] + "\n").stdout.strip() for owner in (site, other)]
            assert counts == ["1", "0"], f"{node} {name}: own/other site's value found {counts}"
