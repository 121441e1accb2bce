"""Entry point: `pyinfra INVENTORY deploys/provision.py --limit HOST` creates or corrects the
incus side of each incus host from the model: its network, then its containers (config,
limits, NIC with the static address, the files sshd and networkd need), idempotently.

Which containers a pyinfra host provisions is data: those of its own node (production: at1 and
ns3-root run incus), or of the nodes in its `provision_nodes`, taken from the inventory
`provision_site` (the sandbox, where the control machine runs incusd for both sites).
A container provision created that the model no longer lists is kept, with a warning, unless
the run is given `--data _provision_prune=true`.
"""

from __future__ import annotations

from io import BytesIO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, operation

from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import PROVISION_STAGE
from aitbc_infra.incus import (
    MANAGED_KEY,
    NIC,
    ContainerPlan,
    NetworkPlan,
    Present,
    changed_files,
    config_changes,
    container_plan,
    network_changes,
    network_plan,
    nic_differs,
    stale_limits,
    unlisted,
)
from aitbc_infra.loader import load_fleet
from deploys.context import fleet as run_fleet
from deploys.context import once_per_run
from deploys.incus_state import IncusState
from deploys.shell import quoted


@once_per_run
def site_fleet(path: str) -> Fleet:
    return load_fleet(path)


def _pairs(config: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in config.items()]


@operation()
def network(plan: NetworkPlan, present: dict | None):
    if not plan.managed:  # the sandbox's own bridge: incus only attaches to it
        if present is None:
            yield f"echo {quoted(f'bridge {plan.name} does not exist on this host')} >&2; exit 1"
        else:
            host.noop(f"bridge {plan.name} exists")
        return
    if present is not None and not present.get("managed"):
        yield (f"echo {quoted(f'{plan.name} exists but is not an incus managed network')} >&2;"
               " exit 1")
        return
    changes = network_changes(plan, present)
    if not changes:
        host.noop(f"network {plan.name} as declared")
    elif present is None:
        yield quoted("incus", "network", "create", plan.name, *_pairs(changes))
    else:
        yield quoted("incus", "network", "set", plan.name, *_pairs(changes))


def _push(plan: ContainerPlan, files, running: bool):
    """Each file staged on the incus host with its final mode, pushed, then removed: its bytes
    never appear in a command line or a diff (a host key is a secret)."""
    yield quoted("install", "-d", "-m", "0700", "--", PROVISION_STAGE)
    for i, f in enumerate(files):
        staged = f"{PROVISION_STAGE}/{plan.name}.{i}"
        yield quoted("install", "-m", "0600", "--", "/dev/null", staged)
        yield FileUploadCommand(BytesIO(f.data), staged)
        push = quoted("incus", "file", "push", "--create-dirs", "--uid", "0", "--gid", "0",
                      "--mode", f.mode, staged, f"{plan.name}{f.path}")
        yield f"{push}; status=$?; rm -f -- {quoted(staged)}; exit $status"
        if running and f.then:
            yield quoted("incus", "exec", plan.name, "--", "sh", "-c", f"{WAIT_FOR_SYSTEMD}; {f.then}")


def _nic(plan: ContainerPlan) -> str:
    device = {k: v for k, v in plan.nic.items() if k != "type"}
    return quoted("incus", "config", "device", "add", plan.name, NIC, plan.nic["type"],
                  *_pairs(device))


# Right after `incus start`, systemd in the container may not listen yet: systemctl then fails
# at once ("Failed to connect to bus") instead of waiting. Wait for its socket first (60 s at
# most), then for the boot to finish (bounded; a degraded boot is fine).
WAIT_FOR_SYSTEMD = ("i=0; while [ ! -S /run/systemd/private ] && [ $i -lt 600 ]; do sleep 0.1; "
                    "i=$((i + 1)); done; timeout 60 systemctl is-system-running --wait >/dev/null")


def _ensure_sshd(plan: ContainerPlan) -> str:
    return quoted("incus", "exec", plan.name, "--", "sh", "-c",
                  f"{WAIT_FOR_SYSTEMD}; {plan.ensure}")


@operation()
def container(plan: ContainerPlan, present: Present | None):
    if present is None:
        yield quoted("incus", "init", plan.image, plan.name, "--storage", plan.pool,
                     *(w for kv in _pairs(plan.config) for w in ("-c", kv)))
        yield _nic(plan)
        yield from _push(plan, plan.files, running=False)
        yield quoted("incus", "start", plan.name)
        yield _ensure_sshd(plan)
        return
    changed = False
    if config_changes(plan, present):
        changed = True
        yield quoted("incus", "config", "set", plan.name, *_pairs(config_changes(plan, present)))
    if stale_limits(plan, present):
        changed = True
        yield quoted("incus", "config", "unset", plan.name, *stale_limits(plan, present))
    if nic_differs(plan, present):
        changed = True
        if NIC in present.devices:
            yield quoted("incus", "config", "device", "remove", plan.name, NIC)
        yield _nic(plan)
    running = present.status == "Running"
    files = changed_files(plan, present)
    if files:
        changed = True
        yield from _push(plan, files, running)
    if not running:
        changed = True
        yield quoted("incus", "start", plan.name)
    if not running or not present.sshd:
        changed = True
        yield _ensure_sshd(plan)
    if not changed:
        host.noop(f"container {plan.name} as declared")


@operation()
def prune(container_name: str):
    yield quoted("incus", "delete", "--force", container_name)


def provision() -> None:
    site = host.data.get("provision_site")
    fleet = site_fleet(str(site)) if site else run_fleet()
    nodes = list(host.data.get("provision_nodes") or [host.data.get("node") or host.name])
    incus_hosts = [fleet.hosts[n] for n in nodes if fleet.hosts[n].incus]
    if not incus_hosts:
        logger.warning(f"{host.name}: no incus data for {', '.join(nodes)}: nothing to provision")
        return
    pools = {h.incus.storage_pool for h in incus_hosts}
    if len(pools) != 1:
        raise ValueError(f"{host.name}: one incus daemon, one storage pool: {sorted(pools)}")
    plans = [container_plan(fleet, c) for h in incus_hosts for c in fleet.containers_of(h.node)]
    networks = {p.name: p for p in (network_plan(h) for h in incus_hosts)}
    current = host.get_fact(IncusState, pool=pools.pop(), networks=sorted(networks),
                            containers=[p.name for p in plans],
                            files=sorted({f.path for p in plans for f in p.files}))
    if current.pool is None:
        raise ValueError(f"{host.name}: incus has no storage pool {plans[0].pool if plans else ''}"
                         " (incus admin init)")
    for name, plan in networks.items():
        network(name=f"incus network {name}" + ("" if plan.managed else " (existing bridge)"),
                plan=plan, present=current.networks.get(name))
    for plan in plans:
        where = plan.nic.get("network") or plan.nic.get("parent")
        container(name=f"incus container {plan.name} ({plan.image} on {where})",
                  plan=plan, present=current.instances.get(plan.name))
    listed = {p.name for p in plans}
    for name in unlisted(current.instances, listed):
        if str(host.data.get("_provision_prune", "")).lower() in ("1", "true", "yes"):
            prune(name=f"Delete container {name}: not in the model", container_name=name)
        else:
            logger.warning(f"{host.name}: container {name} ({MANAGED_KEY}) is not in the model: "
                           "kept; run with --prune to delete it")


provision()
