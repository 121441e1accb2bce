"""The Debian images the sandbox machines boot (read-only lower layer of each overlay): one per
Debian release the inventory's hosts run (`debian: 12 | 13`).

Built once per release and package list (what the deploy installs on hosts of that release,
from group_data/) and cached under /var/cache/aitbc-infra/images/<key>/, so fresh clones on the
same machine skip the ~70 s debootstrap.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import HOSTS_FILE
from aitbc_infra.model import DEBIAN_RELEASES
from aitbc_infra.sandbox.paths import IMAGE_CACHE
from aitbc_infra.sandbox.plan import SANDBOX_DEBIAN

MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_ARGS = (
    "--variant=minbase",
    "--include=systemd,systemd-sysv,dbus,udev,openssh-server,python3,iproute2",
)
# Bump when the customisation below changes in a way old images lack.
RECIPE_VERSION = 1



def suite(debian: int) -> str:
    if debian not in SANDBOX_DEBIAN:
        raise ValueError(f"the sandbox builds Debian {' and '.join(map(str, SANDBOX_DEBIAN))} "
                         f"images, not {debian}")
    return DEBIAN_RELEASES[debian].codename


def sources(debian: int) -> str:
    return f"""\
Types: deb
URIs: {MIRROR}
Suites: {suite(debian)} {suite(debian)}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {suite(debian)}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

# Keep downloaded .debs and lists: the whole point is an offline `apt-get install`.
APT_KEEP = """\
// aitbc-infra sandbox: the deploy installs from this cache offline; never clean it.
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
"""

SSHD = """\
# aitbc-infra sandbox: root by key only, like production.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""

# resolv.conf on every machine: no DNS server exists in the sandbox.
NO_DNS = f"# aitbc-infra sandbox: no DNS; names come from {HOSTS_FILE}\n"

# Units that cannot work in an unprivileged-ish nspawn machine and would leave the system
# "degraded" (or that only slow boot down). Masked in the image.
MASKED_UNITS = (
    "systemd-networkd-wait-online.service",  # nothing needs it; 2 min timeout if a link is slow
    "apt-daily.timer",  # no internet: would only fail
    "apt-daily-upgrade.timer",
)


def deploy_packages(production: Fleet, debian: int) -> tuple[str, ...]:
    """What the deploy installs with apt on the hosts of one Debian release: their
    `base_packages` and `packages`. The machines have no internet, so these .debs (and their
    dependencies) are downloaded into the image's apt cache and installed offline later; a
    change to the list builds a new image."""
    return tuple(sorted({name for spec in production.hosts.values() if spec.debian == debian
                         for name in (*spec.base_packages, *spec.packages)}))


def releases(production: Fleet) -> tuple[int, ...]:
    """The Debian releases the fleet's hosts run: one image each."""
    return tuple(sorted({spec.debian for spec in production.hosts.values()}))


def image_dirs(production: Fleet, cache: Path = IMAGE_CACHE) -> dict[int, Path]:
    """{Debian release: the image its machines boot}."""
    return {d: image_dir(d, deploy_packages(production, d), cache) for d in releases(production)}


def cache_key(debian: int, packages: tuple[str, ...]) -> str:
    recipe = {
        "suite": suite(debian),
        "debootstrap": DEBOOTSTRAP_ARGS,
        "packages": sorted(packages),
        "recipe": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_dir(debian: int, packages: tuple[str, ...], cache: Path = IMAGE_CACHE) -> Path:
    return cache / cache_key(debian, packages)


class ImageBuildError(RuntimeError):
    pass


def _in_image(root: Path, *cmd: str) -> None:
    # nspawn (not chroot) so /proc, /dev and resolv.conf are right for apt; host network.
    # Output only on failure: apt's listing is long and nspawn warns harmlessly here about
    # "/run/systemd/nspawn/propagate" (no systemd as PID 1 on the control machine).
    res = subprocess.run(
        ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--resolv-conf=copy-host",
         "-D", str(root), *cmd],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    if res.returncode != 0:
        raise ImageBuildError(f"in image: {' '.join(cmd)} failed:\n{res.stdout}{res.stderr}")


def ensure_image(debian: int, packages: tuple[str, ...], progress: Callable[[str], None] = print,
                 cache: Path = IMAGE_CACHE) -> Path:
    """The cached image directory, building it first if this release and package list have
    none yet."""
    final = image_dir(debian, packages, cache)
    if (final / ".aitbc-image").exists():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    # Several checkouts on one machine share the cache: one build at a time.
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / ".aitbc-image").exists():  # another checkout just built it
            return final
        _build(final, debian, packages, progress)
    return final


def _build(final: Path, debian: int, packages: tuple[str, ...],
           progress: Callable[[str], None]) -> None:
    tmp = final.with_name(final.name + ".building")
    if tmp.exists():  # a build interrupted earlier: start over, debootstrap does not resume
        shutil.rmtree(tmp)
    t0 = time.monotonic()
    progress(f"[image] debootstrap {suite(debian)} into {final} (first run, ~70 s)…")
    subprocess.run(
        ["debootstrap", *DEBOOTSTRAP_ARGS, suite(debian), str(tmp), MIRROR],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    _customise(tmp, debian, packages, progress)
    (tmp / ".aitbc-image").write_text(json.dumps({"key": cache_key(debian, packages),
                                                  "debian": debian,
                                                  "packages": packages}) + "\n")
    tmp.rename(final)
    progress(f"[image] ready in {time.monotonic() - t0:.0f} s")


def _customise(root: Path, debian: int, packages: tuple[str, ...],
               progress: Callable[[str], None]) -> None:
    etc = root / "etc"
    (etc / "apt/sources.list").unlink(missing_ok=True)
    (etc / "apt/sources.list.d/debian.sources").write_text(sources(debian))
    # Docker-style images ship an auto-clean hook that deletes downloaded .debs: drop it.
    (etc / "apt/apt.conf.d/docker-clean").unlink(missing_ok=True)
    (etc / "apt/apt.conf.d/10aitbc-keep-debs").write_text(APT_KEEP)
    progress("[image] downloading .debs for offline install: " + " ".join(packages))
    _in_image(root, "apt-get", "-q", "update")
    _in_image(root, "apt-get", "-q", "-y", "--download-only", "install", *packages)

    # Per-machine host keys and machine-id are written into each overlay before boot.
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (etc / "hostname").unlink(missing_ok=True)
    (etc / "ssh/sshd_config.d/10-aitbc-sandbox.conf").write_text(SSHD)

    _in_image(root, "systemctl", "enable", "systemd-networkd.service")
    _in_image(root, "systemctl", "mask", *MASKED_UNITS)
    # Last, after every `--resolv-conf=copy-host` run above left the control side's resolver
    # here: the machines have no DNS (names come from /etc/hosts) and must not send queries
    # outside 10.231/16.
    (etc / "resolv.conf").write_text(NO_DNS)
