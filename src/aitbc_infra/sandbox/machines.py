"""The nspawn machines: an overlay over the cached image each, configured before boot.

Overlayfs (lower = image, upper/work in the state dir) keeps each machine at a few MB until the
deploy writes to it; the image itself is never modified.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
from pathlib import Path

from aitbc_infra.host_names import SSH_HOST_KEY
from aitbc_infra.sandbox import cgroups, network, procs
from aitbc_infra.sandbox.image import NO_DNS
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.plan import Machine, Plan
from aitbc_infra.sandbox.ssh import host_key

SSHD_HOSTKEY = ("# aitbc-infra sandbox: the one host key known_hosts was written for.\n"
                f"HostKey {SSH_HOST_KEY}\n")


def root(p: Paths, m: Machine) -> Path:
    return p.machine_dir(m.name) / "root"


def pidfile(p: Paths, m: Machine) -> Path:
    return p.pids / f"{m.name}.pid"


def is_mounted(path: Path) -> bool:
    return path.is_mount()


def image_of(p: Paths, m: Machine) -> Path | None:
    """The image the machine's overlay was made on (None: it has none)."""
    stamp = p.machine_dir(m.name) / "image"
    return Path(stamp.read_text()) if stamp.exists() else None


def mount_overlay(p: Paths, m: Machine, image: Path) -> None:
    base = p.machine_dir(m.name)
    upper, work, merged = base / "upper", base / "work", root(p, m)
    stamp = base / "image"
    # An upper dir only makes sense over the image it was made on: start fresh otherwise.
    if stamp.exists() and stamp.read_text() != str(image):
        shutil.rmtree(upper, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True)
    stamp.write_text(str(image))
    if is_mounted(merged) or (merged / ".aitbc-image").exists():
        return
    res = subprocess.run(
        ["mount", "-t", "overlay", f"aitbc-sandbox-{m.name}", "-o",
         f"lowerdir={image},upperdir={upper},workdir={work}", str(merged)],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        # Overlayfs works here (ext4), but not everywhere: e.g. a checkout that itself lives
        # on an overlay (docker) cannot host upper dirs. A copy costs ~600 MB per machine and
        # is shared-extent (cheap) on btrfs/xfs, so it is the fallback, not the default.
        subprocess.run(["cp", "-a", "--reflink=auto", f"{image}/.", str(merged)], check=True)


def unmount_overlay(p: Paths, m: Machine, purge: bool) -> None:
    merged = root(p, m)
    if is_mounted(merged):
        subprocess.run(["umount", str(merged)], check=True)
    if purge:  # machines are disposable; the image is the cache
        shutil.rmtree(p.machine_dir(m.name), ignore_errors=True)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Written only when it differs: `configure` runs on running machines too, and a rewritten
    sshd drop-in would look newer than the configuration sshd last read (verify compares them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_file() or path.read_text() != text:
        path.write_text(text)
    path.chmod(mode)


def _network_files(m: Machine, plan: Plan) -> dict[str, str]:
    prefix = {br.name: br.prefix for br in plan.bridges}
    files = {}
    for link in m.links:
        lines = ["[Match]", f"Name={link.ifname}", "", "[Network]",
                 f"Address={link.address}/{prefix[link.bridge]}",
                 # No IPv6 autoconf / LLMNR noise: the plan is IPv4 only.
                 "LinkLocalAddressing=no", "IPv6AcceptRA=no", "LLMNR=no"]
        if m.gateway and link.ifname == "host0":
            lines.append(f"Gateway={m.gateway}")
        if link is not m.links[0]:
            # A host NATs its containers' traffic, as incus does for its bridge in production.
            lines.append("IPMasquerade=ipv4")
        # 10- sorts before /lib/systemd/network/80-container-host0.network, which would
        # otherwise win for host0 and ask for DHCP.
        files[f"10-sandbox-{link.ifname}.network"] = "\n".join(lines) + "\n"
    return files


def configure(p: Paths, m: Machine, plan: Plan) -> None:
    """Per-machine files written into the overlay before boot (idempotent)."""
    r = root(p, m)
    _write(r / "etc/hostname", m.name + "\n")
    # Stable per name: a machine keeps its identity (journal, DHCP-less networkd) across runs.
    _write(r / "etc/machine-id",
           hashlib.sha256(f"aitbc-sandbox:{m.name}".encode()).hexdigest()[:32] + "\n", 0o444)
    hosts = ["127.0.0.1 localhost", f"127.0.1.1 {m.name}", "::1 localhost ip6-localhost",
             *(f"{addr} {name}" for addr, name in plan.hosts_entries)]
    _write(r / "etc/hosts", "\n".join(hosts) + "\n")
    # No DNS server exists in the sandbox; never leak queries to the control side's resolver.
    resolv = r / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    _write(resolv, NO_DNS)
    netdir = r / "etc/systemd/network"
    for old in netdir.glob("10-sandbox-*.network"):
        old.unlink()
    for name, text in _network_files(m, plan).items():
        _write(netdir / name, text)
    key = host_key(p, m.name)
    _write(r / "etc/ssh/ssh_host_ed25519_key", key.read_text(), 0o600)
    _write(r / "etc/ssh/ssh_host_ed25519_key.pub", Path(f"{key}.pub").read_text())
    _write(r / "etc/ssh/sshd_config.d/20-aitbc-hostkey.conf", SSHD_HOSTKEY)
    (r / "root/.ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(r / "root/.ssh/authorized_keys", Path(f"{p.key}.pub").read_text(), 0o600)


def nspawn_argv(p: Paths, m: Machine) -> list[str]:
    first, *extra = m.links
    argv = [
        "systemd-nspawn",
        "--register=no", "--keep-unit",  # no system bus on this machine (PID 1 is not systemd)
        "--boot", "-D", str(root(p, m)), "-M", m.name,
        "--network-bridge=" + first.bridge,
        "--resolv-conf=off", "--timezone=off",  # leave our /etc files as configured
        "--link-journal=no",  # keep the journal inside the machine, not in the host's /var/log
        "--console=read-only",  # boot log to our log file, no terminal needed
    ]
    argv += [f"--network-veth-extra={link.host_ifname}:{link.ifname}" for link in extra]
    return argv


def running_pid(p: Paths, m: Machine) -> int | None:
    return procs.read_pid(pidfile(p, m))


def start(p: Paths, m: Machine) -> int:
    pid = procs.spawn(nspawn_argv(p, m), pidfile(p, m), p.logs / f"{m.name}.log",
                      cgroups=cgroups.prepare(m.name))
    attach_extra(m)
    return pid


def attach_extra(m: Machine) -> None:
    # nspawn can put only its main veth into a bridge; the others we enslave ourselves.
    for link in m.links[1:]:
        assert link.host_ifname
        network.attach(link.host_ifname, link.bridge)


STOP_TIMEOUT = 20.0


def stop(p: Paths, m: Machine) -> bool:
    """True if the machine had to be killed."""
    # SIGTERM makes nspawn ask the machine's systemd for an orderly poweroff (SIGRTMIN+3);
    # SIGKILL of nspawn and its child (the machine's PID 1) after 20 s if it hangs.
    killed = procs.stop(pidfile(p, m), signal.SIGTERM, timeout=STOP_TIMEOUT)
    cgroups.remove(m.name)
    return killed
