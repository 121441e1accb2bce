"""Sandbox only: trust the sandbox ACME server and its root CA in every host's system store, so
certbot talks to the ACME server and hosts talk HTTPS to each other as they would in production."""

from __future__ import annotations

from pathlib import Path

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from deploys.managed import PathState, put

CA_DIR = "/usr/local/share/ca-certificates"


def trusted(spec: HostSpec) -> dict[str, str]:
    """{path on the host: local file} of the CAs to add."""
    if spec.deploy_environment != "sandbox":
        return {}
    local = {"aitbc-sandbox-acme-root.crt": spec.acme_root_file,
             "aitbc-sandbox-acme-server.crt": spec.acme_ca_bundle}
    return {f"{CA_DIR}/{name}": path for name, path in local.items() if path}


def deploy(spec: HostSpec, states: dict[str, PathState]) -> None:
    changes = [put(name=f"Trust {dest}", dest=dest, content=Path(src).read_bytes(), mode="0644",
                   user="root", group="root", current=states.get(dest))
               for dest, src in trusted(spec).items()]
    if changes:
        server.shell(name="update-ca-certificates", commands=["update-ca-certificates"],
                     _if=any_changed(*changes))
