"""What several unit test modules build or read the same way: a fleet from edited host data,
as pyinfra's loader hands it over; what a run owes a host whose converged state is edited; a
git repository holding a copy of this project; an env file read back as systemd reads it."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.decision import Decision, converged, decide
from aitbc_infra.drift import PathState, State
from aitbc_infra.fleet import SOURCE_ENV, Fleet
from aitbc_infra.loader import load_fleet
from aitbc_infra.plan import host_plan
from aitbc_infra.render import RenderedFile, render_fleet


class PyinfraData:
    """The part of pyinfra's host data the fleet builder reads."""

    def __init__(self, data: dict):
        self._data = data

    def dict(self) -> dict:
        return dict(self._data)

    def get(self, key, default=None):
        return self._data.get(key, default)


@dataclass
class PyinfraHost:
    name: str
    groups: list[str]
    data: PyinfraData


def build_fleet(hosts) -> Fleet:
    """The fleet of (name, groups, data) hosts, validated as the loader does it."""
    return Fleet.from_pyinfra([PyinfraHost(n, list(g), PyinfraData(d)) for n, g, d in hosts],
                              file_group="inventory")


@cache
def _production_hosts() -> tuple[tuple[str, tuple[str, ...], dict], ...]:
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    return tuple((spec.name, tuple(spec.groups), spec.model_dump(exclude={"name", "groups", "role"}))
                 for spec in fleet.hosts.values())


def production_hosts(node: str, *edits) -> list[tuple[str, list[str], dict]]:
    """The production inventory's hosts as (name, groups, data), each function of `edits`
    applied in turn to the data of `node` (a copy: the next call starts from production)."""
    hosts = []
    for name, groups, data in _production_hosts():
        data = copy.deepcopy(data)
        if data["node"] == node:
            for edit in edits:
                edit(data)
        hosts.append((name, list(groups), data))
    return hosts


# A host's converged state, edited: what a run then owes it ----------------------------------

Edit = Callable[[State], None]


def content(path: str) -> Edit:
    def edit(state: State) -> None:
        state.paths[path] = replace(state.paths[path], sha256="0" * 64)
    return edit


def absent(path: str) -> Edit:
    return lambda state: state.paths.pop(path)


def present(path: str) -> Edit:
    def edit(state: State) -> None:
        state.paths[path] = PathState("f", "0644", "root", "root", "0" * 64)
    return edit


def link(path: str, target: str) -> Edit:
    def edit(state: State) -> None:
        state.paths[path] = PathState("l", "0777", "root", "root", target)
    return edit


def mode(path: str, to: str) -> Edit:
    def edit(state: State) -> None:
        state.paths[path] = replace(state.paths[path], mode=to)
    return edit


def unit(name: str, active: str = "active", enabled: str = "enabled") -> Edit:
    def edit(state: State) -> None:
        state.units[name] = (active, enabled)
    return edit


def decision_after(fleet: Fleet, node: str, edits=(), releases=None, rolled=None) -> Decision:
    """What a run owes `node`, converged on release r1 of each app (or the one `releases`
    names) but for `edits`; `rolled`: the apps a rollback put on another release."""
    spec = fleet.hosts[node]
    plan = host_plan(fleet, spec)
    releases = {app.name: "r1" for app in spec.apps} | (releases or {})
    state = converged(spec, plan, releases)
    for edit in edits:
        edit(state)
    return decide(spec, plan, state, releases, rolled)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout


def project_repo(repo: Path) -> Path:
    """A git repository at `repo` whose one commit is what `diff` reads of this project."""
    repo.mkdir(exist_ok=True)
    for name in ("inventory.py", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, repo / name)
    # deploys/: its scripts are rendered too (the firewall's switch program).
    for name in ("group_data", "templates", "src", "deploys", "payload", "constraints"):
        shutil.copytree(PROJECT_ROOT / name, repo / name, ignore=shutil.ignore_patterns(
            "__pycache__", "*.egg-info", "node_modules", "dist"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    return repo


def lines(text: str) -> list[str]:
    # \n ends a line for systemd, nginx and bash, and systemd takes \r too; \x85 and \u2028 end none.
    return re.split(r"\r\n|\n|\r", text)


_ENV_LINE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="(.*)"\Z', re.S)


def env_entries(text: str) -> dict[str, str]:
    """KEY -> value as systemd reads a double-quoted EnvironmentFile= value; ValueError for a
    line it would read otherwise (or a key set twice)."""
    entries = {}
    for line in lines(text):
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            raise ValueError(f'not a KEY="value" line: {line!r}')
        raw, out, i = match.group(2), [], 0
        while i < len(raw):
            char = raw[i]
            if char == "\\":
                if i + 1 == len(raw):
                    raise ValueError(f"the closing quote is escaped: {line!r}")
                nxt = raw[i + 1]
                out.append(nxt if nxt in '"\\`$' else char + nxt)
                i += 2
                continue
            if char == '"':
                raise ValueError(f"an unescaped quote ends the value early: {line!r}")
            out.append(char)
            i += 1
        if match.group(1) in entries:
            raise ValueError(f"{match.group(1)} set twice")
        entries[match.group(1)] = "".join(out)
    return entries


# The examples of upstream's August 2026 topology (examples/aitbc-2026-08, examples/hub-follower)
# read with no tree of upstream's, and their rendered files looked up by path.


@contextmanager
def without_source_tree() -> Iterator[None]:
    """AITBC_SRC unset inside, put back after: what the data reads is the payload, or no tree."""
    saved = os.environ.pop(SOURCE_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[SOURCE_ENV] = saved


def rendered_by_path(fleet: Fleet) -> dict[str, dict[str, RenderedFile]]:
    return {node: {f.path: f for f in files} for node, files in render_fleet(fleet).items()}


def unit_env(rendered, node: str, unit: str, env_dir: str = "/etc/aitbc-infra") -> dict[str, str]:
    """A unit's rendered env file, read as systemd reads it (the examples' env_dir by default)."""
    return env_entries(rendered[node][f"{env_dir}/{unit}.env"].content)


def unit_lines(rendered, node: str, unit: str) -> list[str]:
    return rendered[node][f"/etc/systemd/system/{unit}.service"].content.splitlines()
