"""Markdown tables of routes, services and ports, and the topology diagram, generated from the
model (never by hand)."""

from __future__ import annotations

from aitbc_infra import endpoints, sshd, topology
from aitbc_infra.exposure import Exposure, exposures
from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import (
    DATA_SNAPSHOT_DIR,
    RELEASE_SOURCES,
    RELEASES_DIR,
    SSHD_DROP_IN,
    VENV_LINK,
    step_unit,
)
from aitbc_infra.model import HostSpec, Route, Schedule
from aitbc_infra.secrets import env_name, needed

DOCS_FILE = "docs/infrastructure.md"


def _target(fleet: Fleet, host, route: Route) -> str:
    if route.type == "proxy":
        return f"proxy → `{fleet.upstream(host, route).authority}{route.path or ''}` ({route.service})"
    if route.type == "redirect":
        return f"301 → `{route.to}`"
    if route.type == "status":
        return f"{route.status} {route.body or ''}".strip()
    if route.type == "alias":
        return f"alias `{host.site_root}/{route.path}`"
    return f"{route.type} files under `{host.site_root}`"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # A '|' in a value (a URL path may hold one) would start a new cell, even in a code span.
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return lines + [""]


def _rate_limit(host: HostSpec, route: Route) -> str:
    if route.rate_limit is None:
        return "–"
    limit = host.rate_limits[route.rate_limit]
    burst = f", burst {limit.burst}" if limit.burst else ""
    return f"`{route.rate_limit}` {limit.rate} r/{limit.per}{burst}"


def _route_row(fleet: Fleet, host: HostSpec, server_name: str, route: Route) -> list[str]:
    """What a user gets: where the route goes, the request that proves it and its answer, the
    per-client limit (beyond it: 429), and whether the upstream sees the path without the
    location."""
    return [host.node, server_name, f"`{route.nginx_location}`", _target(fleet, host, route),
            f"`{route.probe_path}`", str(route.expected_status), _rate_limit(host, route),
            f"strips `{route.location}`" if route.strip_prefix else "–"]


def _exposure_row(exposure: Exposure) -> list[str]:
    what = (f"forward → {exposure.what}, `{exposure.forward_to}`" if exposure.forward_to
            else exposure.what)
    return [exposure.node, exposure.address, str(exposure.port), what, exposure.who]


def _schedule(schedule: Schedule | None) -> str:
    """When a scheduled job runs (its timer); "–" for a unit that runs until stopped."""
    if schedule is None:
        return "–"
    when = (f"`{schedule.calendar}`" if schedule.calendar
            else f"every {schedule.every_seconds} s")
    if schedule.persistent:
        when += ", a missed run caught up"
    if schedule.randomized_delay_seconds:
        when += f", up to {schedule.randomized_delay_seconds} s later"
    return when


def _ssh_row(fleet: Fleet, host) -> list[str]:
    jump = fleet.jump_host(host.node)
    reached = [h.node for h in fleet.reached_through(host.node)]
    forwarding = sshd.tcp_forwarding(fleet, host)[0]
    why = (f" (jumps to {', '.join(reached)})" if reached
           else " (`sshd.tcp_forwarding`)" if forwarding != "no" else "")
    return [host.node, f"through {jump.node}" if jump else "directly", forwarding + why]


def _shared_state(fleet: Fleet) -> list[str]:
    """The directories apps share and the files generated into them (none: no section)."""
    hosts = [h for h in fleet.hosts.values() if h.shared_dirs or h.generated_files]
    if not hosts:
        return []
    out = ["## Shared state", "",
           "Each writer's units may write the directory (`ReadWritePaths=`), each reader's only "
           "read it; both hold its group. No other app of the host may enter it (its owner, "
           "group and mode; `shared_dirs` in the data). A generated file's change restarts the "
           "units of the apps using it.", ""]
    out += _table(["node", "directory", "owner", "mode", "writers", "readers"], [
        [h.node, f"`{d.path}`", f"{d.owner}:{d.group}", d.mode, ", ".join(d.writers) or "–",
         ", ".join(d.readers) or "–"] for h in hosts for d in h.shared_dirs])
    out += _table(["node", "generated file", "owner", "mode", "from", "used by"], [
        [h.node, f"`{f.path}`", f"{f.owner}:{f.group}", f.mode,
         f"secret `{f.secret}`" if f.secret else f"`templates/files/{f.template}`"
         + (f" (secrets {', '.join(f'`{n}`' for n in f.secrets)})" if f.secrets else ""),
         ", ".join(f.used_by) or "–"] for h in hosts for f in h.generated_files])
    return out


