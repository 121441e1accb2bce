"""App releases, env files, units and their services.

A venv is rebuilt only when its release id (a hash of sources and dependency wheels) changes,
and a service restarts only when its unit, its env file or its release changed.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from pathlib import Path

from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.model import App, HostSpec
from aitbc_infra.render import RenderedFile
from aitbc_infra.wheelhouse import MANIFEST, build_wheelhouse
from deploys.context import fleet
from deploys.managed import PathState, sha256, sync_tree, upload
from deploys.units import converge, unit_states

WHEELHOUSE_LOCAL = PROJECT_ROOT / "build" / "wheelhouse"
WHEELHOUSE_REMOTE = "/var/cache/aitbc/wheelhouse"
RELEASE_MARKER = ".aitbc-release"


_build_lock = threading.Lock()  # pyinfra prepares hosts concurrently (gevent patches this lock)


def wheelhouse() -> dict:
    """Build once per run, for every app of the fleet: {package dir: (project, release id)}."""
    with _build_lock:
        return _build_wheelhouse()


@cache
def _build_wheelhouse() -> dict:
    sources = {h.app_sources for h in fleet().hosts.values()}
    if len(sources) != 1:
        raise ValueError(f"all hosts must share one app_sources, got {sorted(sources)}")
    root = Path(sources.pop())
    root = root if root.is_absolute() else PROJECT_ROOT / root
    packages = sorted({p for h in fleet().hosts.values() for a in h.apps for p in a.packages})
    build_wheelhouse([root / p for p in packages], WHEELHOUSE_LOCAL)
    manifest = json.loads((WHEELHOUSE_LOCAL / MANIFEST).read_text())["apps"]
    return {p: (manifest[p]["project"], manifest[p]["release_id"]) for p in packages}


def release_marker(app: App) -> str:
    return f"{app.venv}/{RELEASE_MARKER}"


def _install(app: App, states: dict[str, PathState]):
    built = wheelhouse()
    release = "-".join(built[p][1] for p in app.packages)
    marker = release_marker(app)
    current = states.get(marker)
    if current and current.sha256 == sha256(f"{release}\n".encode()):
        return None
    projects = " ".join(built[p][0] for p in app.packages)
    return server.shell(
        name=f"{app.name}: install release {release}",
        commands=[
            f"python3 -m venv --clear {app.venv}",
            f"{app.venv}/bin/pip install --quiet --no-index --find-links {WHEELHOUSE_REMOTE} "
            f"{projects}",
            f"echo {release} > {marker}",
        ],
    )


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState]) -> None:
    if not spec.apps:
        return
    wheelhouse()
    sync_tree(WHEELHOUSE_LOCAL, WHEELHOUSE_REMOTE, states)
    by_unit: dict[str, list[RenderedFile]] = {}
    for f in rendered.values():
        if f.kind in ("unit", "env"):
            by_unit.setdefault(f.unit, []).append(f)
    unit_ops = {unit: [upload(f, states) for f in fs] for unit, fs in sorted(by_unit.items())}
    systemd.daemon_reload(name="systemd daemon-reload",
                          _if=any_changed(*[op for ops in unit_ops.values() for op in ops]))
    running = unit_states([svc.unit for _, svc in spec.services])
    for app in spec.apps:
        install = _install(app, states)
        for svc in app.services:
            changed = unit_ops[svc.unit] + ([install] if install else [])
            converge(svc.unit, running.get(svc.unit), changed)
