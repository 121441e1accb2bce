"""A shell command on a host of an inventory, reached as pyinfra reaches it: OpenSSH with the
host's own connection data (ssh_hostname, ssh_user, ssh_port, ssh_key, ssh_config_file,
ssh_known_hosts_file), strict host-key checking always, never a prompt; `@local` on this
machine. For commands that read a host once (`aitbc-infra history`, `status`) and for the
deploy's confirmation of new firewall rules over a connection of its own (deploys/firewall.py);
the deploy itself goes through pyinfra.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from aitbc_infra.health import Runner  # (node, shell command) -> the finished run
from aitbc_infra.loader import load_pyinfra_inventory

__all__ = ["SSH_FAILED", "Runner", "connections", "host_argv", "ssh_argv"]

SSH_FAILED = 255  # ssh's own status when it cannot connect (and this runner's on a timeout)


def ssh_argv(name: str, data: dict, connect_timeout: int = 10, new: bool = False) -> list[str]:
    """The ssh command line (the remote command to come last) for the pyinfra host `name`.
    With `new`, never through a connection already open (an operator's ControlMaster): a
    connection of its own, made now."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"ConnectTimeout={connect_timeout}"]
    if new:
        argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
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


def host_argv(name: str, data: dict, **ssh) -> list[str] | None:
    """The argv before a command run on the pyinfra host `name` (None: this machine, `@local`);
    `ssh` as `ssh_argv` takes it."""
    return None if name == "@local" else ssh_argv(name, data, **ssh)


def connections(inventory: Path) -> dict[str, list[str] | None]:
    """{node: the argv before a command run there (None: this machine, `@local`)}."""
    found: dict[str, list[str] | None] = {}
    for host in load_pyinfra_inventory(inventory):
        data = host.data.dict()
        found[data.get("node") or host.name] = host_argv(host.name, data)
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
