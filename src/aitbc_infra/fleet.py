"""The whole inventory as one validated model, with the checks that look across hosts.

Every problem is collected, then all are raised together, each naming the host, the field
path and the offending value, so one run shows everything to fix.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path

from pydantic import ValidationError

from aitbc_infra import lists, placeholders, shared_state
from aitbc_infra.endpoints import Endpoint, Unreachable, reach
from aitbc_infra.generated_env import GENERATED_ENV, SYSTEMD_ENV, env_name, reserved_env
from aitbc_infra.model import (
    ANY,
    NODE_NAME,
    App,
    Forward,
    HostSpec,
    KeyPair,
    Route,
    Service,
    Site,
    SiteTarget,
    UnitTarget,
)

# Points every host's app_sources at one AITBC tree (e.g. a checkout of the real repository).
SOURCE_ENV = "AITBC_SRC"
# pyinfra's own connection settings travel in host data too; they are not model facts.
CONNECTION_PREFIXES = ("ssh_", "local_", "docker_", "winrm_", "chroot_", "_")
CONNECTION_KEYS = {"sudo", "sudo_user", "use_sudo_password", "su_user", "doas", "doas_user"}


@dataclass(frozen=True)
class Problem:
    where: str  # "host aitbc" or "inventory"
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class ModelError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the inventory data:\n{lines}")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(host)"


def _model_data(data: dict) -> dict:
    return {
        key: value
        for key, value in data.items()
        if not key.startswith(CONNECTION_PREFIXES) and key not in CONNECTION_KEYS
    }


def pyinfra_source(inventory) -> tuple:
    """Everything `Fleet.from_pyinfra` reads to build a fleet: each host's name, groups and data
    (its run flags aside: pyinfra's `_` keys, such as `--data _provision_prune=true`, are never
    model data), in the inventory's order, and the AITBC_SRC override. Two inventories with
    equal sources give one fleet."""
    hosts = [(h.name, sorted(h.groups),
              {k: v for k, v in h.data.dict().items() if not k.startswith("_")})
             for h in inventory]
    return os.environ.get(SOURCE_ENV), hosts


class Fleet:
    """Validated hosts keyed by node name, plus lookups across them."""

    def __init__(self, hosts: dict[str, HostSpec]):
        self.hosts = hosts

    # Building ------------------------------------------------------------------------

    @classmethod
    def from_pyinfra(cls, inventory, file_group: str | None = None,
                     known_groups: Iterable[str] | None = None) -> Fleet:
        """Build from a pyinfra Inventory (offline: pyinfra connects only when told to).

        `known_groups`: the role groups that exist (one group_data file each; the loader passes
        them). A host belongs to exactly one; any other group it is in is named as unknown.
        """
        problems: list[Problem] = []
        hosts: dict[str, HostSpec] = {}
        hosts_list = list(inventory)
        if file_group is None:
            # pyinfra adds a group named after the inventory file holding every host.
            every = {h.name for h in hosts_list}
            file_group = next((g for g in sorted({g for h in hosts_list for g in h.groups})
                               if {h.name for h in hosts_list if g in h.groups} == every
                               and g not in (known_groups or ()) and g != "all"), None)
        for host in hosts_list:
            # A set, and no connector group: pyinfra puts `@local` in a group of its own name
            # and, expanding the connector's hosts (inventory.py), adds each of its groups again.
            groups = sorted({g for g in host.groups if g != "all" and not g.startswith("@")})
            data = _model_data(host.data.dict())
            node = data.pop("node", host.name)
            # A node name that is itself malformed is refused below; name the host by pyinfra's.
            label = node if isinstance(node, str) and NODE_NAME.fullmatch(node) else host.name
            if os.environ.get(SOURCE_ENV):
                data["app_sources"] = str(Path(os.environ[SOURCE_ENV]).expanduser().resolve())
            where = f"host {label} [groups: {', '.join(groups) or 'none'}]"
            roles = [g for g in groups if g != file_group]
            if known_groups is not None:
                for group in roles:
                    if group not in known_groups:
                        problems.append(Problem(where, "groups", f"unknown group {group!r}: no "
                                                f"group_data/{group}.py; known: "
                                                f"{', '.join(sorted(known_groups))}"))
                roles = [g for g in roles if g in known_groups]
            if len(roles) != 1:
                problems.append(Problem(where, "groups",
                                        f"a host needs exactly one role group, has {roles}"))
            if node in hosts:
                problems.append(Problem(where, "node", f"duplicate node name {node!r}"))
            try:
                hosts[node] = HostSpec.model_validate(
                    {**data, "name": host.name, "node": node, "groups": groups,
                     "role": roles[0] if len(roles) == 1 else None}
                )
            except ValidationError as exc:
                for err in exc.errors():
                    value = err.get("input")
                    shown = "" if isinstance(value, dict | list) else f" (value {value!r})"
                    problems.append(Problem(where, _loc(err["loc"]), err["msg"] + shown))
        problems += _check_unique_connections(hosts_list)
        fleet = cls(hosts)
        problems += fleet.cross_check()
        if problems:
            raise ModelError(problems)
        return fleet

    # Lookups -------------------------------------------------------------------------

    def find_service(self, node: str, unit: str) -> tuple[App, Service] | None:
        host = self.hosts.get(node)
        if host is None:
            return None
        return next(((a, s) for a, s in host.services if s.unit == unit), None)

    # Endpoints (every lookup below assumes validated data) ------------------------------

    def endpoint(self, from_node: str, node: str, unit: str) -> Endpoint:
        """Where a process on `from_node` reaches service `unit` of `node`."""
        found = self.find_service(node, unit)
        if found is None:
            raise Unreachable(f"host {node} has no service {unit!r}")
        return reach(from_node, self.hosts[node], found[1])

    def site_endpoint(self, from_node: str, node: str) -> Endpoint:
        """Where a proxy on `from_node` reaches the plain nginx site of `node`: its bridge."""
        target = self.hosts[node]
        site = target.plain_site
        if node == from_node or site is None or target.bridge_address is None:
            raise Unreachable(f"{from_node} cannot proxy to the nginx site of {node}")
        return Endpoint(str(target.bridge_address), site.listen)

    def upstream(self, host: HostSpec, route: Route) -> Endpoint:
        """Where a proxy route of `host` sends its requests."""
        target = route.target
        if isinstance(target, SiteTarget):
            return self.site_endpoint(host.node, target.node or host.node)
        if isinstance(target, UnitTarget):
            return self.endpoint(host.node, target.node or host.node, target.unit)
        raise Unreachable(f"host {host.node}: route {route.location!r} is not a proxy route")

    def forwarded_service(self, fwd: Forward) -> Service | None:
        """The service a forward reaches: the one on its node listening on its port beyond
        loopback (so the host's DNAT to the bridge address lands on a socket)."""
        target = self.hosts.get(fwd.node)
        return next((s for _, s in target.services if s.port == fwd.port and s.bind != "loopback"),
                    None) if target else None

    def forward(self, host: HostSpec, fwd: Forward) -> Endpoint:
        """Where `host`'s firewall sends the public port `fwd.port`."""
        svc = self.forwarded_service(fwd)
        if svc is None:
            raise Unreachable(f"host {host.node}: nothing on {fwd.node} listens on {fwd.port}")
        return reach(host.node, self.hosts[fwd.node], svc)

    def peer_url(self, host: HostSpec, peer: str) -> str:
        """A chain peer: a public site by its name, or a unit of this host by its endpoint."""
        if peer in host.sites:
            return f"{host.sites[peer].scheme}://{peer}"
        return self.endpoint(host.node, host.node, peer).url

    def answered_by(self, server_name: str, path: str) -> tuple[str, str] | None:
        """The (node, unit) a request for `path` at public site `server_name` ends at, through
        every proxy on the way (another host's nginx, a rewritten path); None where it ends
        anywhere else (files, a redirect, a status, no route, no such site)."""
        host = self.public_host(server_name)
        site = next((s for s in host.nginx_sites if s.server_name == server_name),
                    None) if host else None
        for _ in range(len(self.hosts)):  # each hop another host's nginx: no more hops than hosts
            if host is None or site is None:
                return None
            index = matching_route(site, [path])[0]
            route = site.routes[index] if index is not None else None
            if route is None or route.target is None:
                return None
            rest = path[len(route.location):]
            if route.path is not None:  # proxy_pass with a URI: it replaces the location
                path = route.path + rest
            elif route.strip_prefix:
                path = "/" + rest.lstrip("/")
            node = route.target.node or host.node
            if isinstance(route.target, UnitTarget):
                return node, route.target.unit
            host = self.hosts.get(node)
            site = host.plain_site if host else None
        return None

    def public_host(self, name: str) -> HostSpec | None:
        """The host a site or node name stands for on the wan: the node itself, or the host
        with a public address serving the site; None when the name is neither."""
        host = self.hosts.get(name)
        if host is None:
            host = next((h for h in self.hosts.values() if h.public_address is not None
                         and any(s.server_name == name for s in h.nginx_sites)), None)
        return host if host is not None and host.public_address is not None else None

    def source_network(self, source: str) -> str | None:
        """A firewall source as an address or network; None for "any"."""
        if source == ANY:
            return None
        host = self.public_host(source)
        if host is not None:
            return str(host.public_address)
        try:
            network = ip_network(source)
        except ValueError:
            raise Unreachable(f"{source!r} is no site or node with a public address") from None
        return str(network.network_address) if network.prefixlen == 32 else str(network)

    # Sites ---------------------------------------------------------------------------
    # A site is one wan-facing host (a node with a public_address) with the containers behind
    # it, named after that host's node: at1 with aitbc, ns3-root with ns3-aitbc. (Not the
    # public web sites of `sites`, which are server names.) Secrets are held per site.

    def site_of(self, node: str) -> str:
        """The site `node` belongs to (validated data: cross_check refuses a node with none)."""
        site, problem = self._locate_site(self.hosts[node])
        if site is None:
            raise ModelError([problem])
        return site

    def sites(self) -> dict[str, list[str]]:
        """Every site and its nodes, in inventory order."""
        out: dict[str, list[str]] = {}
        for node in self.hosts:
            out.setdefault(self.site_of(node), []).append(node)
        return out

    @property
    def shared_secrets(self) -> set[str]:
        """The secrets two sites may hold one value of (the same on every host: cross_check)."""
        return {name for host in self.hosts.values() for name in host.shared_secrets}

    def key_pairs(self) -> list[tuple[str, KeyPair]]:
        """(site, pair) for each key pair a site's values must satisfy: once, though several
        hosts of the site declare it (cross_check refuses two pairs of a site sharing a name)."""
        out: list[tuple[str, KeyPair]] = []
        for node, spec in self.hosts.items():
            site = self.site_of(node)
            out += [(site, pair) for pair in spec.key_pairs if (site, pair) not in out]
        return out

    def _locate_site(self, spec: HostSpec) -> tuple[str | None, Problem | None]:
        """(the site of `spec`, None) or (None, why it has none: the field to fix named)."""
        def none(field: str, why: str) -> tuple[None, Problem]:
            return None, Problem(f"host {spec.node}", field, f"belongs to no site: {why}")

        if spec.public_address is not None:
            return spec.node, None
        if spec.incus is not None:
            # An incus host is never a container (_check_containers): it faces the wan.
            return none("public_address", "an incus host faces the wan and heads the site of "
                        "its containers, but this one has no public_address: set "
                        "public_address to the address the wan reaches it at")
        if spec.container is not None:
            # The incus host it runs on, which faces the wan itself.
            host = self.hosts.get(spec.container.host)
            if host is None or host.public_address is None:
                return none("container.host", f"its container.host {spec.container.host!r} is "
                            "no host with a public_address")
            return host.node, None
        if spec.bridge_address is None:
            return none("public_address", "it has no public_address (set it, if the host faces "
                        "the wan), container.host or bridge_address (for a host behind another)")
        holders = [h.node for h in self.bridge_holders(spec)]
        if len(holders) == 1:
            return holders[0], None
        if not holders:
            return none("public_address", "it has no public_address (set it, if the host faces "
                        f"the wan), and its bridge_address {spec.bridge_address} lies on no "
                        "bridge of a host with one (for a host behind another: give "
                        "container.host, the incus host it runs on)")
        return none("container.host", f"its bridge_address {spec.bridge_address} lies on the "
                    f"bridges of {' and '.join(holders)}: give container.host")

    def sources(self, allow: list[str]) -> tuple[str, ...] | None:
        """A rule's `allow` as the addresses and networks it admits, sorted; None: any address."""
        networks = {self.source_network(s) for s in allow}
        return None if None in networks else tuple(sorted(n for n in networks if n))

    def proxied_by(self, node: str) -> list[tuple[HostSpec, Site, Route]]:
        """The proxy routes of other hosts that send to the nginx site of `node`."""
        return [(other, site, route)
                for other in self.hosts.values() if other.node != node
                for site in other.nginx_sites for route in site.routes
                if isinstance(route.target, SiteTarget) and route.target.node == node]

    # Cross checks --------------------------------------------------------------------

    def cross_check(self) -> list[Problem]:
        problems: list[Problem] = []
        for host in self.hosts.values():
            where = f"host {host.node}"
            problems += self._check_ports_and_units(host, where)
            problems += self._check_apps(host, where)
            problems += [Problem(where, field, message)
                         for field, message in placeholders.problems(host)]
            problems += [Problem(where, field, message) for field, message in lists.problems(host)]
            problems += [Problem(where, field, message)
                         for field, message in shared_state.problems(host)]
            for i, site in enumerate(host.nginx_sites):
                problems += self._check_site(host, site, f"nginx_sites[{i}]", where)
            problems += self._check_firewall(host, where)
            problems += _check_host_addresses(host, where)
            problems += _check_packaged_services(host, where)
            problems += _check_key_pairs(host, where)
            if host.web_content and not host.site_root:
                problems.append(Problem(where, "web_content", "no nginx site with a 'root'"))
            configs = Counter(site.config_name for site in host.nginx_sites)
            problems += [Problem(where, "nginx_sites[].config_name", f"config file {name!r} "
                                 f"declared {count} times (one would overwrite the other)")
                         for name, count in configs.items() if count > 1]
        problems += self._check_containers()
        problems += self._check_sites()
        problems += self._check_site_key_pairs()
        bridges = Counter(str(h.bridge_address) for h in self.hosts.values() if h.bridge_address)
        problems += [Problem(f"host {h.node}", "bridge_address", f"{h.bridge_address} is also "
                             "another host's bridge_address")
                     for h in self.hosts.values() if h.bridge_address
                     and bridges[str(h.bridge_address)] > 1]
        return problems

    def _check_containers(self) -> list[Problem]:
        """Each container's incus host exists and runs incus, and its static address is a
        usable one of that host's network (not the gateway, network or broadcast address).
        An incus daemon on the control machine serves only sandbox hosts on existing bridges."""
        problems = []
        control_pools = Counter(h.incus.storage_pool for h in self.hosts.values()
                                if h.incus and h.incus.daemon == "control")
        for spec in self.hosts.values():
            where, container = f"host {spec.node}", spec.container
            if spec.incus and container:
                problems.append(Problem(where, "container", "an incus host cannot also be a "
                                        "container (nested incus is not provisioned)"))
            if spec.incus and spec.bridge_network is None:
                problems.append(Problem(where, "incus.network", "an incus host needs a "
                                        "bridge_address: its network's gateway and subnet"))
            if spec.incus and spec.incus.daemon == "control":
                problems += _check_control_daemon(spec, where, control_pools)
            if container is None:
                continue
            host = self.hosts.get(container.host)
            if host is None or host.incus is None:
                problems.append(Problem(where, "container.host", f"{container.host!r} is not a "
                                        "host of the inventory with 'incus' data"))
                continue
            network = host.bridge_network
            address = spec.bridge_address
            if address is None:
                problems.append(Problem(where, "bridge_address", "a container needs its static "
                                        f"IPv4 on {host.node}'s network"))
            elif network is not None and (address not in network.network or address in (
                    network.ip, network.network.network_address, network.network.broadcast_address)):
                problems.append(Problem(where, "bridge_address", f"{address} is not a free "
                                        f"address of {host.node}'s network {network} (gateway "
                                        f"{network.ip})"))
        return problems

    def _check_sites(self) -> list[Problem]:
        """Every node belongs to a site, and which secrets sites may share is one fact: the same
        list on every host, naming only declared secrets."""
        problems = []
        for spec in self.hosts.values():
            site, problem = self._locate_site(spec)
            if site is None:
                problems.append(problem)
        declared = {name for h in self.hosts.values() for a in h.apps for name in a.all_secrets}
        declared |= {db.password_secret for h in self.hosts.values() if h.postgresql
                     for db in h.postgresql.databases}
        # The odd ones out are named: the hosts whose list differs from most hosts' list.
        lists = Counter(tuple(sorted(h.shared_secrets)) for h in self.hosts.values())
        usual = lists.most_common(1)[0][0] if lists else ()
        for spec in self.hosts.values():
            where = f"host {spec.node}"
            if tuple(sorted(spec.shared_secrets)) != usual:
                problems.append(Problem(where, "shared_secrets", f"{spec.shared_secrets} differs "
                                        f"from the other hosts' {list(usual)}: set it once, in "
                                        "group_data/all.py"))
            problems += [Problem(where, f"shared_secrets[{i}]", f"{name!r} is no app's secret")
                         for i, name in enumerate(spec.shared_secrets) if name not in declared]
        return problems

    def _check_site_key_pairs(self) -> list[Problem]:
        """A secret is in one pair of its site: hosts of one site may each declare a pair,
        but not pair one name with two others (one value cannot match both)."""
        problems = []
        seen: dict[tuple[str, str], tuple[str, str, KeyPair]] = {}  # (site, name) -> first use
        for spec in self.hosts.values():
            site, _ = self._locate_site(spec)
            if site is None:
                continue  # named by _check_sites
            for i, pair in enumerate(spec.key_pairs):
                for role, name in (("key", pair.key), ("address", pair.address)):
                    node, field, other = seen.setdefault((site, name),
                                                         (spec.node, f"key_pairs[{i}].{role}", pair))
                    if node != spec.node and other != pair:
                        problems.append(Problem(
                            f"host {spec.node}", f"key_pairs[{i}].{role}",
                            f"{name!r} is also in another pair of site {site} (host {node}, "
                            f"{field}): one value cannot match two; declare the same pair"))
        return problems

    def containers_of(self, node: str) -> list[HostSpec]:
        """The containers provisioned on incus host `node`, in inventory order."""
        return [h for h in self.hosts.values() if h.container and h.container.host == node]

    # SSH jumps -----------------------------------------------------------------------

    def jump_host(self, node: str) -> HostSpec | None:
        """The host SSH reaches `node` through (ProxyJump), or None: reached directly.

        A container (a node without a public_address) has no address the control machine
        routes: it is reached through the first host, in inventory order, whose bridge holds
        its bridge_address, the host it runs on (for a provisioned container that is its
        `container.host`, which `_check_containers` holds to the same network). The sandbox
        lays its machines out by this rule (sandbox/plan.py), production's ssh_config says the
        same (README), and each jump host's sshd allows exactly the forwarding a jump needs
        (aitbc_infra/sshd.py).
        """
        spec = self.hosts[node]
        if spec.public_address is not None:
            return None
        return next(iter(self.bridge_holders(spec)), None)

    def bridge_holders(self, spec: HostSpec) -> list[HostSpec]:
        """The hosts with a public address whose bridge network holds `spec`'s bridge_address."""
        if spec.bridge_address is None:
            return []
        return [h for h in self.hosts.values() if h.public_address is not None
                and h.bridge_network is not None and spec.bridge_address in h.bridge_network.network]

    def reached_through(self, node: str) -> list[HostSpec]:
        """The nodes SSH reaches through host `node` (its jump_host), in inventory order."""
        return [h for h in self.hosts.values()
                if (jump := self.jump_host(h.node)) is not None and jump.node == node]

    def _check_ports_and_units(self, host: HostSpec, where: str) -> list[Problem]:
        problems = []
        ports: list[tuple[int, str]] = [
            (svc.port, f"apps[{i}].services[{j}].port")
            for i, app in enumerate(host.apps)
            for j, svc in enumerate(app.services)
            if svc.port
        ]
        for i, site in enumerate(host.nginx_sites):
            ports.append((443 if site.tls else site.listen, f"nginx_sites[{i}].listen"))
            if site.tls:
                ports.append((80, f"nginx_sites[{i}] (HTTP redirect)"))
        ports += [(service.port, f"{name}.port") for name, service in
                  (("postgresql", host.postgresql), ("redis", host.redis)) if service]
        # Several nginx sites may share a port (server_name picks); only services may not.
        seen: dict[int, str] = {}
        for port, field in ports:
            other = seen.get(port)
            if other and not (other.startswith("nginx") and field.startswith("nginx")):
                problems.append(Problem(where, field, f"port {port} already used by {other}"))
            seen.setdefault(port, field)
        for i, app in enumerate(host.apps):
            for j, svc in enumerate(app.services):
                if not app.candidate(svc):
                    continue
                port, field = host.candidate_port(svc), f"apps[{i}].services[{j}].port"
                if port > 65535:
                    problems.append(Problem(where, field, f"its candidate port {port} (port + "
                                            "rollout.candidate_port_offset) is above 65535"))
                elif port in seen:
                    problems.append(Problem(where, field, f"its candidate port {port} (port + "
                                            f"rollout.candidate_port_offset) is used by {seen[port]}"))
        units = Counter(svc.unit for _, svc in host.services)
        for unit, count in units.items():
            if count > 1:
                problems.append(Problem(where, "apps[].services[].unit",
                                        f"unit {unit!r} declared {count} times"))
        return problems

    def _check_apps(self, host: HostSpec, where: str) -> list[Problem]:
        problems = []
        users = {u.name for u in host.users}
        units = {svc.unit for _, svc in host.services}
        jobs = {svc.unit for _, svc in host.services if svc.schedule}
        for i, app in enumerate(host.apps):
            field = f"apps[{i}]"
            if app.user not in users:
                problems.append(Problem(where, f"{field}.user",
                                        f"user {app.user!r} is not declared in 'users'"))
            if app.user == "root":
                problems.append(Problem(where, f"{field}.user", "apps never run as root"))
            problems += _check_env_names(app, f"{where}, app {app.name}", field)
            problems += _check_data(host, app, where, field)
            problems += self._check_peers(host, app, f"{where}, app {app.name}", field)
            for j, svc in enumerate(app.services):
                for dep in svc.after:
                    if dep not in units:
                        problems.append(Problem(where, f"{field}.services[{j}].after",
                                                f"unknown unit {dep!r}"))
                    elif dep in jobs:
                        # After= a job would only wait for a run that happens to be under
                        # way at the start: nothing a unit can rely on.
                        problems.append(Problem(where, f"{field}.services[{j}].after",
                                                f"{dep!r} is a scheduled job: it runs on its "
                                                "schedule only, no unit is ordered after it"))
                if svc.bind == "bridge" and host.bridge_address is None:
                    problems.append(Problem(where, f"{field}.services[{j}].bind",
                                            "binds to the bridge but the host has no bridge_address"))
        return problems

    def _check_peers(self, host: HostSpec, app: App, where: str, field: str) -> list[Problem]:
        """A chain node's peers: a public site, or another node's RPC on this host (a unit with
        a port). The node itself is never its own peer."""
        if app.peers and not app.chain:
            return [Problem(where, f"{field}.peers", f"{app.peers} are set but only a chain node "
                            f"(chain: true) is given {env_name(app, 'peers')}: set chain, or drop "
                            "peers")]
        own = {svc.unit for svc in app.services}
        # Where the node's own RPC answers (its health paths): a peer site answering them from
        # one of this app's own services on this host is the node itself, seen from the wan.
        probes = [svc.health for svc in app.services if svc.health and svc.port]
        problems = []
        for k, peer in enumerate(app.peers):
            pfield = f"{field}.peers[{k}]"
            found = self.find_service(host.node, peer)
            if peer in own:
                problems.append(Problem(where, pfield, f"{peer!r} is this node's own service: a "
                                        "node is not its own peer"))
            elif peer in host.sites:
                for probe in probes:
                    answered = self.answered_by(peer, probe)
                    if answered and answered[0] == host.node and answered[1] in own:
                        problems.append(Problem(where, pfield, f"site {peer!r} answers {probe} "
                                                f"from {answered[1]!r}, this node's own service: "
                                                "a node is not its own peer"))
                        break
            elif found is None:
                problems.append(Problem(where, pfield, f"{peer!r} is neither a site nor a unit "
                                        "of this host"))
            elif found[1].port is None:
                problems.append(Problem(where, pfield, f"unit {peer!r} has no port: a peer is "
                                        "reached at its RPC, a service with a port"))
        return problems

    def _check_site(self, host: HostSpec, site: Site, field: str, where: str) -> list[Problem]:
        problems = []
        keys = Counter(r.nginx_location for r in site.routes)
        for key, count in keys.items():
            if count > 1:
                problems.append(Problem(where, f"{field}.routes",
                                        f"location {key!r} declared {count} times"))
        if site.tls and site.server_name not in host.sites:
            problems.append(Problem(where, f"{field}.server_name",
                                    f"TLS site {site.server_name!r} is not in 'sites'"))
        elif site.tls and host.sites[site.server_name].tls == "provided":
            lineage = host.sites[site.server_name].certificate or site.server_name
            if lineage not in host.tls_provided:
                problems.append(Problem(where, "tls_provided", f"site {site.server_name!r} uses a "
                                        f"provided certificate but no files are given for {lineage!r}"))
        redirects = self._check_redirect(site)
        # A probe that nginx would hand to another route would prove that route, not this one.
        probed = matching_route(site, [r.probe_path for r in site.routes])
        for i, route in enumerate(site.routes):
            rfield = f"{field}.routes[{i}]"
            if route.type == "proxy":
                problems += self._check_proxy(host, route, rfield, where)
            if probed[i] != i and keys[route.nginx_location] == 1:
                problems.append(Problem(where, f"{rfield}.probe", f"{route.probe_path!r} is "
                                        f"answered by another route, not {route.location!r}"))
            if route.rate_limit and route.rate_limit not in host.rate_limits:
                problems.append(Problem(where, f"{rfield}.rate_limit", f"unknown rate limit "
                                        f"{route.rate_limit!r}; declared: "
                                        f"{', '.join(sorted(host.rate_limits)) or 'none'}"))
            if i in redirects:
                problems.append(Problem(where, f"{rfield}.to", redirects[i]))
        return problems

    def _check_proxy(self, host: HostSpec, route: Route, field: str, where: str) -> list[Problem]:
        target = route.target
        node = target.node or host.node
        other = self.hosts.get(node)
        if other is None:
            return [Problem(where, f"{field}.node", f"unknown node {node!r} "
                            f"(value {route.node!r}; nodes: {', '.join(sorted(self.hosts))})")]
        if node != host.node and other.bridge_address is None:
            return [Problem(where, f"{field}.node", f"node {node!r} has no bridge_address")]
        if isinstance(target, SiteTarget):
            if node == host.node:
                return [Problem(where, f"{field}.node", f"route {route.location!r} proxies to "
                                f"this host's own nginx ({node!r}): a loop")]
            if other.plain_site is None:
                return [Problem(where, f"{field}.service", f"node {node!r} runs no plain nginx site")]
            return []
        found = self.find_service(node, target.unit)
        if found is None:
            known = sorted(s.unit for _, s in other.services if s.port)
            return [Problem(where, f"{field}.service", f"route {route.location!r} targets unknown "
                            f"service {target.unit!r} on {node}; declared: {', '.join(known)}")]
        svc = found[1]
        if svc.port is None:
            return [Problem(where, f"{field}.service", f"service {svc.unit!r} has no port")]
        if node != host.node and svc.bind == "loopback":
            return [Problem(where, f"{field}.service", f"service {svc.unit!r} on {node} listens "
                            "on loopback only; another host cannot reach it")]
        return []

    def _check_redirect(self, site: Site) -> dict[int, str]:
        """The problem of each redirect whose chain goes wrong, by index in `site.routes`.

        A chain ending on no route is reported on every redirect leading there. A loop is
        reported once, on the redirect that closes it (its chain starts there), not on every
        redirect leading into it: a loop of n routes would otherwise print n chains of n hops.
        Each redirect is resolved and walked once, so a table of thousands of chained
        redirects costs no more than as many other routes.
        """
        routes = site.routes
        starts = [i for i, r in enumerate(routes) if r.type == "redirect"]
        targets = matching_route(site, [routes[i].to for i in starts])
        # Landing on the catch-all "/" would accept any typo: a redirect must name a route.
        hop = {i: None if t is None or routes[t].location == "/" else t
               for i, t in zip(starts, targets, strict=True)}
        # Each walked redirect: the target its chain dies on, or "" (ends on a route, or loops).
        finished: dict[int, str] = {}
        problems: dict[int, str] = {}
        for start in starts:
            walk: dict[int, None] = {}  # the redirects visited from `start`, in order
            current = start
            end = ""
            while routes[current].type == "redirect":
                if current in finished:
                    end = finished[current]
                    break
                if current in walk:
                    cycle = list(walk)[list(walk).index(current):]
                    chain = " → ".join(routes[i].location for i in [cycle[-1], *cycle])
                    problems[cycle[-1]] = f"redirect loop: {chain}"
                    break
                walk[current] = None
                if hop[current] is None:
                    end = routes[current].to
                    break
                current = hop[current]
            for i in walk:
                finished[i] = end
                if end:
                    problems[i] = f"redirect {routes[i].location!r} → {end!r} hits no route"
        return problems

    def _check_firewall(self, host: HostSpec, where: str) -> list[Problem]:
        if host.firewall is None:
            if host.public_address is not None:
                return [Problem(where, "firewall", "a host with a public address needs a "
                                "firewall: declare each port it answers and who may reach it")]
            return []
        problems = self._check_sources(host, where)
        opened = Counter(o.port for o in host.firewall.open)
        problems += [Problem(where, "firewall.open", f"port {port} opened {count} times")
                     for port, count in opened.items() if count > 1]
        for i, site in enumerate(host.nginx_sites):
            for port in (443, 80) if site.tls else (site.listen,):
                if port not in opened:
                    problems.append(Problem(where, f"nginx_sites[{i}]", f"site "
                                            f"{site.server_name} listens on {port}, which "
                                            "firewall.open does not open"))
        ports = Counter(f.port for f in host.firewall.forwards)
        for i, fwd in enumerate(host.firewall.forwards):
            field = f"firewall.forwards[{i}]"
            if ports[fwd.port] > 1 or fwd.port in opened:
                problems.append(Problem(where, f"{field}.port", f"port {fwd.port} forwarded twice "
                                        "or also opened on the host"))
            target = self.hosts.get(fwd.node)
            if target is None:
                problems.append(Problem(where, f"{field}.node", f"unknown node {fwd.node!r}"))
                continue
            if host.bridge_address and target.bridge_address and target.bridge_address not in \
                    ip_network(f"{host.bridge_address}/{host.bridge_prefix}", strict=False):
                problems.append(Problem(where, f"{field}.node", f"{fwd.node} at "
                                        f"{target.bridge_address} is outside this host's bridge "
                                        f"{host.bridge_address}/{host.bridge_prefix}"))
            if self.forwarded_service(fwd) is None:
                problems.append(Problem(where, f"{field}.port", f"nothing on {fwd.node} listens on "
                                        f"port {fwd.port} beyond loopback"))
        return problems

    def _check_sources(self, host: HostSpec, where: str) -> list[Problem]:
        assert host.firewall is not None
        rules = [(f"firewall.open[{i}].allow", o.allow) for i, o in enumerate(host.firewall.open)]
        rules += [(f"firewall.forwards[{i}].allow", f.allow)
                  for i, f in enumerate(host.firewall.forwards)]
        problems = []
        for field, allow in rules:
            if ANY in allow and len(allow) > 1:
                problems.append(Problem(where, field, f"'any' admits everyone: {allow} says more"))
            for source in allow:
                try:
                    self.source_network(source)
                except Unreachable as exc:
                    problems.append(Problem(where, field, str(exc)))
        return problems


def _check_control_daemon(spec: HostSpec, where: str, pools: Counter) -> list[Problem]:
    """`incus.daemon: control` runs the host's incus side on the control machine: only the
    sandbox's stand-in for an incus host, whose bridge exists already (network.managed false).
    Anywhere else provision would create the host's managed network, its NAT rules and dnsmasq
    on the machine the deploy runs from, and the containers there too."""
    assert spec.incus is not None
    problems = []
    if spec.deploy_environment != "sandbox":
        problems.append(Problem(where, "incus.daemon", "'control' (incusd on the control "
                                "machine) is for the sandbox only, but deploy_environment is "
                                f"{spec.deploy_environment!r}: a host runs its own incus "
                                "(daemon 'self', the default)"))
    if spec.incus.network.managed:
        problems.append(Problem(where, "incus.daemon", "'control' with a managed network would "
                                f"create {spec.incus.network.name!r} (NAT, dnsmasq) on the "
                                "control machine: give an existing bridge (network.managed "
                                "false), or daemon 'self'"))
    if len(pools) > 1:
        problems.append(Problem(where, "incus.storage_pool", f"{spec.incus.storage_pool!r}: the "
                                "hosts of the control machine's one incusd share one pool, "
                                f"given {sorted(pools)}"))
    return problems


def _check_data(host: HostSpec, app: App, where: str, field: str) -> list[Problem]:
    """Each data file lies below a directory the app's units write: one of its data dirs or a
    shared directory it writes (else its release could not write it either), and no other app
    of the host declares it."""
    writable = [f"{app.root}/{d.rstrip('/')}" for d in app.data_dirs]
    writable += shared_state.access(host, app).writes
    others = {other.data_path(d): other.name for other in host.apps if other is not app
              for d in other.data}
    problems = []
    for k, entry in enumerate(app.data):
        path = app.data_path(entry)
        if not any(path.startswith(f"{d}/") for d in writable):
            problems.append(Problem(where, f"{field}.data[{k}].path",
                                    f"{path} lies in no directory app {app.name} writes (its "
                                    f"data_dirs, or a shared directory it writes): "
                                    f"{', '.join(writable) or 'none'}"))
        if path in others:
            problems.append(Problem(where, f"{field}.data[{k}].path",
                                    f"{path} is also data of app {others[path]}"))
    return problems


def _check_injected_names(app: App, where: str, field: str) -> list[Problem]:
    """An app's `env_names` gives each of the model's values a name of its own: never systemd's
    (it sets LISTEN_* itself), never the name of another of the model's values, and only for a
    value the app is given at all."""
    problems = []
    for key, name in app.env_names.items():
        place = f"{field}.env_names.{key}"
        others = sorted(k for k in GENERATED_ENV if k != key and env_name(app, k) == name)
        if name in SYSTEMD_ENV:
            problems.append(Problem(where, place, f"{name!r} is set by {SYSTEMD_ENV[name]}: "
                                    "the model's own values may not take it"))
        elif others:
            problems.append(Problem(where, place, f"{name!r} is also the name of "
                                    f"{', '.join(others)}: one value would replace the other "
                                    "in the env file"))
        if not GENERATED_ENV[key].given_to(app):
            problems.append(Problem(where, place, f"{name!r} renames nothing: the app is not "
                                    f"given {key} ({GENERATED_ENV[key].source})"))
    return problems


def _check_env_names(app: App, where: str, field: str) -> list[Problem]:
    """No env, secret or list secret of the data takes a name the model sets itself
    (generated_env.py), as this app names it, and no name is given two ways: one would
    silently replace the other in the env file."""
    problems = _check_injected_names(app, where, field)
    reserved = reserved_env(app)
    named = [(f"{field}.env", name) for name in app.env]
    named += [(f"{field}.services[{j}].env", name)
              for j, svc in enumerate(app.services) for name in svc.env]
    named += [(f"{field}.{kind}[{k}]", name) for kind in ("secrets", "secret_lists")
              for k, name in enumerate(getattr(app, kind))]
    for place, name in named:
        if name in reserved:
            problems.append(Problem(where, place, f"{name!r} is set by the model ("
                                    f"{reserved[name]}): data may not set it"))
    both = sorted(set(app.secrets) & set(app.secret_lists))
    if both:
        problems.append(Problem(where, f"{field}.secret_lists", f"{both} also in secrets: a "
                                "secret is either one value or a list"))
    plain = {*app.env, *(name for svc in app.services for name in svc.env)}
    clash = sorted(set(app.all_secrets) & plain)
    if clash:
        problems.append(Problem(where, f"{field}.secrets",
                                f"{clash} are secrets and also plain env"))
    return problems


# The Debian package each service from a package comes from: the data installs it (in
# `packages`), so the host's one list of packages is what the deploy, the sandbox's image and
# verify read; nothing is installed that the data does not name.
PACKAGE_OF = {"postgresql": "postgresql", "redis": "redis-server"}


def _check_packaged_services(host: HostSpec, where: str) -> list[Problem]:
    installed = {*host.base_packages, *host.packages}
    return [Problem(where, field, f"the host runs {field} but installs no {package!r}: add it "
                    "to the host's packages")
            for field, package in PACKAGE_OF.items()
            if getattr(host, field) is not None and package not in installed]


def _check_key_pairs(host: HostSpec, where: str) -> list[Problem]:
    """Each pair names two secrets of this host (an app's, or a generated file's), one value
    each (no list secret), in no other pair, and is shared between sites whole or not at all
    (a shared key with an address of each site's own could match at one site only)."""
    secrets = {name for app in host.apps for name in app.secrets}
    secrets |= {name for entry in host.generated_files for name in entry.secret_names}
    lists = {name for app in host.apps for name in app.secret_lists}
    shared = set(host.shared_secrets)
    first: dict[str, str] = {}  # name -> the field naming it first
    problems = []
    for i, pair in enumerate(host.key_pairs):
        for role, name in (("key", pair.key), ("address", pair.address)):
            field = f"key_pairs[{i}].{role}"
            if name in lists:
                problems.append(Problem(where, field, f"{name!r} is a list secret (secret_lists): "
                                        "a key or an address is one value"))
            elif name not in secrets:
                problems.append(Problem(where, field, f"{name!r} is no secret of this host's "
                                        "apps or generated files"))
            if first.setdefault(name, field) != field:
                problems.append(Problem(where, field, f"{name!r} is also {first[name]}: a "
                                        "secret is in one pair at most"))
        if (pair.key in shared) != (pair.address in shared):
            problems.append(Problem(where, f"key_pairs[{i}]", f"one of {pair.key!r} and "
                                    f"{pair.address!r} is in shared_secrets, the other not: a "
                                    "pair is shared between sites whole or not at all"))
    return problems


def _check_host_addresses(host: HostSpec, where: str) -> list[Problem]:
    address = host.bridge_address
    if address and (address.is_loopback or address.is_unspecified or address.is_multicast
                    or address.is_link_local or address.is_reserved):
        return [Problem(where, "bridge_address", f"{address} cannot be a bridge address "
                        "(loopback, unspecified, multicast, link-local or reserved)")]
    return []


def _check_unique_connections(hosts_list) -> list[Problem]:
    """Two inventory hosts reaching one SSH address would deploy two roles onto one machine."""
    seen: dict[str, str] = {}
    problems = []
    for host in hosts_list:
        if host.name.startswith("@"):
            continue
        target = str(host.data.get("ssh_hostname") or host.name)
        port = host.data.get("ssh_port") or 22
        key = f"{target}:{port}"
        if key in seen:
            problems.append(Problem(f"host {host.data.get('node') or host.name}", "ssh_hostname",
                                    f"{target} (port {port}) is also how {seen[key]} is reached"))
        seen.setdefault(key, host.data.get("node") or host.name)
    return problems


def matching_route(site: Site, urls: list[str]) -> list[int | None]:
    """For each URL, the index in `site.routes` of the route nginx would pick, or None.

    Exact first, then the longest prefix. The table is indexed once, and a URL is looked up
    by its own prefixes (only the lengths some location has), so the cost does not grow
    with the number of routes. A location declared twice resolves to its first declaration.
    """
    exact: dict[str, int] = {}
    prefix: dict[str, int] = {}
    for i, route in enumerate(site.routes):
        (exact if route.match == "exact" else prefix).setdefault(route.location, i)
    lengths = sorted({len(location) for location in prefix}, reverse=True)
    found: list[int | None] = []
    for url in urls:
        path = url.split("?", 1)[0]
        match = exact.get(path)
        if match is None:
            match = next((prefix[path[:n]] for n in lengths
                          if n <= len(path) and path[:n] in prefix), None)
        found.append(match)
    return found