def _data(fleet: Fleet) -> list[str]:
    """The data each app declares (none: no section)."""
    rows = [[host.node, app.name, d.name, d.kind, f"`{app.data_path(d)}`"]
            for host in fleet.hosts.values() for app in host.apps for d in app.data]
    if not rows:
        return []
    return ["## Data", "",
            "Before a new release of the app goes live, each file is copied with SQLite's online "
            f"backup into the outgoing release (`ROOT/{RELEASES_DIR}/RELEASE/{DATA_SNAPSHOT_DIR}/`, "
            "root's alone, pruned with it), whence `deploys/scripts/restore-data.sh` puts it back. "
            "A service's data probe (Services) must answer 2xx with this data, as a candidate "
            "and at the live gate, else the release is rolled back.", "",
            *_table(["node", "app", "data", "kind", "path"], rows)]


def _steps(fleet: Fleet) -> list[str]:
    """The release steps each app declares (none: no section)."""
    rows = [[host.node, app.name, step.name, f"`{step_unit(app.step_service(step).unit, step.name)}`",
             " ".join(f"`{word}`" for word in step.command), f"{step.timeout_seconds} s"]
            for host in fleet.hosts.values() for app in host.apps for step in app.steps]
    if not rows:
        return []
    return ["## Release steps", "",
            "Run to their end, in this order, in the new release (its python, as the unit "
            "`UNIT@RELEASE`, with its service's env file) before the release's candidates and "
            "cutover: when the release changes, or the step's unit file or env file does. A "
            "step that fails keeps the release from going live. A rollback runs none.", "",
            *_table(["node", "app", "step", "unit", "python arguments", "timeout"], rows)]


def _key_pairs(fleet: Fleet) -> list[str]:
    """The key pairs each site's values must satisfy (none: no paragraph)."""
    pairs = fleet.key_pairs()
    if not pairs:
        return []
    return ["Key pairs: the key's value must derive to the address's, checked before any "
            "connection (`check`, and a deploy refuses a mismatch); the sandbox generates them. "
            + "; ".join(f"`{p.key}` and `{p.address}` ({p.kind}) at {site}" for site, p in pairs)
            + ".", ""]


