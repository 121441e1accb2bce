"""The sandbox's incus mode (`sandbox up --incus`): the two containers are incus containers on
the control machine, attached to the sandbox's own bridges, instead of nspawn machines.

Nested incus does not run in the nspawn hosts (cgroup v1 hybrid), so the control machine plays
the incus daemon of at1 and ns3-root: incusd started here in the background (no init system to
start it), a `dir` storage pool and no incus network (a managed one would add NAT rules and a
dnsmasq to this machine), and an image imported from the sandbox's own debootstrap rootfs (no
image server is reachable). What differs from production is data in the sandbox inventory
(`incus_data`, `container_data`); provision itself runs as in production.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from aitbc_infra.fleet import Fleet
from aitbc_infra.incus import MANAGED_KEY, MANAGED_VALUE
from aitbc_infra.model import HostSpec
from aitbc_infra.sandbox import cgroups, procs
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.plan import Machine
from aitbc_infra.sandbox.ssh import host_key

INCUSD = "/usr/libexec/incus/incusd"
STATE = Path("/var/lib/incus")
POOL = "default"
PRESEED = f"""\
storage_pools:
- name: {POOL}
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: {POOL}
      type: disk
"""


class IncusError(RuntimeError):
    pass


DAEMON = "incusd"  # its pid file's name in the sandbox's pids/


def marker(p: Paths) -> Path:
    """The incus containers' names while the sandbox runs in incus mode (`down`, `status` and
    `up` read it); absent otherwise."""
    return p.state / "incus-containers.json"


def containers(p: Paths) -> tuple[str, ...]:
    return tuple(json.loads(marker(p).read_text())) if marker(p).exists() else ()


def enabled(p: Paths) -> bool:
    return bool(containers(p))


def set_containers(p: Paths, names: tuple[str, ...]) -> None:
    if names:
        marker(p).write_text(json.dumps(list(names)) + "\n")
    else:
        marker(p).unlink(missing_ok=True)


def container_names(production: Fleet) -> tuple[str, ...]:
    """The nodes incus runs in incus mode: those the model gives `container` data."""
    return tuple(node for node, spec in production.hosts.items() if spec.container)


def pidfile(p: Paths) -> Path:
    return p.pids / f"{DAEMON}.pid"


def _incus(*args: str, check: bool = True, input: str | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    res = subprocess.run(["incus", *args], capture_output=True, text=True, input=input,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise IncusError(f"incus {' '.join(args)}: {res.stderr.strip() or res.stdout.strip()}")
    return res


def running(p: Paths) -> bool:
    return procs.read_pid(pidfile(p)) is not None


def ensure_daemon(p: Paths, progress) -> None:
    """incusd running (ours), with the storage pool; never an incus network."""
    if shutil.which("incus") is None or not Path(INCUSD).exists():
        raise IncusError("incus is not installed: `./dev setup` installs it (bookworm-backports)")
    if not running(p):
        progress("[incus] starting incusd (state in /var/lib/incus)")
        procs.spawn([INCUSD, "--group", "root", "--logfile", str(p.logs / "incusd.log")],
                    pidfile(p), p.logs / "incusd.out", cgroups=cgroups.prepare(DAEMON))
        res = subprocess.run([INCUSD, "waitready", "--timeout=60"], capture_output=True, text=True)
        if res.returncode != 0:
            raise IncusError(f"incusd did not start (see {p.logs / 'incusd.log'}): {res.stderr}")
    if _incus("query", f"/1.0/storage-pools/{POOL}", check=False).returncode != 0:
        _incus("admin", "init", "--preseed", input=PRESEED)


def image_alias(image: Path) -> str:
    return f"aitbc-sandbox-{image.name}"  # the image dir is named by its cache key


def ensure_image(p: Paths, image: Path, progress) -> str:
    """The sandbox rootfs as an incus image (metadata.yaml + rootfs/ in one tarball)."""
    alias = image_alias(image)
    if _incus("image", "info", alias, check=False).returncode == 0:
        return alias
    progress(f"[incus] importing {image} as image {alias}")
    with tempfile.TemporaryDirectory(dir=p.state, prefix="incus-image-") as tmp:
        metadata = Path(tmp) / "metadata.yaml"
        metadata.write_text(json.dumps({  # YAML is a superset of JSON
            "architecture": "x86_64", "creation_date": int(time.time()),
            "properties": {"os": "debian", "release": "bookworm",
                           "description": f"aitbc-infra sandbox image {image.name}"}}) + "\n")
        tarball = Path(tmp) / "image.tar"
        # tar, not tarfile: owners, modes and file capabilities (xattrs) kept as in the rootfs.
        subprocess.run(["tar", "-cf", str(tarball), "--numeric-owner", "--xattrs",
                        "-C", tmp, "metadata.yaml", "-C", str(image),
                        "--transform", r"s,^\.,rootfs,", "."], check=True)
        _incus("image", "import", str(tarball), "--alias", alias, timeout=600)
    return alias


def incus_data(bridge: str, production: HostSpec) -> dict:
    """An incus host's `incus` in the sandbox: the sandbox bridge, attached as it is, and the
    control machine's incusd."""
    assert production.incus is not None
    net = {**production.incus.network.model_dump(), "name": bridge, "managed": False}
    return {**production.incus.model_dump(), "network": net, "storage_pool": POOL,
            "daemon": "control"}


def container_data(p: Paths, m: Machine, image: Path, production: HostSpec,
                   hosts_entries: tuple[tuple[str, str], ...]) -> dict:
    """A container's `container` in the sandbox: the production spec (limits, autostart), with
    the sandbox's image, keys known_hosts was written for, and names no DNS serves."""
    assert production.container is not None
    key = host_key(p, m.name)
    return {**production.container.model_dump(), "image": image_alias(image),
            "ssh": {"authorized_key": f"{p.key}.pub", "host_key": str(key)},
            "hosts": {name: address for address, name in hosts_entries}}


def stop(p: Paths, progress) -> None:
    """Delete the containers provision created, stop incusd, and leave no mount behind."""
    if running(p):
        listed = _incus("query", "/1.0/instances?recursion=1", check=False)
        for instance in json.loads(listed.stdout or "[]") if listed.returncode == 0 else []:
            if (instance.get("config") or {}).get(MANAGED_KEY) == MANAGED_VALUE:
                progress(f"[down] incus container {instance['name']}")
                _incus("delete", "--force", instance["name"], check=False)
        _incus("admin", "shutdown", "--timeout", "60", check=False, timeout=90)
    procs.stop(pidfile(p), signal.SIGTERM, timeout=20)
    cgroups.remove(DAEMON)
    for mount in reversed(_mounts()):  # incusd unmounts these itself; a killed one may not
        subprocess.run(["umount", "-l", mount], check=False)
    # The mode ends with the containers; `ensure_up` sets it again for the next `up`.
    marker(p).unlink(missing_ok=True)


def _mounts() -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(f"{STATE}/")]
