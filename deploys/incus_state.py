"""The incus side of a host, read in one round trip (deploys/scripts/incus-state.sh): its
storage pool, networks, instances, and in each running container of the model the digests of
the files provision manages there."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyinfra.api import FactBase

from aitbc_infra.incus import Present
from deploys.shell import script


@dataclass(frozen=True)
class IncusHostState:
    pool: dict | None
    networks: dict[str, dict | None]
    instances: dict[str, Present]


class IncusState(FactBase):
    def command(self, pool: str, networks: list[str], containers: list[str],
                files: list[str]) -> str:
        return script("incus-state", pool, *networks, "--", *containers, "--", *files)

    @staticmethod
    def default() -> IncusHostState:
        return IncusHostState(None, {}, {})

    def process(self, output) -> IncusHostState:
        sections: dict[str, list[str]] = {}
        current: list[str] = []
        for line in output:
            if line.startswith("::") and line.endswith("::"):
                current = sections.setdefault(line.strip(":"), [])
            else:
                current.append(line)

        def parsed(name: str):
            return json.loads("\n".join(sections.get(name, [])) or "null")

        files: dict[str, dict[str, str]] = {}
        sshd: dict[str, bool] = {}
        for name, lines in sections.items():
            if name.startswith("files "):
                node = name.removeprefix("files ")
                files[node] = {line[66:]: line[:64] for line in lines
                               if len(line) > 66 and not line.startswith("sshd ")}
                sshd[node] = any(line == "sshd install ok installed" for line in lines)
        instances = {
            i["name"]: Present(i["status"], i.get("config") or {}, i.get("devices") or {},
                               files.get(i["name"], {}), sshd.get(i["name"], False))
            for i in parsed("instances") or []
        }
        networks = {name.removeprefix("network "): parsed(name)
                    for name in sections if name.startswith("network ")}
        return IncusHostState(parsed("pool"), networks, instances)