def render_docs(fleet: Fleet) -> str:
    out = ["# AITBC infrastructure (generated)", "",
           "Generated by `aitbc-infra docs` from `inventory.py` and `group_data/`; "
           "`aitbc-infra check` fails when this file is stale. Do not edit by hand.", ""]
    out += ["## Hosts", ""]
    out += _table(["node", "groups", "site", "public address", "bridge address"], [
        [h.node, ", ".join(h.groups), fleet.site_of(h.node), str(h.public_address or "–"),
         str(h.bridge_address or "–")]
        for h in fleet.hosts.values()
    ])
    out += ["## Secrets by site", "",
            "Each site (a host with a public address and its containers) holds its own value "
            "of each secret: in its `[SITE]` section of the secrets file, or in the environment "
            "variable shown. Shared between sites: "
            + (", ".join(f"`{n}`" for n in sorted(fleet.shared_secrets)) or "none") + ".", ""]
    out += _key_pairs(fleet)
    out += _table(["site", "secret", "needed by", "environment"], [
        [site, f"`{name}`", "; ".join(users), f"`{env_name(name, site)}`"]
        for (site, name), users in needed(fleet).items()
    ])
    out += ["## Exposure", "",
            "Every other port of these addresses is closed to the wan, and so is every "
            "container but for the ports forwarded to it here: each host's firewall drops the "
            "rest, in and forward.", ""]
    out += _table(["host", "address", "port", "what answers", "who may reach it"],
                  [_exposure_row(e) for e in exposures(fleet)])
    out += ["## Topology", "",
            "A site is a host with a public address and the containers behind it. Arrows into "
            "a host are the public ports each source may reach (any address, a peer's public "
            "host, a network); from there the firewall forwards to a container's service, "
            "nginx takes HTTP(S), and each nginx site proxies to the nginx or service (unit, "
            "listening address) labelled with its routes' locations. Units without a port "
            "are left out.", "",
            "```mermaid", *topology.mermaid(fleet), "```", ""]
    out += ["## Routes", "",
            "Probe: the request verify makes from outside, and the status it must get. Rate "
            "limit: per client address, beyond it 429.", ""]
    out += _table(["node", "server name", "location", "target", "probe", "status", "rate limit",
                   "strip prefix"],
                  [_route_row(fleet, host, site.server_name, route)
                   for host in fleet.hosts.values() for site in host.nginx_sites
                   for route in site.routes])
    out += ["## Services", ""]
    rows = []
    for host in fleet.hosts.values():
        for app, svc in host.services:
            listen = endpoints.listen(host, svc).authority if svc.port else "–"
            health = f"`{svc.health}`" if svc.health else "–"
            if svc.data_probe:
                health += f", data probe `{svc.data_probe}`"
            rows.append([host.node, f"`{svc.unit}`", app.name, app.user, listen,
                         health, _schedule(svc.schedule),
                         f"`{app.root}`", ", ".join(app.all_secrets) or "–"])
    out += _table(["node", "unit", "app", "user", "listens", "health", "schedule", "root",
                   "secrets"], rows)
    out += _shared_state(fleet)
    out += ["## Releases", "",
            f"Each app runs `ROOT/{VENV_LINK}`, a symlink to its active release under "
            f"`ROOT/{RELEASES_DIR}/`; a restarted service must pass its health gate in time, else "
            "the previous release comes back.", ""]
    out += _table(["node", "app", "releases", "kept", "health gate"], [
        [host.node, app.name, f"`{app.releases}`", str(host.rollout.keep_releases),
         f"{host.rollout.health_timeout_seconds} s"]
        for host in fleet.hosts.values() for app in host.apps
    ])
    out += _data(fleet)
    out += _steps(fleet)
    out += ["## App sources", "",
            "Paths under the source root (`app_sources`, or `AITBC_SRC`; `.` is the root "
            "itself): Python projects built as wheels, extra requirements, requirements files, "
            f"source trees copied into the release (`ROOT/{VENV_LINK}/{RELEASE_SOURCES}/`), and "
            "the directories of them the units import from (`PYTHONPATH`, in this order).", ""]
    out += _table(["node", "app", "packages", "requirements", "trees", "import roots",
                   "constraints"], [
        [host.node, app.name, ", ".join(f"`{p}`" for p in app.packages) or "–",
         ", ".join([*app.requirements, *(f"`-r {f}`" for f in app.requirement_files)]) or "–",
         ", ".join(f"`{t}`" for t in app.trees) or "–",
         ", ".join(f"`{t}`" for t in app.import_roots) or "–",
         f"`{app.constraints or host.python.constraints or '–'}`"]
        for host in fleet.hosts.values() for app in host.apps
    ])
    out += ["## SSH", "",
            f"Every host's sshd takes keys only (root by key), no X11, agent, tunnel or socket "
            f"forwarding: `{SSHD_DROP_IN}`, checked with `sshd -t` before `systemctl reload "
            f"{sshd.UNIT}`. TCP forwarding (local only) is on where SSH jumps through the host "
            "to a container (ProxyJump).", ""]
    out += _table(["node", "reached", "TCP forwarding"],
                  [_ssh_row(fleet, host) for host in fleet.hosts.values()])
    return "\n".join(out).rstrip("\n") + "\n"
