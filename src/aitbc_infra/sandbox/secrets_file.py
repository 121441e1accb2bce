"""The sandbox's secrets file: a random value for every secret the production model declares."""

from __future__ import annotations

import secrets
from pathlib import Path

from aitbc_infra.fleet import Fleet


def ensure_sandbox_secrets(path: Path, names: list[str]) -> None:
    """Random values for the sandbox, made once, outside git, readable by root only."""
    existing = path.read_text().splitlines() if path.exists() else []
    have = {line.split("=", 1)[0] for line in existing if "=" in line}
    added = [f"{name}={secrets.token_urlsafe(24)}" for name in names if name not in have]
    if added or not path.exists():
        path.write_text("\n".join(["# sandbox secrets (generated)", *existing[1:], *added]) + "\n")
    path.chmod(0o600)


def write_sandbox_secrets(path: Path, production: Fleet) -> None:
    """Every secret name the production model declares, with a random sandbox value."""
    ensure_sandbox_secrets(path, sorted({s for h in production.hosts.values() for a in h.apps
                                         for s in a.all_secrets}))
