"""Apps of a monorepo (upstream AITBC since 2026): the source root as a tree and as a package,
import roots that become the units' PYTHONPATH, and a central requirements file whose editable
lines name the tree's own projects.

The data under test is examples/monorepo/ (the production data, plus the payload's API gateway
of that layout) over the payload; a variant changes one fact of it. The release is built for
real at the end: wheelhouse, uv venv and source tar as a host builds them, and the gateway
served from it with the rendered PYTHONPATH and working directory answers its health check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError
from unit_helpers import env_entries

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.editables import tree_path
from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import App, HostSpec, requirement_file_editables, requirement_file_problems
from aitbc_infra.plan import uv_binary
from aitbc_infra.render import render_fleet
from aitbc_infra.sources import check_sources, release_inputs
from aitbc_infra.wheelhouse import WheelhouseError, build_wheelhouse, wheel_metadata
from deploys.apps import release_commands

EXAMPLE = PROJECT_ROOT / "examples" / "monorepo" / "inventory.py"
NODE = "aitbc"
GATEWAY = "api-gateway"
UNIT = "aitbc-api-gateway"
SECRET = "do-not-publish-5c1e"


@pytest.fixture(scope="module")
def example() -> Fleet:
    return load_fleet(EXAMPLE)


def _gateway(fleet: Fleet) -> tuple[HostSpec, App]:
    host = fleet.hosts[NODE]
    return host, next(a for a in host.apps if a.name == GATEWAY)


def _with(fleet: Fleet, root: Path | None = None, **changes) -> Fleet:
    """The example's aitbc host alone, its gateway changed (and its sources at `root`)."""
    host, app = _gateway(fleet)
    app = App.model_validate({**app.model_dump(), **changes})
    update = {"apps": [app], "web_content": [], "nginx_sites": []}
    if root is not None:
        update["app_sources"] = str(root)
    return Fleet({NODE: host.model_copy(update=update)})


