"""Exposure scores of the rendered units: `systemd-analyze security --offline=true`, offline.

Each unit is scored in a throw-away root (`--root`), so unit files and drop-ins installed on the
machine running the check (at1 itself, say) cannot change the result. The ExecStart binary need
not exist for the security review (unlike `verify`), so units are scored exactly as rendered.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import SYSTEMD_DIR
from aitbc_infra.render import render_fleet

# The bound: every app unit must score at most this (0 best, 10 worst).
MAX_EXPOSURE = 4.5

# "→ Overall exposure level for x.service: 1.2 OK 🙂"
_OVERALL = re.compile(
    r"Overall exposure level for (?P<unit>\S+): (?P<score>\d+(?:\.\d+)?) (?P<rating>[A-Z]+)")


def _systemd_analyze() -> str:
    for candidate in ("/usr/bin/systemd-analyze", "/bin/systemd-analyze"):
        if Path(candidate).exists():
            return candidate
    raise FileNotFoundError("'systemd-analyze' is not installed on this machine (see README: set-up)")


def unit_exposure(content: str, name: str) -> tuple[float, str]:
    """(exposure score, rating word such as "OK") of one unit file's text named `name`."""
    unit = name if name.endswith(".service") else f"{name}.service"
    with tempfile.TemporaryDirectory(prefix="aitbc-security-") as tmp:
        target = Path(tmp) / SYSTEMD_DIR.lstrip("/") / unit
        target.parent.mkdir(parents=True)
        target.write_text(content)
        proc = subprocess.run(
            [_systemd_analyze(), "security", "--offline=true", "--no-pager", f"--root={tmp}", unit],
            capture_output=True, text=True, env={"SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8",
                                                 "PATH": "/usr/bin:/bin"},
        )
    match = _OVERALL.search(proc.stdout)
    if proc.returncode != 0 or not match or match["unit"] != unit:
        output = (proc.stdout[-2000:] + proc.stderr).strip()
        raise RuntimeError(f"systemd-analyze security could not score {unit}: {output}")
    return float(match["score"]), match["rating"]


def exposure_table(fleet: Fleet) -> list[tuple[str, str, float, str]]:
    """(node, unit, score, rating) for every unit of every host, in render order."""
    rows = []
    for node, files in render_fleet(fleet).items():
        for f in files:
            if f.kind == "unit":
                score, rating = unit_exposure(f.content, Path(f.path).name)
                rows.append((node, f.unit or Path(f.path).stem, score, rating))
    return rows


def exposure_markdown(fleet: Fleet) -> str:
    """The table for the README: node, unit, score, rating."""
    lines = [
        f"| node | unit | exposure (≤ {MAX_EXPOSURE}) | rating |",
        "|---|---|---|---|",
    ]
    lines += [f"| {node} | `{unit}` | {score} | {rating} |"
              for node, unit, score, rating in exposure_table(fleet)]
    return "\n".join(lines) + "\n"
