"""The incus side of the model: what each container and network should look like to incus, and
what differs from what incus reports (`incus query` JSON). Pure data, no connection: the
provision deploy (deploys/provision.py) turns each difference into one command.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import CONTAINER_NETWORK, HOSTS_FILE, ROOT_AUTHORIZED_KEYS, SSH_HOST_KEY
from aitbc_infra.model import HostSpec

# Set on every container provision creates: only these are ever pruned.
MANAGED_KEY = "user.aitbc-infra"
MANAGED_VALUE = "managed"
NIC = "eth0"  # the container's one interface, named alike inside


@dataclass(frozen=True)
class ContainerFile:
    path: str
    mode: str
    content: bytes = b""
    source: Path | None = None  # a file of the control machine, uploaded as it is (a secret key)
    then: str = ""  # run in a running container after the file changed

    @property
    def data(self) -> bytes:
        return self.source.read_bytes() if self.source else self.content

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    image: str
    pool: str
    config: dict[str, str]
    nic: dict[str, str]
    files: tuple[ContainerFile, ...]
    # Run inside after the first start: sshd where the image lacks it (a plain Debian image).
    ensure: str = ""


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    managed: bool
    config: dict[str, str] = field(default_factory=dict)  # managed only: what incus holds


class ProvisionError(ValueError):
    """A file the model names on the control machine is missing (names host and field)."""


def network_plan(host: HostSpec) -> NetworkPlan:
    assert host.incus and host.bridge_network
    net = host.incus.network
    if not net.managed:
        return NetworkPlan(net.name, managed=False)
    return NetworkPlan(net.name, managed=True, config={
        "ipv4.address": str(host.bridge_network),
        "ipv4.nat": "true" if net.nat else "false",
        "ipv6.address": "none",  # the address plan is IPv4 only
    })


def _key_file(spec: HostSpec, value: str, field_name: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ProvisionError(f"host {spec.node}: {field_name}: {value!r} is not a file on this "
                             "machine")
    return path


# One line of a .pub file as ssh-keygen writes it: TYPE BASE64 [COMMENT]; no options.
_PUBLIC_KEY = re.compile(
    r"(?P<type>ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) (?P<key>[A-Za-z0-9+/]+={0,2})( [^\x00-\x1f\x7f]*)?\n?")
_PRIVATE_KEY = re.compile(r"-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+"
                          r"-----END OPENSSH PRIVATE KEY-----\n?")
_KEY_FILE_LIMIT = 64 * 1024  # far above any key; a larger file is no key


def _read_key(spec: HostSpec, value: str, field_name: str) -> bytes:
    path = _key_file(spec, value, field_name)
    try:
        with path.open("rb") as f:
            return f.read(_KEY_FILE_LIMIT + 1)
    except OSError as exc:
        raise ProvisionError(f"host {spec.node}: {field_name}: {value!r} cannot be read: "
                             f"{exc.strerror or exc}") from None


def public_key(spec: HostSpec, value: str, field_name: str, kind: str | None = None) -> bytes:
    """The file's bytes, if it is one OpenSSH public key (of type `kind`, if given); else
    ProvisionError naming host, field and path, never what the file holds (a private key
    named by mistake must not reach a log)."""
    data = _read_key(spec, value, field_name)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    match = _PUBLIC_KEY.fullmatch(text) if len(data) <= _KEY_FILE_LIMIT else None
    if match:
        try:
            base64.b64decode(match["key"], validate=True)
        except binascii.Error:
            match = None
    if match is None:
        why = ("holds a private key: name its public key, the .pub file" if b"PRIVATE KEY" in data
               else "is not one line 'TYPE BASE64 [COMMENT]' of an OpenSSH public key (a .pub file)")
        raise ProvisionError(f"host {spec.node}: {field_name}: {value!r} {why}")
    if kind is not None and match["type"] != kind:
        raise ProvisionError(f"host {spec.node}: {field_name}: {value!r} is a {match['type']} "
                             f"key, not {kind}")
    return data


def _private_key(spec: HostSpec, value: str, field_name: str) -> Path:
    """The path of an OpenSSH private key (read to check it, then uploaded from the file)."""
    data = _read_key(spec, value, field_name)
    if len(data) > _KEY_FILE_LIMIT or not _PRIVATE_KEY.fullmatch(data.decode("ascii", "replace")):
        raise ProvisionError(f"host {spec.node}: {field_name}: {value!r} is not an OpenSSH "
                             "private key (-----BEGIN OPENSSH PRIVATE KEY-----)")
    return Path(value).expanduser()


def stable_mac(address: IPv4Address) -> str:
    """The container's MAC, the same whenever it is created: its host keeps a neighbour entry
    for the address naming the MAC it last saw, so a container recreated with a new MAC gets
    no packet from it until that entry is found stale and probed away (a first connection
    then waits out TCP's SYN backoff: over a minute). Unique on the bridge as its address is:
    a locally administered unicast prefix, then the address's four octets."""
    return "02:a1:" + ":".join(f"{octet:02x}" for octet in address.packed)


def container_plan(fleet: Fleet, spec: HostSpec) -> ContainerPlan:
    """What incus should hold for container `spec` (validated data; key files must exist and
    be keys: ProvisionError otherwise)."""
    container = spec.container
    assert container is not None and spec.bridge_address is not None
    host = fleet.hosts[container.host]
    assert host.incus and host.bridge_network
    net = host.incus.network
    config = {MANAGED_KEY: MANAGED_VALUE, "boot.autostart": str(container.autostart).lower()}
    if container.limits.cpu:
        config["limits.cpu"] = str(container.limits.cpu)
    if container.limits.memory:
        config["limits.memory"] = container.limits.memory
    if net.managed:  # incus's own DHCP reservation agrees with the static address
        nic = {"type": "nic", "network": net.name, "name": NIC, "ipv4.address": str(spec.bridge_address)}
    else:
        nic = {"type": "nic", "nictype": "bridged", "parent": net.name, "name": NIC}
    nic["hwaddr"] = stable_mac(spec.bridge_address)
    # Static in the container too: the same file works on a managed and a plain bridge.
    lines = ["[Match]", f"Name={NIC}", "", "[Network]",
             f"Address={spec.bridge_address}/{host.bridge_prefix}",
             f"Gateway={host.bridge_network.ip}", "LinkLocalAddressing=no", "IPv6AcceptRA=no"]
    if net.managed:  # incus's dnsmasq answers DNS on the gateway
        lines.append(f"DNS={host.bridge_network.ip}")
    files = [
        ContainerFile(CONTAINER_NETWORK, "0644", ("\n".join(lines) + "\n").encode(),
                      then="systemctl enable --now systemd-networkd && networkctl reload"),
        # Read and checked here: what is pushed is the public key that was checked.
        ContainerFile(ROOT_AUTHORIZED_KEYS, "0600",
                      public_key(spec, container.ssh.authorized_key, "container.ssh.authorized_key")),
    ]
    if container.ssh.host_key:
        key = _private_key(spec, container.ssh.host_key, "container.ssh.host_key")
        reload_ssh = "systemctl try-reload-or-restart ssh"
        files += [ContainerFile(SSH_HOST_KEY, "0600", source=key, then=reload_ssh),
                  ContainerFile(f"{SSH_HOST_KEY}.pub", "0644",
                                public_key(spec, f"{container.ssh.host_key}.pub",
                                           "container.ssh.host_key", kind="ssh-ed25519"),
                                then=reload_ssh)]
    if container.hosts:
        entries = ["127.0.0.1 localhost", f"127.0.1.1 {spec.node}", "::1 localhost ip6-localhost",
                   *(f"{address} {name}" for name, address in container.hosts.items())]
        files.append(ContainerFile(HOSTS_FILE, "0644", ("\n".join(entries) + "\n").encode()))
    ensure = ("dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q 'ok installed' "
              "|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
              "openssh-server; }; systemctl enable --now ssh")
    return ContainerPlan(spec.node, container.image, host.incus.storage_pool, config, nic,
                         tuple(files), ensure)


@dataclass(frozen=True)
class Present:
    """What incus reports about one container, with the digests of our files inside it."""

    status: str  # "Running", "Stopped", ...
    config: dict[str, str]
    devices: dict[str, dict[str, str]]
    files: dict[str, str]  # path -> sha256 (running containers only)
    sshd: bool


def config_changes(plan: ContainerPlan, present: Present) -> dict[str, str]:
    """The keys to set (limits, autostart, the marker) whose value differs."""
    return {k: v for k, v in plan.config.items() if present.config.get(k) != v}


def stale_limits(plan: ContainerPlan, present: Present) -> list[str]:
    """Limits the model no longer sets: unset, so the container is as declared."""
    return [k for k in ("limits.cpu", "limits.memory") if k in present.config and k not in plan.config]


def nic_differs(plan: ContainerPlan, present: Present) -> bool:
    return present.devices.get(NIC) != plan.nic


def changed_files(plan: ContainerPlan, present: Present) -> list[ContainerFile]:
    """Files whose content differs; a stopped container's files are not read, so all of them."""
    return [f for f in plan.files if present.files.get(f.path) != f.sha256]


def network_changes(plan: NetworkPlan, present: dict | None) -> dict[str, str]:
    """The config keys of a managed network to set (all of them when it does not exist)."""
    have = (present or {}).get("config", {})
    return {k: v for k, v in plan.config.items() if have.get(k) != v}


def unlisted(instances: dict[str, Present], listed: set[str]) -> list[str]:
    """Containers provision created that the model no longer lists."""
    return sorted(name for name, p in instances.items()
                  if p.config.get(MANAGED_KEY) == MANAGED_VALUE and name not in listed)