def _problems(fleet: Fleet) -> list[str]:
    return [str(p) for p in check_sources(fleet)]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the payload as git holds it (no build outputs): a source root to break."""
    copy = tmp_path / "src"
    shutil.copytree(PROJECT_ROOT / "payload", copy, ignore=shutil.ignore_patterns(
        "node_modules", "dist", "__pycache__", "*.egg-info", "build", "*.db", ".env"))
    return copy


# --- The model -------------------------------------------------------------------------------

def _app(**fields) -> App:
    return App.model_validate({
        "name": "gw", "user": "aitbc-gateway", "root": "/opt/gw",
        "services": [{"unit": "gw", "asgi": "api_gateway.main:app", "port": 8201}], **fields})


def test_the_source_root_is_a_tree_a_package_an_import_root_and_a_workdir():
    app = _app(trees=["."], packages=["."], import_roots=["apps/gw/src", "."],
               services=[{"unit": "gw", "asgi": "m:app", "port": 8201, "workdir": "."}])
    assert app.python_path == "/opt/gw/.venv/src/apps/gw/src:/opt/gw/.venv/src"
    assert app.workdir(app.services[0]) == "/opt/gw/.venv/src"
    assert app.in_trees("apps/anything") and app.in_trees(".")
    # Any other app keeps its PYTHONPATH unset.
    assert _app(trees=["apps/gw"]).python_path is None


@pytest.mark.parametrize(("fields", "why"), [
    ({"trees": [".", "apps/gw"]}, "the tree '.' (the source root) holds every other tree"),
    ({"trees": ["apps", "apps/gw/src"]}, "the tree 'apps' holds the trees ['apps/gw/src']"),
    ({"trees": ["apps/gw", "apps/gw"]}, "holds the trees ['apps/gw']"),
    ({"trees": ["apps/gw"], "import_roots": ["apps/other"]}, "import root 'apps/other' is in none"),
    ({"trees": ["apps/gw"], "import_roots": ["apps/gw", "apps/gw"]}, "name a directory twice"),
    ({"trees": ["apps/gw"], "import_roots": ["."]}, "import root '.' is in none"),
    ({"trees": ["."], "import_roots": ["../etc"]}, "not a path under the source root"),
    ({"trees": ["."], "import_roots": ["/etc"]}, "not a path under the source root"),
    ({"trees": ["."], "import_roots": ["a:b"]}, "not a path under the source root"),
    ({"trees": ["."], "import_roots": ["./apps"]}, "not a path under the source root"),
    ({"trees": ["."], "import_roots": [f"d{i}" for i in range(33)]}, "at most 32 items"),
    ({"trees": [".."]}, "not a path under the source root"),
    ({"packages": ["./x"]}, "not a path under the source root"),
])
def test_tree_paths_and_import_roots_are_refused_by_name(fields, why):
    with pytest.raises(ValidationError) as info:
        _app(**{"packages": ["apps/gw"], **fields})
    assert why in str(info.value)


def test_pythonpath_is_the_models_and_no_data_sets_it(example):
    host, app = _gateway(example)
    data = {**app.model_dump(), "env": {"PYTHONPATH": "/tmp/elsewhere"}}
    for import_roots in (app.import_roots, []):
        problems = [str(p) for p in _with(example, **{**data, "import_roots": import_roots})
                    .cross_check()]
        assert (f"host aitbc, app {GATEWAY}: apps[0].env: 'PYTHONPATH' is set by the model (the "
                "app's import_roots, in its release): data may not set it") in problems, problems


def test_editable_root_is_an_absolute_normalised_path(example):
    host = example.hosts[NODE].model_dump()
    for bad in ("opt/aitbc", "/opt/../etc", "/opt//aitbc", "/opt/aitbc\n"):
        with pytest.raises(ValidationError, match="editable_root"):
            HostSpec.model_validate({**host, "editable_root": bad})


# --- The rendered unit -----------------------------------------------------------------------

def _env(fleet: Fleet, unit: str) -> dict[str, str]:
    rendered = render_fleet(fleet)[NODE]
    return env_entries(next(f.content for f in rendered if f.path.endswith(f"/{unit}.env")))


def test_the_units_pythonpath_is_the_import_roots_in_the_release_in_order(example):
    host, app = _gateway(example)
    env = _env(example, UNIT)
    assert env["PYTHONPATH"] == (f"{app.root}/.venv/src/apps/api-gateway/src:"
                                 f"{app.root}/.venv/src")
    rendered = {f.path: f.content for f in render_fleet(example)[NODE]}
    unit = rendered[f"/etc/systemd/system/{UNIT}.service"]
    assert f"WorkingDirectory={app.root}/.venv/src/apps/api-gateway\n" in unit
    # The candidate reads the same env file, its own release bound at the venv's path: the
    # import roots lead into the release under test.
    candidate = rendered[f"/etc/systemd/system/{UNIT}-candidate@.service"]
    assert f"EnvironmentFile=/etc/aitbc/{UNIT}.env" in candidate
    assert f"BindReadOnlyPaths={app.root}/releases/%i:{app.root}/.venv" in candidate
    reordered = _with(example, import_roots=[".", "apps/api-gateway/src"])
    assert _env(reordered, UNIT)["PYTHONPATH"] == (f"{app.root}/.venv/src:"
                                                  f"{app.root}/.venv/src/apps/api-gateway/src")


def test_production_data_renders_as_before(fleet):
    # The exchange's flat modules: once a hand-written PYTHONPATH, now its import root, the
    # very same line; no other app of the February data has one.
    exchange = _env(fleet, "aitbc-exchange-api")
    assert exchange["PYTHONPATH"] == "/opt/exchange/.venv/src/apps/trade-exchange"
    for host in fleet.hosts.values():
        for app in host.apps:
            assert "." not in [*app.trees, *app.packages, *app.import_roots], app.name
            assert (app.import_roots != []) == (app.name == "exchange"), app.name
            assert host.editable_root is None


# --- Editable lines of a central requirements file ------------------------------------------

# Lines a requirements file may not hold as editable lines, and the reason given for each;
# none of them is ever repeated in a problem.
HOSTILE_EDITABLES = {
    "-e git+https://git.example/pkg.git#egg=pkg": "a URL",
    "-e https://files.example/pkg-1.0.tar.gz": "a URL",
    "--editable=file://files.example/opt/aitbc/pkg": "a URL",
    "-e ../sibling-dir": "'..' in an editable path",
    "-e file:///opt/aitbc/../../etc/ssl": "'..' in an editable path",
    "-e ./packages/py/aitbc-crypto[extra]": "extras on an editable line",
    "-e ./pack%61ges": "plain names",
    "-e ./packages ; python_version >>> '3'": "not an environment marker",
    "-e ${HOME}/pkg": "'$' is not allowed",
    "-e": "an editable line is '-e PATH'",
    "-e=./packages/py/aitbc-crypto": "an option of pip",
    "-e file:///etc/secret-token-dir": "outside editable_root /opt/aitbc",
    "-e /srv/elsewhere/pkg": "outside editable_root /opt/aitbc",
    "-e file:///opt/aitbcx/pkg": "outside editable_root /opt/aitbc",
    "--index-url https://mirror.example/simple": "an option of pip",
    "-r ../../other-list.txt": "an option of pip",
}


def test_upstreams_editable_line_names_its_library_for_its_interpreter_only():
    # The first line of upstream's requirements.txt at c27c654, as poetry export wrote it.
    line = ('-e file:///opt/aitbc/packages/aitbc-shared ; python_full_version >= "3.13.5" and '
            'python_full_version != "3.14.1" and python_version < "3.15"')
    assert requirement_file_problems(f"{line}\nfastapi==0.136.3 ; python_version < '3.15'\n") == []
    (editable,) = requirement_file_editables(f"# deps\n{line}\n")
    assert (editable.number, tree_path(editable, "/opt/aitbc")) == (2, "packages/aitbc-shared")
    assert editable.holds_for("3.13.5") and not editable.holds_for("3.14.1")
    assert not editable.holds_for("3.11.2") and not editable.holds_for("3.13")


def _requirements(root: Path, *lines: str) -> Fleet:
    """The gateway over `root`, its central requirements file holding `lines`."""
    (root / "requirements.txt").write_text("".join(f"{line}\n" for line in (
        "# the central list", "uvicorn>=0.30,<1", *lines)))
    return _with(load_fleet(EXAMPLE), root)


@pytest.mark.parametrize("line", HOSTILE_EDITABLES)
def test_a_hostile_editable_line_is_refused_by_file_and_line(tree, line):
    problems = _problems(_requirements(tree, line))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"host aitbc: apps[0] ({GATEWAY}): apps[0].requirement_files[0]: "
                                  f"{tree / 'requirements.txt'} line 3: ")
    assert HOSTILE_EDITABLES[line] in problems[0], problems[0]
    for word in ("git.example", "files.example", "secret-token", "elsewhere", "sibling-dir",
                 "other-list",
                 "HOME", "%61", "extra]", ">>>", "aitbcx", "mirror.example"):
        assert word not in problems[0].split(" line 3: ", 1)[1], problems[0]


def test_an_absolute_editable_line_needs_the_hosts_editable_root(tree):
    fleet = _requirements(tree, "-e file:///opt/aitbc/packages/py/aitbc-crypto")
    host = fleet.hosts[NODE].model_copy(update={"editable_root": None})
    problems = _problems(Fleet({NODE: host}))
    assert len(problems) == 1 and "line 3: an absolute editable path, and the host declares " \
        "no editable_root" in problems[0], problems
    # A relative line is read from the source root, editable_root or not.
    (tree / "requirements.txt").write_text("-e ./packages/py/aitbc-crypto\n")
    assert _problems(Fleet({NODE: host})) == []


def test_an_editable_line_pointing_nowhere_is_named_by_file_and_line(tree):
    fleet = _requirements(tree, "-e file:///opt/aitbc/packages/py/aitbc-gone",
                          "-e ./website ; python_version >= '3.11'")
    problems = _problems(fleet)
    at = f"apps[0].requirement_files[0]: {tree / 'requirements.txt'}"
    assert problems == [
        f"host aitbc: apps[0] ({GATEWAY}): {at} line 3: editable 'packages/py/aitbc-gone': "
        f"{tree / 'packages/py/aitbc-gone'} does not exist",
        f"host aitbc: apps[0] ({GATEWAY}): {at} line 4: editable 'website': "
        f"{tree / 'website'} has no pyproject.toml",
    ]


def test_an_editable_line_linked_out_of_the_tree_is_refused_unread(tree, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pyproject.toml").write_text(f'[project]\nname = "{SECRET}"\nversion = "1"\n')
    (tree / "packages" / "leak").symlink_to(elsewhere)
    problems = _problems(_requirements(tree, "-e file:///opt/aitbc/packages/leak"))
    assert len(problems) == 1 and "line 3: editable 'packages/leak': " in problems[0], problems
    assert f"links to {elsewhere}, outside the source root" in problems[0]
    assert SECRET not in problems[0]
    inputs = release_inputs(*_gateway(_requirements(tree, "-e file:///opt/aitbc/packages/leak")))
    with pytest.raises(WheelhouseError, match="line 3: .*outside the source root"):
        _ = inputs.all_projects


def test_editable_lines_are_the_releases_projects_where_their_marker_holds(tree):
    _requirements(tree, "-e file:///opt/aitbc/packages/py/aitbc-sdk ; python_version < '3'",
                  "--editable ./packages/py/aitbc-crypto/",
                  "-e file:///opt/aitbc ; python_full_version >= '3.11.2'")
    # The last line names the root project: built from what the exclude leaves, its
    # pyproject.toml among it.
    example = load_fleet(EXAMPLE)
    fleet = _with(example, tree, exclude=[p for p in _gateway(example)[1].exclude if p != "*.toml"])
    assert _problems(fleet) == []
    inputs = release_inputs(*_gateway(fleet))
    # The first line's marker holds for no host of 3.11: it is no project of the release.
    assert inputs.all_projects == (tree / "packages/py/aitbc-crypto", tree)
    # Each is hashed into the release id like a package: a change of the library is a new release.
    before = inputs.key()
    (tree / "packages/py/aitbc-crypto/src/aitbc_crypto/extra.py").write_text("X = 1\n")
    assert release_inputs(*_gateway(fleet)).key() != before


# --- check: import roots -------------------------------------------------------------------

def test_check_names_an_import_root_that_the_release_does_not_carry(tree, tmp_path):
    (tree / "apps" / "api-gateway" / "NOTES").write_text("a file, not a directory\n")
    (tmp_path / "outside").mkdir()
    # Under a path the exclude leaves out: the tree's walk never meets it, the import root does.
    (tree / "website" / "lib-link").symlink_to(tmp_path / "outside")
    (tree / "empty").mkdir()
    example = load_fleet(EXAMPLE)
    _, app = _gateway(example)
    fleet = _with(example, tree, import_roots=[
        "apps/api-gateway/src", ".", "apps/api-gateway/gone", "apps/api-gateway/NOTES",
        "website/lib-link", "apps/wallet-daemon/src", "empty"])
    field = f"host aitbc: apps[0] ({GATEWAY}): apps[0].import_roots"
    assert _problems(fleet) == [
        f"{field}[2] 'apps/api-gateway/gone': {tree / 'apps/api-gateway/gone'} does not exist",
        f"{field}[3] 'apps/api-gateway/NOTES': {tree / 'apps/api-gateway/NOTES'} is not a directory",
        f"{field}[4] 'website/lib-link': {tree / 'website/lib-link'} links to "
        f"{tmp_path / 'outside'}, outside the source root {tree}",
        f"{field}[5] 'apps/wallet-daemon/src': {tree / 'apps/wallet-daemon/src'} is not in the "
        "release: under the tree '.', 'apps/wallet-daemon' is left out by the exclude pattern "
        "'apps/wallet-daemon'",
        f"{field}[6] 'empty': {tree / 'empty'} is not in the release: the tree '.' carries no "
        "file under it",
    ]
    assert "apps/wallet-daemon" in app.exclude


def test_check_refuses_a_missing_import_root_with_exit_2(tree):
    shutil.rmtree(tree / "apps" / "api-gateway" / "src")
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check", "--inventory",
                           str(EXAMPLE)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**os.environ, "AITBC_SRC": str(tree)}, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (f"apps[6] ({GATEWAY}): apps[6].import_roots[0] 'apps/api-gateway/src': "
            f"{tree / 'apps/api-gateway/src'} does not exist") in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_root_tree_beside_static_files_must_leave_out_its_static(tree, example):
    (tree / "static").mkdir()
    (tree / "static" / "page.html").write_text("<p>tree</p>\n")
    _, app = _gateway(example)
    fleet = _with(example, tree, static_files=["apps/trade-exchange/index.html"],
                  exclude=[p for p in app.exclude if p != "apps/trade-exchange"])
    problems = _problems(fleet)
    assert problems == [f"host aitbc: apps[0] ({GATEWAY}): apps[0].trees: the tree '.' carries "
                        "static/ (static/page.html, ...), where the release puts its "
                        "static_files: leave it out (exclude 'static')"]
    with pytest.raises(WheelhouseError, match=r"the tree '\.' carries static/page\.html, where "):
        build_wheelhouse([release_inputs(*_gateway(fleet))], tree.parent / "wh")


# --- Release ids ---------------------------------------------------------------------------

def test_the_release_id_follows_the_import_roots_content_and_not_what_is_left_out(tree):
    fleet = _with(load_fleet(EXAMPLE), tree)
    before = release_inputs(*_gateway(fleet)).key()
    (tree / "website" / "news.html").write_text("<p>left out</p>\n")
    (tree / "apps" / "coordinator-api" / "NEWS").write_text("left out\n")
    assert release_inputs(*_gateway(fleet)).key() == before
    # A module of the root package (the import root "."), then one of the app's own src.
    (tree / "aitbc" / "__init__.py").write_text(
        (tree / "aitbc" / "__init__.py").read_text() + "# changed\n")
    after_root = release_inputs(*_gateway(fleet)).key()
    assert after_root != before
    (tree / "apps" / "api-gateway" / "src" / "api_gateway" / "extra.py").write_text("X = 1\n")
    assert release_inputs(*_gateway(fleet)).key() not in (before, after_root)


@pytest.fixture(scope="module")
def gateway_release(tmp_path_factory, example):
    """The gateway's release as the deploy builds it from the payload: the wheelhouse here,
    then the release venv by uv from it, offline, with the deploy's own commands."""
    host, app = _gateway(example)
    inputs = release_inputs(host, app)
    out = tmp_path_factory.mktemp("wheelhouse")
    entry = build_wheelhouse([inputs], out)[inputs.key()]
    root = tmp_path_factory.mktemp("opt") / "api-gateway"
    local = app.model_copy(update={"root": str(root)})
    commands = release_commands(python=host.python.executable, releases=local.releases,
                                venv=local.venv, release_id=entry["release_id"],
                                wheels=entry["wheels"], tree=entry["tree"], wheelhouse=str(out),
                                uv=uv_binary())
    # As pyinfra runs them: one shell each, no index reachable.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root.parent / "home"),
           "UV_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}
    for command in commands:
        subprocess.run(["/bin/sh", "-c", command], env=env, check=True, timeout=300)
    return out, entry, local


