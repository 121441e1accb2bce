"""Bring the whole sandbox up, down, or report on it. The public API lives here."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.errors import UserError
from aitbc_infra.fleet import Fleet
from aitbc_infra.inventory_option import load_or_explain
from aitbc_infra.sandbox import image, incus, machines, network, outside, owner, pebble, procs, ssh
from aitbc_infra.sandbox import inventory as inventory_file
from aitbc_infra.sandbox.paths import Paths, paths
from aitbc_infra.sandbox.plan import Machine, Plan, PlanError, plan_for
from aitbc_infra.sandbox.secrets_file import write_sandbox_secrets

Progress = Callable[[str], None]


class SandboxError(RuntimeError):
    """The sandbox could not be brought to the requested state (message says what to look at)."""


class UnknownMachines(SandboxError):
    """Machines named that the running sandbox does not have (a caller's mistake, not a fault)."""


def require_root() -> None:
    if os.geteuid() != 0:
        # Bridges, overlay mounts and nspawn all need it; fail before touching anything.
        raise UserError("sandbox commands need root")


@contextmanager
def _locked(p: Paths) -> Iterator[None]:
    """One up/down at a time per checkout (tests and a shell may race)."""
    p.state.mkdir(parents=True, exist_ok=True)
    with open(p.state / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _write_if_changed(path: Path, text: str) -> None:
    # A running sandbox is left byte-for-byte alone (mtimes included) by a second `up`.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _parallel(fn: Callable, items) -> list:
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(fn, items))


def nspawn_machines(p: Paths, plan: Plan) -> tuple[Machine, ...]:
    """The machines nspawn runs: all of the plan's, but the incus containers in incus mode."""
    return tuple(m for m in plan.machines if m.name not in incus.containers(p))


def is_up(p: Paths | None = None, plan: Plan | None = None) -> bool:
    """Every process ours and alive, every link in place, and sshd answering everywhere."""
    p = p or paths()
    recorded = ssh.current_plan(p)
    plan = plan or recorded
    if not plan.machines or recorded != plan:
        return False
    if incus.enabled(p) and not incus.running(p):
        return False
    if not all(network.link_exists(br.name) for br in plan.bridges) or not network.route_in_place():
        return False
    if not pebble.running(p):
        return False
    for m in nspawn_machines(p, plan):
        if machines.running_pid(p, m) is None:
            return False
        if not all(network.is_attached(link.host_ifname, link.bridge) for link in m.links[1:]):
            return False
    if not p.inventory.exists():
        return False
    return all(_parallel(lambda m: ssh.system_state(m.name) is not None, nspawn_machines(p, plan)))


def load_plan(inventory: Path) -> tuple[Fleet, Plan]:
    """The production inventory the sandbox mirrors and the sandbox laid out for it."""
    production = load_or_explain(inventory)
    try:
        return production, plan_for(production)
    except PlanError as exc:
        raise UserError(f"{inventory}: {exc}") from None


def ensure_up(progress: Progress = print, inventory: Path | None = None,
              with_incus: bool = False) -> Path:
    """Bring the fleet standing in for `inventory` (default: the project's) up, or leave a
    running one alone; returns the sandbox inventory's path. A sandbox brought up for another
    inventory is changed into this one: machines that differ stop, missing ones boot.

    `with_incus`: the containers with `container` data are incus containers on this machine
    (sandbox/incus.py), which `aitbc-infra provision` creates afterwards; a sandbox running
    in the other mode is brought down first."""
    require_root()
    p = paths()
    source = Path(inventory or PROJECT_ROOT / "inventory.py").resolve()
    production, plan = load_plan(source)
    if with_incus and image.releases(production) != (12,):
        raise UserError(f"{source}: --incus stands in for Debian 12 hosts only; this inventory's "
                        f"hosts run Debian {', '.join(map(str, image.releases(production)))}")
    with _locked(p):
        owner.claim(p)  # before anything machine-wide changes
        # The inventory names this file: deploys need it before they connect.
        write_sandbox_secrets(p.secrets, production)
        _link_group_data(p, source)
        wanted = incus.container_names(production) if with_incus else ()
        if incus.containers(p) != wanted and (incus.enabled(p) or p.plan.exists()):
            progress(f"[up] the sandbox's containers become {'incus' if wanted else 'nspawn'} "
                     "containers: down first")
            _down(p, progress)
        incus.set_containers(p, wanted)
        images = image.image_dirs(production)
        if is_up(p, plan) and not any(_on_other_image(p, m, images) for m in plan.machines):
            # Rewritten (when it changed) so a running fleet's inventory follows the model.
            _write_if_changed(p.inventory, _render(p, production, plan, images))
            progress("[up] sandbox already running")
            return p.inventory
        _up(p, production, plan, progress)
    return p.inventory


def _render(p: Paths, production: Fleet, plan: Plan, images: dict[int, Path]) -> str:
    return inventory_file.render(p, production, plan,
                                 _incus_image(images) if incus.enabled(p) else None)


def _incus_image(images: dict[int, Path]) -> Path:
    """The image the incus containers are created from: incus mode stands in for the document's
    Debian 12 hosts only (`ensure_up` refuses another release first)."""
    return images[12]


def _on_other_image(p: Paths, m: Machine, images: dict[int, Path]) -> bool:
    """The machine's disk was made on another image than its release's (the package list or
    its host's Debian release changed)."""
    return machines.image_of(p, m) not in (None, images.get(m.debian))


def _link_group_data(p: Paths, source: Path) -> None:
    """pyinfra reads group_data/ beside the inventory too: the sandbox inventory sees the same
    folders as the one it mirrors (an example's own groups, say)."""
    link = p.state / "group_data"
    wanted = source.parent / "group_data"
    if link.is_symlink() and link.resolve() == wanted.resolve() and wanted.is_dir():
        return
    if link.is_symlink():
        link.unlink()
    if source.parent != PROJECT_ROOT and wanted.is_dir():
        link.symlink_to(wanted)


def _retire(p: Paths, old: Plan, new: Plan, images: dict[int, Path], progress: Progress) -> None:
    """Stop the machines and remove the bridges of `old` that `new` does not have as they are,
    and the machines booted from another image (the package list changed)."""
    leaving = [m for m in old.machines if m not in new.machines or _on_other_image(p, m, images)]
    for m in leaving:
        progress(f"[down] {m.name} (not in the sandbox for this inventory and image as it is)")
    _parallel(lambda m: _stop(p, m, progress), leaving)
    _remove_extra_veths(leaving)
    network.bridges_down(tuple(b for b in old.bridges if b not in new.bridges), keep_route=True)


def _up(p: Paths, production: Fleet, plan: Plan, progress: Progress) -> None:
    t0 = time.monotonic()
    images = {debian: image.ensure_image(debian, image.deploy_packages(production, debian), progress)
              for debian in image.releases(production)}
    _retire(p, ssh.current_plan(p), plan, images, progress)
    # Written before the first boot: it is what `down` removes, even after a failed `up`.
    p.plan.write_text(plan.to_json())
    ssh.ensure_keys(p, plan)
    ssh.write_known_hosts(p, plan)
    ssh.write_ssh_config(p, plan)
    progress("[net] bridges " + ", ".join(f"{b.name} ({b.subnet})" for b in plan.bridges))
    network.bridges_up(plan.bridges)
    progress(f"[acme] pebble on {pebble.ACME_URL} (HTTP-01 via challtestsrv DNS)")
    pebble.start(p, plan.hosts_entries)
    if incus.enabled(p):
        incus.ensure_daemon(p, progress)
        incus.ensure_image(p, _incus_image(images), progress)
    for m in nspawn_machines(p, plan):
        if machines.running_pid(p, m) is not None:
            machines.configure(p, m, plan)  # /etc/hosts follows the sites of this inventory
            machines.attach_extra(m)  # in case only the bridge was lost
            continue
        progress(f"[boot] {m.name} ({', '.join(link.address for link in m.links)})")
        machines.mount_overlay(p, m, images[m.debian])
        machines.configure(p, m, plan)
        machines.start(p, m)
    states = _parallel(lambda m: (m.name, ssh.wait_running(m.name)), nspawn_machines(p, plan))
    bad = {name: state for name, state in states if state != "running"}
    if bad:
        detail = []
        for name, state in bad.items():
            failed = ssh.ssh_run(name, "systemctl --failed --no-legend", timeout=15).stdout
            detail.append(f"{name}: {state} {failed.strip()}")
        raise SandboxError("machines did not reach 'running' (logs in "
                           f"{p.logs}):\n  " + "\n  ".join(detail))
    _write_if_changed(p.inventory, _render(p, production, plan, images))
    progress(f"[up] sandbox of {len(plan.machines)} machines running in "
             f"{time.monotonic() - t0:.1f} s; inventory {p.inventory}")


def _stop(p: Paths, m: Machine, progress: Progress) -> None:
    if machines.running_pid(p, m) is not None:
        progress(f"[down] {m.name}")
    if machines.stop(p, m):
        progress(f"[down] {m.name} did not power off within {machines.STOP_TIMEOUT:.0f} s:"
                 f" killed (see {p.logs / (m.name + '.log')})")
    machines.unmount_overlay(p, m, purge=True)


def _remove_extra_veths(stopped: list[Machine]) -> None:
    # Normally gone with their machines; a SIGKILLed nspawn can leave its extra veth.
    for m in stopped:
        for link in m.links[1:]:
            if link.host_ifname and network.link_exists(link.host_ifname):
                subprocess.run(["ip", "link", "del", link.host_ifname], check=False)


def down(progress: Progress = print) -> None:
    """Stop everything `up` started; leaves no process, mount or link behind."""
    require_root()
    p = paths()
    with _locked(p):
        _down(p, progress)
        owner.release(p)


def _down(p: Paths, progress: Progress) -> None:
    """The body of `down`; also what `ensure_up` runs when the containers change kind."""
    foreign = owner.other_running(p)
    if foreign:
        _down_beside(p, foreign[0], progress)
        return
    plan = ssh.current_plan(p)
    incus.stop(p, progress)  # its containers first: they sit on the bridges
    # A machine whose pid file outlived its plan (an `up` that died early) goes too.
    strays = [Machine(pid.stem, ()) for pid in sorted(p.pids.glob("*.pid"))
              if pid.stem not in (*plan.names, *pebble.DAEMONS, incus.DAEMON)]
    with ThreadPoolExecutor(max_workers=1) as acme:  # stops alongside the machines
        stopping = acme.submit(pebble.stop, p)
        _parallel(lambda m: _stop(p, m, progress), (*plan.machines, *strays))
        stopping.result()
    progress("[down] pebble stopped, removing bridges")
    outside.remove()  # a look from outside that did not finish
    _remove_extra_veths(list(plan.machines))
    network.bridges_down(plan.bridges)
    _forget(p)


def _down_beside(p: Paths, other: Path, progress: Progress) -> None:
    """`down` while another checkout's sandbox runs on this machine: the bridges, veths,
    cgroups and names are that sandbox's now, and stay. This checkout's own processes (none,
    unless both ran before the machine was claimed), overlays and files go."""
    progress(f"[down] the sandbox running on this machine is {other}'s: its bridges and "
             "machines stay; this checkout's own processes and files go")
    for pidfile in sorted(p.pids.glob("*.pid")):
        procs.stop(pidfile, timeout=machines.STOP_TIMEOUT)
    for m in ssh.current_plan(p).machines:
        machines.unmount_overlay(p, m, purge=True)
    incus.marker(p).unlink(missing_ok=True)
    _forget(p)


def _forget(p: Paths) -> None:
    """No fleet, no inventory pointing at one."""
    for path in (p.inventory, p.plan, p.state / "group_data"):
        path.unlink(missing_ok=True)


def reboot(names: list[str], progress: Progress = print) -> dict[str, str]:
    """Power-cycle the named machines with their disks (overlays) kept: an orderly poweroff
    by each machine's own systemd, then a boot. Returns {machine: systemd state} once each
    finished booting; raises SandboxError naming every machine that is not `running`."""
    require_root()
    p = paths()
    plan = ssh.current_plan(p)
    unknown = sorted(set(names) - set(plan.names))
    if unknown:
        raise UnknownMachines(f"unknown machine {', '.join(unknown)}; one of: "
                              f"{', '.join(plan.names) or '(none: the sandbox is down)'}")
    chosen = [m for m in plan.machines if m.name in names]  # plan order: hosts before containers
    if set(names) & set(incus.containers(p)):
        raise SandboxError("the containers are incus containers (sandbox up --incus): "
                           "`incus restart NAME` power-cycles one")
    with _locked(p):
        if not is_up(p):
            raise SandboxError("the sandbox is not up (see `aitbc-infra sandbox status`); "
                               "`aitbc-infra sandbox up` boots it")
        t0 = time.monotonic()

        def power_off(m) -> None:
            progress(f"[reboot] {m.name}: poweroff")
            if machines.stop(p, m):
                progress(f"[reboot] {m.name} did not power off within "
                         f"{machines.STOP_TIMEOUT:.0f} s: killed (see {p.logs / (m.name + '.log')})")
            else:
                progress(f"[reboot] {m.name}: off after {time.monotonic() - t0:.1f} s")

        _parallel(power_off, chosen)
        for m in chosen:
            progress(f"[reboot] {m.name}: boot")
            machines.start(p, m)  # same overlay: the machine's disk as it was at poweroff
        states: dict[str, str] = {}

        def wait(m) -> tuple[str, str]:
            state = ssh.wait_running(m.name)
            progress(f"[reboot] {m.name}: {state} after {time.monotonic() - t0:.1f} s")
            return m.name, state

        # A container is reached through its host (ProxyJump): wait for the hosts first.
        hosts = [m for m in chosen if not m.proxy_jump]
        for group in (hosts, [m for m in chosen if m.proxy_jump]):
            states.update(_parallel(wait, group))
    bad = {name: state for name, state in states.items() if state != "running"}
    if bad:
        detail = []
        for name, state in bad.items():
            failed = "" if state == "unreachable" else ssh.ssh_run(
                name, "systemctl list-units --failed --plain --no-legend", timeout=15).stdout
            units = ", ".join(line.split()[0] for line in failed.splitlines() if line.strip())
            detail.append(f"{name}: {state}" + (f" (failed: {units})" if units else ""))
        raise SandboxError("after the reboot, not running (logs in "
                           f"{p.logs}):\n  " + "\n  ".join(detail))
    progress(f"[reboot] {', '.join(states)} running after {time.monotonic() - t0:.1f} s")
    return states


@dataclass(frozen=True)
class HostStatus:
    host: str
    address: str
    state: str  # systemctl is-system-running, or "down" / "unreachable"
    ssh: bool


def status() -> list[HostStatus]:
    require_root()
    p = paths()

    def one(m) -> HostStatus:
        if m.name not in incus.containers(p) and machines.running_pid(p, m) is None:
            return HostStatus(m.name, m.ssh_address, "down", False)
        state = ssh.system_state(m.name)
        return HostStatus(m.name, m.ssh_address, state or "unreachable", state is not None)

    return _parallel(one, ssh.current_plan(p).machines)


def pids() -> dict[str, int | None]:
    """PIDs of every process the sandbox started (for tests and diagnostics)."""
    p = paths()
    out = {m.name: machines.running_pid(p, m) for m in ssh.current_plan(p).machines}
    for name in pebble.DAEMONS:
        out[name] = procs.read_pid(p.pids / f"{name}.pid")
    return out
