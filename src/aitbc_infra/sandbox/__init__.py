"""The sandbox fleet: four systemd-nspawn machines mirroring the two production sites.

Public API (other commands and tests use these, not the modules behind them):
    paths() -> Paths                      where keys, ssh_config, inventory, logs live
    ensure_up(progress=print) -> Path     boot (or keep) the fleet, return the inventory path
    down(progress=print) -> None          stop it all; nothing left behind
    reboot(names, progress=print)         power-cycle machines, disks kept; wait until running
    status() -> list[HostStatus]          per host: address, systemd state, ssh reachable
    ssh_run(host, cmd) -> CompletedProcess
    outside_view() -> netns name           (a with-block) a machine on the wan that is none of ours
"""

from aitbc_infra.sandbox.fleet import (
    HostStatus,
    SandboxError,
    down,
    ensure_up,
    is_up,
    reboot,
    status,
)
from aitbc_infra.sandbox.outside import outside_view
from aitbc_infra.sandbox.paths import IMAGE_CACHE, STATE_DIR, Paths, paths
from aitbc_infra.sandbox.ssh import ssh_run

__all__ = [
    "IMAGE_CACHE", "STATE_DIR", "HostStatus", "Paths", "SandboxError",
    "down", "ensure_up", "is_up", "outside_view", "paths", "reboot", "ssh_run", "status",
]