def test_the_release_carries_the_tree_left_and_the_editable_library_as_a_wheel(gateway_release):
    out, entry, _ = gateway_release
    with tarfile.open(out / entry["tree"]) as tar:
        names = sorted(tar.getnames())
    assert names == ["aitbc/__init__.py", "apps/api-gateway/src/api_gateway/__init__.py",
                     "apps/api-gateway/src/api_gateway/main.py"]
    wheels = entry["wheels"]
    assert "aitbc_crypto-0.1.0-py3-none-any.whl" in wheels  # from the editable line
    assert any(w.startswith("uvicorn-") for w in wheels) and any(
        w.startswith("pynacl-") for w in wheels)
    assert not any(w.startswith("aitbc-") for w in wheels)  # the root package is imported, not installed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_gateway_answers_from_its_release_through_its_import_roots(gateway_release):
    _, _, app = gateway_release
    svc = app.services[0]
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": app.python_path,
           "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([f"{app.venv}/bin/python", "-m", "uvicorn", svc.asgi, "--host",
                             "127.0.0.1", "--port", str(port)], cwd=app.workdir(svc), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert body is not None, proc.communicate(timeout=5)[0] if proc.poll() is not None else ""
        assert body["service"] == GATEWAY and body["status"] == "ok" and body["aitbc"] == "0.1.0"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/imports", timeout=2) as r:
            modules = json.loads(r.read())["modules"]
        # The root package and the app through the import roots, in the release's sources
        # (the venv's path: the release the unit runs); the library from the venv itself.
        assert modules["aitbc"] == f"{app.venv}/src/aitbc/__init__.py"
        assert modules["api_gateway"] == f"{app.venv}/src/apps/api-gateway/src/api_gateway/main.py"
        assert modules["aitbc_crypto"].startswith(f"{app.venv}/lib/python3")
        assert "/site-packages/aitbc_crypto/" in modules["aitbc_crypto"]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


