"""App sources by data: one source root (payload/ or AITBC_SRC), checked before anything connects,
and the wheelhouse that turns each app's sources into the exact wheels its release installs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import DEBIAN_RELEASES
from aitbc_infra.sources import check_sources, release_inputs
from aitbc_infra.wheelhouse import (
    ReleaseInputs,
    WheelhouseError,
    build_wheelhouse,
    poetry_specifiers,
    wheel_metadata,
)

PAYLOAD = PROJECT_ROOT / "payload"


def _check(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aitbc_infra", "check", *args], cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def test_payload_sources_are_complete(fleet):
    assert check_sources(fleet) == []


def test_aitbc_src_points_every_host_at_one_tree(monkeypatch, tmp_path):
    monkeypatch.setenv("AITBC_SRC", str(tmp_path))
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    assert {h.app_sources for h in fleet.hosts.values()} == {str(tmp_path)}
    problems = [str(p) for p in check_sources(fleet)]
    # An empty tree: every declared path is named, with its host, app and field.
    assert any(p.startswith("host aitbc: apps[0] (coordinator-api): apps[0].packages[0] "
                            "'apps/coordinator-api'") and str(tmp_path / "apps/coordinator-api") in p
               for p in problems), problems
    assert any("host aitbc: web_content[1].source" in p and "package.json" in p for p in problems)
    assert any("trees[0]" in p and "apps/wallet-daemon" in p for p in problems)


def test_wrong_source_root_is_refused_before_connecting(tmp_path):
    missing = tmp_path / "no-such-tree"
    proc = _check(env={"AITBC_SRC": str(missing)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"app_sources: {missing} is not a directory" in proc.stderr
    assert "AITBC_SRC" in proc.stderr


def test_interpreter_that_cannot_run_an_app_is_refused(project_copy):
    all_py = project_copy / "group_data" / "all.py"
    all_py.write_text(all_py.read_text().replace('python = {', 'python = {"version": "3.10", '))
    fleet = load_fleet(project_copy / "inventory.py", root=project_copy)
    problems = [str(p) for p in check_sources(fleet)]
    assert any("coordinator-api requires Python >=3.11,<4; the host builds with 3.10" in p
               for p in problems), problems
    # The path dependency is checked too (its own requires-python).
    assert any("(path dependency)" in p and "aitbc-crypto requires Python >=3.11" in p
               for p in problems), problems


@pytest.mark.parametrize(("poetry", "pep440"), [
    ("^3.11", ">=3.11,<4"), ("^0.111.0", ">=0.111.0,<0.112"), ("~3.11", ">=3.11,<3.12"),
    (">=3.11,<3.13", ">=3.11,<3.13"), ("3.11.4", "==3.11.4"), ("*", ""),
])
def test_poetry_constraints_translate(poetry, pep440):
    assert poetry_specifiers(poetry) == (pep440,)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The wheelhouse of the production data over the payload, and the inputs it came from."""
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    inputs = {(h.node, a.name): release_inputs(h, a) for h in fleet.hosts.values() for a in h.apps}
    out = tmp_path_factory.mktemp("wheelhouse")
    entries = build_wheelhouse(list(inputs.values()), out)
    return out, inputs, {where: entries[i.key()] for where, i in inputs.items()}


def test_path_dependency_is_built_and_pinned_by_name(built):
    out, _, releases = built
    coordinator = releases[("aitbc", "coordinator-api")]
    wheel = next(w for w in coordinator["wheels"] if w.startswith("aitbc_coordinator_api-"))
    meta = wheel_metadata(out / wheel)
    assert "Requires-Dist: aitbc-crypto==0.1.0" in meta and "file:" not in meta
    assert any(w.startswith("aitbc_crypto-0.1.0-") for w in coordinator["wheels"])
    # The undeclared import is installed because the data asks for it.
    assert any(w.startswith("python_json_logger-") for w in coordinator["wheels"])


def test_each_release_is_resolved_on_its_own(built):
    _, _, releases = built

    def version(where, dist):
        return next(w.split("-")[1] for w in releases[where]["wheels"] if w.startswith(f"{dist}-"))

    # requirements.txt pins an old pydantic; the coordinator's constraints a newer one.
    assert version(("aitbc", "exchange"), "pydantic") == "2.5.0"
    assert version(("aitbc", "coordinator-api"), "pydantic") != "2.5.0"
    # The SDK's by-name dependency on the crypto library is the local project, not the index's.
    wallet = releases[("aitbc", "wallet-daemon")]
    assert {"aitbc_crypto-0.1.0-py3-none-any.whl", "aitbc_sdk-0.1.0-py3-none-any.whl"} <= set(
        wallet["wheels"])
    assert releases[("aitbc", "trade-exchange")]["wheels"] == []


