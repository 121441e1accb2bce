"""Sandbox only: trust the sandbox ACME CA's root, so hosts can talk HTTPS to each other."""

from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec

ROOT_PATH = "/usr/local/share/ca-certificates/aitbc-sandbox-acme-root.crt"


def deploy(spec: HostSpec) -> None:
    if spec.deploy_environment != "sandbox" or not spec.acme_root_file:
        return
    root = files.put(name="Sandbox ACME root CA", src=spec.acme_root_file, dest=ROOT_PATH,
                     mode="0644")
    server.shell(name="update-ca-certificates", commands=["update-ca-certificates"],
                 _if=any_changed(root))
