"""A shell command on a host of an inventory, reached as pyinfra reaches it: OpenSSH with the
host's own connection data (ssh_hostname, ssh_user, ssh_port, ssh_key, ssh_config_file,
ssh_known_hosts_file), strict host-key checking always, never a prompt; `@local` on this
machine. For commands that read a host once (`aitbc-infra history`); the deploy itself goes
through pyinfra.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from aitbc_infra.health import Runner  # (node, shell command) -> the finished run
from aitbc_infra.loader import load_pyinfra_inventory

__all__ = ["SSH_FAILED", "Runner", "connections", "ssh_argv"]

SSH_FAILED = 255  # ssh's own status when it cannot connect (and this runner's on a timeout)


def ssh_argv(name: str, data: dict) -> list[str]:
    """The ssh command line (the remote command to come last) for the pyinfra host `name`."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10"]
    if data.get("ssh_config_file"):
        argv += ["-F", str(data["ssh_config_file"])]
    if data.get("ssh_key"):
        argv += ["-i", str(data["ssh_key"]), "-o", "IdentitiesOnly=yes"]
    if data.get("ssh_known_hosts_file"):
        argv += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    if data.get("ssh_port"):
        argv += ["-p", str(data["ssh_port"])]
    if data.get("ssh_user"):
        argv += ["-l", str(data["ssh_user"])]
    return [*argv, "--", str(data.get("ssh_hostname") or name)]


def connections(inventory: Path) -> dict[str, list[str] | None]:
    """{node: the argv before a command run there (None: this machine, `@local`)}."""
    found: dict[str, list[str] | None] = {}
    for host in load_pyinfra_inventory(inventory):
        data = host.data.dict()
        node = data.get("node") or host.name
        found[node] = None if host.name == "@local" else ssh_argv(host.name, data)
    return found


def runner(argvs: dict[str, list[str] | None], timeout: float = 60) -> Runner:
    """A Runner for the hosts of `connections`, by node name."""

    def run(node: str, command: str) -> subprocess.CompletedProcess:
        prefix = argvs[node]
        argv = ["sh", "-c", command] if prefix is None else [*prefix, command]
        try:
            return subprocess.run(argv, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, SSH_FAILED, "", f"no answer within {timeout} s")
        except OSError as exc:  # no ssh on this machine
            return subprocess.CompletedProcess(argv, SSH_FAILED, "", str(exc))

    return run