def test_trees_travel_as_deterministic_tars(built):
    out, _, releases = built
    wallet = releases[("aitbc", "wallet-daemon")]
    import tarfile
    with tarfile.open(out / wallet["tree"]) as tar:
        names = tar.getnames()
        assert "apps/wallet-daemon/src/app/main.py" in names
        assert {m.mtime for m in tar.getmembers()} == {0}
    assert not any("__pycache__" in n for n in names)


def test_rebuild_reuses_and_inputs_move_release_ids(built, tmp_path):
    out, inputs, releases = built
    manifest = json.loads((out / "wheelhouse.json").read_text())
    logs: list[str] = []
    build_wheelhouse(list(inputs.values()), out, log=logs.append)
    assert logs == [] and json.loads((out / "wheelhouse.json").read_text()) == manifest
    # A copy of the wallet's tree with one more file: a new release id, the same wheels.
    tree = tmp_path / "apps" / "wallet-daemon"
    shutil.copytree(PAYLOAD / "apps" / "wallet-daemon", tree,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "NEWS").write_text("one more file\n")
    wallet = inputs[("aitbc", "wallet-daemon")]
    # Its tree is outside the payload, the source root of the inputs: no root, each source
    # is confined to itself.
    changed = dataclasses.replace(wallet, trees=(("apps/wallet-daemon", tree),), root=None)
    other = tmp_path / "other"
    shutil.copytree(out, other)
    entry = build_wheelhouse([changed], other)[changed.key()]
    assert entry["release_id"] != releases[("aitbc", "wallet-daemon")]["release_id"]
    assert entry["wheels"] == releases[("aitbc", "wallet-daemon")]["wheels"]
    # Only what that build uses stays in its wheelhouse.
    assert {p.name for p in other.glob("*.whl")} == set(entry["wheels"])


def _source_problems() -> list[str]:
    return [str(p) for p in check_sources(load_fleet(PROJECT_ROOT / "inventory.py"))]


def test_a_link_out_of_the_source_root_is_refused(payload_copy, tmp_path):
    secret = tmp_path / "secrets.env"
    secret.write_text("JWT_SECRET=do-not-publish\n")
    (payload_copy / "website" / "leak.txt").symlink_to(secret)
    problems = _source_problems()
    assert any("host aitbc: web_content[0]" in p and "leak.txt links to" in p
               and "outside the source root" in p for p in problems), problems


def test_link_loops_and_undecodable_names_are_named(payload_copy):
    tree = payload_copy / "apps" / "wallet-daemon"
    (tree / "loop").symlink_to(tree / "loop")
    (tree / os.fsdecode(b"bad-\xff-name")).write_text("x")
    problems = _source_problems()
    assert any("trees[0]" in p and "loop: broken or looping symlink" in p for p in problems)
    assert any("trees[0]" in p and "file name is not UTF-8" in p for p in problems), problems


def _project(path, name: str, requires_python: str, dependencies: list[str]) -> None:
    path.mkdir(parents=True)
    (path / name.replace("-", "_")).mkdir()
    (path / name.replace("-", "_") / "__init__.py").write_text("")
    deps = ", ".join(json.dumps(d) for d in dependencies)
    (path / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = "{requires_python}"\n'
        f'dependencies = [{deps}]\n'
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n')


def test_a_release_is_resolved_for_the_hosts_interpreter_not_this_one(tmp_path):
    # A project for CPython 3.13 only, whose markers choose by the interpreter: built here (on
    # another Python) and resolved as the host (Debian 13, 3.13.5) would resolve it.
    root = tmp_path / "src"
    _project(root / "apps" / "new", "new-app", ">=3.13.5,<3.15",
             ['tomli; python_version >= "3.13"', 'exceptiongroup; python_version < "3.11"'])
    for_trixie = ReleaseInputs(app="new", projects=(root / "apps" / "new",), python="3.13.5",
                               glibc=DEBIAN_RELEASES[13].glibc, root=root)
    for_bookworm = dataclasses.replace(for_trixie, python="3.11.2",
                                       glibc=DEBIAN_RELEASES[12].glibc)
    assert for_trixie.key() != for_bookworm.key()  # the target is part of the release's id
    assert "manylinux_2_41_x86_64" in for_trixie.platforms()
    assert "manylinux_2_37_x86_64" not in for_bookworm.platforms()
    wheels = build_wheelhouse([for_trixie], tmp_path / "out")[for_trixie.key()]["wheels"]
    assert "new_app-1.0-py3-none-any.whl" in wheels
    assert any(w.startswith("tomli-") for w in wheels), wheels  # its marker holds on 3.13
    assert not any(w.startswith("exceptiongroup-") for w in wheels), wheels
    # For a 3.11 host the project itself cannot be resolved: uv says why, naming the app.
    with pytest.raises(WheelhouseError, match=r"app new: no set of wheels for CPython 3\.11\.2"):
        build_wheelhouse([for_bookworm], tmp_path / "out-bookworm")
