"""An app of today's monorepo layout on a real host: examples/monorepo/ adds the payload's API
gateway to aitbc beside the production apps.

The gateway's release is the whole source tree (the tree "."), less what its `exclude` names; its
units import the tree's root package `aitbc` and the app's own package through its import roots
(PYTHONPATH, paths of the release's sources), and the library `aitbc_crypto` from the wheel the
release built for the editable line `-e file:///opt/aitbc/packages/py/aitbc-crypto` of the
central requirements.txt. After the deploy the gateway answers its health check, says where
each module was imported from, and its process runs with the rendered PYTHONPATH; its release
holds only what the exclude leaves; verify passes and a second deploy changes nothing. At the
end the gateway's units, files, release and user are removed by hand (a deploy manages what the
model declares, and the production data does not declare it), the sandbox is the production
one again and the site is deployed as it was.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_helpers import DeployRun, assert_noop, assert_verified, converge_back, deploy

from aitbc_infra import PROJECT_ROOT, sandbox
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import App
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox import ssh_run

EXAMPLE = PROJECT_ROOT / "examples" / "monorepo" / "inventory.py"
NODE = "aitbc"
APP = "api-gateway"
UNIT = "aitbc-api-gateway"
# What the release's sources hold: the root package and the app, all the exclude leaves.
RELEASE_FILES = ["aitbc/__init__.py", "apps/api-gateway/src/api_gateway/__init__.py",
                 "apps/api-gateway/src/api_gateway/main.py"]


@dataclass
class Monorepo:
    inventory: Path  # the sandbox inventory standing in for the example
    run: DeployRun  # the deploy that added the gateway
    app: App
    tmp: Path


def _get(path: str) -> dict:
    """GET on the gateway, from its host: the JSON body of a 200."""
    out = ssh_run(NODE, f"curl -sf -m 5 http://127.0.0.1:8201{path}", timeout=30)
    assert out.returncode == 0, f"GET {path}: {out.stdout}{out.stderr}"
    return json.loads(out.stdout)


def _remove(app: App, files: list[str]) -> None:
    """The gateway's units, files, releases and user, gone from the host."""
    units = f"{UNIT}.socket {UNIT}.service"
    ssh_run(NODE, f"systemctl disable --now {units}; systemctl stop '{UNIT}-candidate@*'; "
            f"rm -f {' '.join(shlex.quote(f) for f in files)}; rm -rf {shlex.quote(app.root)}; "
            f"userdel {shlex.quote(app.user)}; systemctl daemon-reload; "
            f"systemctl reset-failed {units}", timeout=120)


@pytest.fixture(scope="module")
def monorepo(deployed_inventory, tmp_path_factory) -> Iterator[Monorepo]:
    tmp = tmp_path_factory.mktemp("monorepo")
    inventory = sandbox.ensure_up(progress=lambda _: None, inventory=EXAMPLE)
    fleet = load_fleet(inventory)
    app = next(a for a in fleet.hosts[NODE].apps if a.name == APP)
    files = [f.path for f in render_fleet(fleet)[NODE] if f.unit == UNIT]
    try:
        run = deploy(inventory)
        assert run.returncode == 0, run.output[-4000:]
        yield Monorepo(inventory, run, app, tmp)
    finally:
        _remove(app, files)
        sandbox.ensure_up(progress=lambda _: None)  # the production sandbox again
        converge_back(deployed_inventory)


def test_the_gateway_answers_importing_the_root_package_through_its_import_roots(monorepo):
    m = monorepo
    # Only the gateway was owed anything: the production apps kept running as they were.
    owed = m.run.results.get("owed", {})
    assert set(owed) == {NODE}, owed
    assert all(UNIT in line or APP in line for line in owed[NODE]), owed[NODE]

    health = _get("/health")
    assert (health["service"], health["status"], health["aitbc"]) == (APP, "ok", "0.1.0"), health
    modules = _get("/imports")["modules"]
    # The root package and the app's own from the release's sources, by the venv's path (the
    # active release); the library from the wheel of the editable line, in the venv.
    assert modules["aitbc"] == f"{m.app.venv}/src/aitbc/__init__.py", modules
    assert modules["api_gateway"] == f"{m.app.venv}/src/apps/api-gateway/src/api_gateway/main.py"
    assert modules["aitbc_crypto"].startswith(f"{m.app.venv}/lib/python3"), modules
    assert "/site-packages/aitbc_crypto/" in modules["aitbc_crypto"], modules

    # The process runs with the import roots as its PYTHONPATH, in their order, from the
    # app's directory of the release.
    pid = ssh_run(NODE, f"systemctl show -p MainPID --value {UNIT}", check=True).stdout.strip()
    environ = ssh_run(NODE, f"tr '\\0' '\\n' < /proc/{pid}/environ", check=True).stdout
    assert f"PYTHONPATH={m.app.python_path}" in environ.splitlines(), environ
    assert m.app.python_path == (f"{m.app.venv}/src/apps/api-gateway/src:{m.app.venv}/src")
    cwd = ssh_run(NODE, f"readlink /proc/{pid}/cwd", check=True).stdout.strip()
    assert cwd.startswith(f"{m.app.releases}/") and cwd.endswith("/src/apps/api-gateway"), cwd


def test_the_release_holds_only_what_the_exclude_leaves(monorepo):
    m = monorepo
    listed = ssh_run(NODE, f"cd {shlex.quote(m.app.venv)}/src && find . -type f "
                     "-not -name '*.pyc' | sort", check=True).stdout.split()
    assert [name.removeprefix("./") for name in listed] == RELEASE_FILES


def test_verify_passes_and_a_second_deploy_changes_nothing(monorepo):
    m = monorepo
    assert_verified(m.inventory, m.tmp / "verify.xml",
                    f"{NODE}: unit {UNIT} active and enabled",
                    f"{NODE}: {UNIT} health /health",
                    f"{NODE}: {APP} runs a complete release")
    assert_noop(m.inventory)
    assert _get("/health")["status"] == "ok"
