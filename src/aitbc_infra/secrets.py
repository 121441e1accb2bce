"""Secret values for a deploy: from the environment, else from a secrets file outside git.

The file's path is data (`secrets_file` on the hosts); the file holds KEY=VALUE lines.
Missing names are all reported at once, before anything connects or changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aitbc_infra.fleet import Fleet


class MissingSecrets(Exception):
    pass


def read_secrets_file(path: Path) -> dict[str, str]:
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise MissingSecrets(f"{path}:{number}: expected KEY=VALUE")
        values[key.strip()] = value.strip().strip('"')
    return values


@dataclass
class SecretStore:
    values: dict[str, str]

    @classmethod
    def for_fleet(cls, fleet: Fleet) -> SecretStore:
        values: dict[str, str] = {}
        files = {h.secrets_file for h in fleet.hosts.values() if h.secrets_file}
        for name in sorted(files):
            path = Path(name)
            if path.exists():
                values.update(read_secrets_file(path))
        needed = {s for h in fleet.hosts.values() for a in h.apps for s in a.all_secrets}
        values.update({k: os.environ[k] for k in needed if os.environ.get(k)})
        store = cls(values)
        missing = {
            f"{name} (host {h.node}, app {a.name})"
            for h in fleet.hosts.values() for a in h.apps for name in a.all_secrets
            if not store.values.get(name)
        }
        if missing:
            where = ", ".join(sorted(files)) or "no secrets_file set"
            raise MissingSecrets(
                "missing secrets, set them in the environment or the secrets file "
                f"({where}):\n" + "\n".join(f"  - {m}" for m in sorted(missing))
            )
        return store

    def lookup(self, _node: str, name: str) -> str:
        return self.values[name]

    def __repr__(self) -> str:  # never print values, even by accident
        return f"SecretStore({len(self.values)} values)"
