"""One cgroup per machine.

With --keep-unit and no systemd on the control side, nspawn puts itself in <own cgroup>/supervisor
and the machine in <own cgroup>/payload. Started from the same cgroup, all four machines would
share ONE payload cgroup, and their systemds race over the same sub-cgroups (seen here: units
failing at random with status 219/CGROUP, the machine "degraded"). So each nspawn is started
from its own cgroup, aitbc-sandbox-<machine>, in the hierarchies systemd uses.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _hierarchies() -> list[tuple[Path, str]]:
    """(mount point, our cgroup path in it) for the hierarchies nspawn/systemd manage."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        num, controllers, path = line.split(":", 2)
        own[controllers] = path
    if (ROOT / "cgroup.controllers").exists():  # pure cgroup v2
        return [(ROOT, own.get("", "/"))]
    out = []
    if (ROOT / "systemd").is_dir():  # legacy / hybrid: systemd's named v1 hierarchy
        out.append((ROOT / "systemd", own.get("name=systemd", "/")))
    if (ROOT / "unified").is_dir():  # hybrid: the v2 hierarchy beside it
        out.append((ROOT / "unified", own.get("", "/")))
    return out


def dirs(name: str) -> list[Path]:
    return [mount / own.lstrip("/") / f"aitbc-sandbox-{name}" for mount, own in _hierarchies()]


def prepare(name: str) -> list[Path]:
    """Create the machine's cgroups; returns their dirs (the spawner joins them)."""
    out = dirs(name)
    for d in out:
        d.mkdir(exist_ok=True)
    return out


def join(cgroup_dirs: list[str]) -> None:
    """Move the calling process into cgroup_dirs (runs in the spawn helper, before exec)."""
    for d in cgroup_dirs:
        Path(d, "cgroup.procs").write_text(f"{os.getpid()}\n")


def remove(name: str) -> None:
    """Remove the machine's cgroups, deepest first (the machine's systemd leaves some behind
    when it is killed). Only empty cgroups can be removed; the processes are gone by now."""
    for d in dirs(name):
        if not d.is_dir():
            continue
        for sub, _, _ in sorted(os.walk(d), key=lambda w: -w[0].count("/")):
            with contextlib.suppress(OSError):
                os.rmdir(sub)