# --- The root project as a package ---------------------------------------------------------

def test_the_root_project_is_built_from_what_its_exclude_leaves(tree, tmp_path):
    example = load_fleet(EXAMPLE)
    _, app = _gateway(example)
    # The example's exclude leaves the root's pyproject.toml out: it could not be built.
    assert _problems(_with(example, tree, packages=["."])) == [
        f"host aitbc: apps[0] ({GATEWAY}): apps[0].packages[0] '.': {tree / 'pyproject.toml'} "
        "would not be built from: 'pyproject.toml' is left out by the exclude pattern '*.toml'"]
    exclude = [p for p in app.exclude if p not in ("*.toml", "packages")]
    fleet = _with(example, tree, packages=["."], exclude=exclude)
    assert _problems(fleet) == []
    (tree / "aitbc" / "private.txt").write_text(f"{SECRET}\n")
    fleet = _with(example, tree, packages=["."], exclude=[*exclude, "aitbc/private.txt"])
    inputs = release_inputs(*_gateway(fleet))
    entry = build_wheelhouse([inputs], tmp_path / "wh")[inputs.key()]
    root_wheel = tmp_path / "wh" / "aitbc-0.1.0-py3-none-any.whl"
    assert root_wheel.name in entry["wheels"]
    with zipfile.ZipFile(root_wheel) as zf:
        assert "aitbc/__init__.py" in zf.namelist()
        assert not any(SECRET.encode() in zf.read(n) for n in zf.namelist())
        assert "aitbc/private.txt" not in zf.namelist()
    # Its poetry path dependency is built with it and pinned by name.
    assert "Requires-Dist: aitbc-crypto==0.1.0" in wheel_metadata(root_wheel)
    assert "aitbc_crypto-0.1.0-py3-none-any.whl" in entry["wheels"]
    # What the exclude leaves out changes no release; the root package's module does.
    before = inputs.key()
    (tree / "aitbc" / "private.txt").write_text("changed\n")
    (tree / "website" / "news.html").write_text("<p>x</p>\n")
    assert release_inputs(*_gateway(fleet)).key() == before
    (tree / "aitbc" / "more.py").write_text("Y = 2\n")
    assert release_inputs(*_gateway(fleet)).key() != before
    # The source tree is not written by the build (it builds from a copy).
    assert not (tree / "build").exists() and not list(tree.glob("*.egg-info"))


def test_one_root_package_built_two_ways_is_refused(tree, tmp_path):
    example = load_fleet(EXAMPLE)
    _, app = _gateway(example)
    exclude = [p for p in app.exclude if p != "*.toml"]  # the root's pyproject.toml is read
    (tree / "aitbc" / "more.py").write_text("Y = 2\n")
    one = release_inputs(*_gateway(_with(example, tree, packages=["."], exclude=exclude)))
    other = release_inputs(*_gateway(_with(example, tree, packages=["."],
                                           exclude=[*exclude, "aitbc/more.py"])))
    other = dataclasses.replace(other, app="other")
    with pytest.raises(WheelhouseError, match="is a package of apps api-gateway and other with "
                                              "different exclude patterns"):
        build_wheelhouse([one, other], tmp_path / "wh")
