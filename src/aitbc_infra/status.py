"""What a deployed fleet looks like right now, read with one SSH command per host, every host at
once: each app's live release, the releases kept and whether `aitbc-infra rollback` put the
live one back, each declared unit's state, leftover
candidate units, each site's certificate expiry, each chain node's head and its lag, whether the
firewall runs the rendered rules (and whether a revert of them is armed or ran), and the last
deploy's result.

A chain node's lag is how far its head trails the highest head of its chain: shown, never named
on its own, since independent proposers' heads differ by design. A node that follows its peers
(its app declares `sync_status`, where it reports the height it last saw of each) is named when
what it saw of a peer trails that peer's head, as read in the same round from the peer's own
host, by more than it fetches in LAG_SYNC_INTERVALS sync intervals: its sync has stopped.

Three steps, each testable alone: `ask` says what to read on a host (from the model only),
deploys/scripts/status.sh reads it, `parse` turns its lines into a `HostStatus`; `problems` then
names everything to look at, as (host, what, why). Everything shown came from a host: values are
escaped where they are printed (history.printable), never trusted as text for a terminal.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from aitbc_infra.databases import REDIS_UNIT, cluster
from aitbc_infra.drift import sha256
from aitbc_infra.fleet import Fleet
from aitbc_infra.history import DEPLOY, parse_log, printable
from aitbc_infra.host_names import (
    CANDIDATE_INFIX,
    DEPLOY_HISTORY,
    FIREHOL_APPLIED_DIGEST,
    FIREHOL_CONF,
    FIREHOL_SWITCH_DIR,
    RELEASE_MARKER,
    RELEASES_DIR,
    ROLLBACK_RECORD,
)
from aitbc_infra.host_scripts import script
from aitbc_infra.model import HostSpec
from aitbc_infra.remote import Runner
from aitbc_infra.render import certificate_files, certificate_lineage, render_host
from aitbc_infra.rollback_record import Record
from aitbc_infra.rollback_record import parse as parse_record

# A certificate closer to its end than this is named: certbot renews at 30 days left, so one
# under 14 means renewal has been failing for two weeks.
CERT_WARN_DAYS = 14
# What a node that follows its peers (its app declares `sync_status`) saw of a peer may trail
# that peer's head by what it fetches in this many sync intervals, as verify waits for a peer's
# head: one interval between two fetches, and two missed before it is named.
LAG_SYNC_INTERVALS = 3
# What a node says its last fetch of a peer met is shown up to this length (an exception's text).
ERROR_CHARS = 200
# What `systemctl is-enabled` accepts as enabled (exit 0), as verify reads it.
ENABLED = frozenset({"enabled", "enabled-runtime", "static", "alias", "indirect", "generated",
                     "transient"})
FIREHOL_UNIT = "firehol.service"
# A chain node's RPC answers its head here (its health path; tests/verify reads it alike): the
# chain app's other processes with a health path (at1's mock coordinator) are no nodes.
HEAD_PATH = "/rpc/head"


# What to read ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A peer a node follows: the URL it reports it by, and the unit answering that URL's head
    in the model (None: nothing of the fleet does; what the node saw of it is only shown)."""

    url: str
    node: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class ChainNode:
    unit: str
    url: str  # the RPC's head: its health URL on the host itself
    chain_id: str
    # Blocks what it saw of a peer may trail that peer's head; None: it declares no sync status
    # (its lag is only shown).
    lag_max: int | None
    sync_url: str | None = None  # its sync status (the app's `sync_status`) on the host itself
    peers: tuple[Peer, ...] = ()


@dataclass(frozen=True)
class Asked:
    """What `status.sh` reads on one host, all from the model."""

    apps: dict[str, str] = field(default_factory=dict)  # root -> app name
    units: tuple[str, ...] = ()
    keep_releases: int = 3
    candidate_prefixes: dict[str, str] = field(default_factory=dict)  # UNIT-candidate@ -> app
    certificates: dict[str, str] = field(default_factory=dict)  # lineage -> its chain file
    chain: tuple[ChainNode, ...] = ()
    firewall: str | None = None  # the rendered firehol.conf's digest; None: no firewall here


def ask(fleet: Fleet, node: str) -> Asked:
    host = fleet.hosts[node]
    units = [u for _, svc in host.services
             for u in (svc.started_unit, *([f"{svc.unit}.socket"] if svc.port else []))]
    chain = []
    for app, svc in host.services:
        if not (app.chain and svc.health == HEAD_PATH):
            continue
        rpc = fleet.endpoint(node, node, svc.unit).url
        if app.sync_status is None:
            chain.append(ChainNode(svc.unit, rpc + svc.health, host.chain.chain_id, None))
            continue
        chain.append(ChainNode(
            svc.unit, rpc + svc.health, host.chain.chain_id,
            LAG_SYNC_INTERVALS * host.chain.sync_interval_seconds // host.chain.block_time_seconds,
            sync_url=rpc + app.sync_status,
            peers=tuple(_peer(fleet, host, peer) for peer in app.peers)))
    # The services from Debian packages the apps read: the cluster's own unit (postgresql.service
    # only starts its clusters) and Redis.
    packaged = cluster(host)
    units += [*([packaged.unit] if packaged else []), *([REDIS_UNIT] if host.redis else [])]
    certificates = {certificate_lineage(host, s): certificate_files(host, s)[0]
                    for s in host.nginx_sites if s.tls}
    firewall = None
    if host.firewall:
        conf = next(f for f in render_host(fleet, host) if f.path == FIREHOL_CONF)
        firewall = sha256(conf.content.encode())  # as the deploy compares it
        units.append(FIREHOL_UNIT)
    return Asked(apps={app.root: app.name for app in host.apps}, units=tuple(units),
                 keep_releases=host.rollout.keep_releases,
                 candidate_prefixes={f"{svc.unit}{CANDIDATE_INFIX}": app.name
                                     for app, svc in host.services},
                 certificates=certificates, chain=tuple(chain), firewall=firewall)


def _peer(fleet: Fleet, host: HostSpec, peer: str) -> Peer:
    """A peer as the node names it (its URL, fleet.peer_url) and the unit whose head that URL
    gives: through every proxy of a public site, or a unit of the same host."""
    url = fleet.peer_url(host, peer)
    answered = fleet.answered_by(peer, HEAD_PATH) if peer in host.sites else (host.node, peer)
    return Peer(url, *(answered or (None, None)))


def arguments(asked: Asked) -> list[str]:
    """status.sh's own arguments: its records (the script's header says each)."""
    args = [RELEASE_MARKER]
    for root in asked.apps:
        args += ["app", root, f"{root}/{ROLLBACK_RECORD}"]
    for unit in asked.units:
        args += ["unit", unit]
    args.append("candidates")
    for lineage, path in asked.certificates.items():
        args += ["cert", lineage, path]
    for node in asked.chain:
        args += ["head", node.unit, node.url]
        if node.sync_url:
            args += ["sync", node.unit, node.sync_url]
    if asked.firewall:
        args += ["firewall", FIREHOL_CONF, FIREHOL_APPLIED_DIGEST, FIREHOL_SWITCH_DIR]
    return [*args, "history", DEPLOY_HISTORY]


def command(asked: Asked) -> str:
    """The one shell command run on the host: lib.sh and status.sh inline (as deploys/shell.py
    runs every host script), each value one quoted argument."""
    return script("status", *arguments(asked))


# What was read ----------------------------------------------------------------------------------


@dataclass
class Release:
    name: str
    kib: int | None
    complete: bool
    # When it was last activated (activate-release touches it) or, never activated, built:
    # UTC, ISO 8601; None when the host did not say.
    activated: str | None = None


@dataclass
class AppStatus:
    name: str
    root: str
    link: str | None = None  # what ROOT/.venv points at, as read
    releases: list[Release] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # candidate units systemd still knows
    rollback: Record | None = None  # `aitbc-infra rollback` put the live release back
    rollback_unreadable: str | None = None  # a rollback record is there, but not one: why

    @property
    def live(self) -> str | None:
        prefix = f"{RELEASES_DIR}/"
        return self.link[len(prefix):] if self.link and self.link.startswith(prefix) else None

    def by_activation(self) -> list[Release]:
        """The releases kept, the most recently activated first (as the host prunes them)."""
        return sorted(self.releases, key=lambda r: (r.activated or "", r.name), reverse=True)


@dataclass
class UnitStatus:
    unit: str
    load: str = ""
    active: str = ""
    sub: str = ""
    enabled: str = ""

    @property
    def ok(self) -> bool:
        return self.load == "loaded" and self.active == "active" and self.enabled in ENABLED


@dataclass
class CertStatus:
    lineage: str
    path: str
    not_after: str | None = None  # as ISO 8601, UTC
    days_left: int | None = None


@dataclass
class PeerView:
    """What a following node last saw of one peer, against that peer's head now."""

    url: str
    node: str | None  # who answers the URL in the model
    unit: str | None
    seen: int | None = None  # the height the node reports for the peer; None: none yet
    error: str | None = None  # what the node's last fetch of it said went wrong
    head: int | None = None  # the peer's head as read in this round; None: not read
    behind: int | None = None  # head - seen


@dataclass
class HeadStatus:
    unit: str
    url: str
    chain_id: str
    height: int | None = None
    lag: int | None = None  # blocks behind the highest head of its chain in the fleet: shown
    lag_max: int | None = None  # what a peer's view may trail (None: no sync status declared)
    sync_url: str | None = None
    # None: no sync status declared, or none could be read (then sync_url says where from).
    peers: list[PeerView] | None = None


@dataclass
class FirewallStatus:
    rendered: bool  # firehol.conf on disk is the rendered one
    present: bool  # there is a firehol.conf at all
    applied_recorded: bool  # the deploy recorded the rules it applied
    live_as_applied: bool  # the live rules are those
    # A revert is armed: applied rules no deploy confirmed yet go back then (UTC; "unknown"
    # when the host kept no time). None: none armed.
    revert_armed_until: str | None = None
    revert_overdue: bool = False  # armed, and its time passed by the host's clock: it never ran
    reverted_at: str | None = None  # the host put unconfirmed rules back then (UTC), as it said


@dataclass
class HostStatus:
    node: str
    error: str | None = None  # the host could not be read: why
    keep_releases: int = 3  # the model's rollout.keep_releases: more kept is named
    apps: list[AppStatus] = field(default_factory=list)
    units: list[UnitStatus] = field(default_factory=list)
    unknown_candidates: list[str] = field(default_factory=list)  # of no app of the model
    certificates: list[CertStatus] = field(default_factory=list)
    chain: list[HeadStatus] = field(default_factory=list)
    firewall: FirewallStatus | None = None
    last_deploy: dict | None = None  # time, operator, message, result, step
    unreadable_history: str | None = None  # the last line is not an entry: why


def _fields(line: str, count: int) -> list[str] | None:
    """A line's `count` tab-separated fields, the last holding the rest (a host's value)."""
    parts = line.split("\t", count - 1)
    return parts if len(parts) == count else None


def _height(body: str) -> int | None:
    try:
        height = json.loads(body)["height"]
    except (ValueError, KeyError, TypeError):
        return None
    return height if isinstance(height, int) and not isinstance(height, bool) else None


def _peer_views(body: str, asked: ChainNode) -> list[PeerView] | None:
    """The node's sync status (`{"peers": [{"url", "height", "error"}]}`) for the peers it is
    declared to follow; None when the body is no such status."""
    try:
        reported = json.loads(body)["peers"]
        by_url = {p["url"]: p for p in reported if isinstance(p, dict) and isinstance(p.get("url"), str)}
    except (ValueError, KeyError, TypeError):
        return None
    views = []
    for peer in asked.peers:
        found = by_url.get(peer.url, {})
        seen, error = found.get("height"), found.get("error")
        views.append(PeerView(peer.url, peer.node, peer.unit,
                              seen if isinstance(seen, int) and not isinstance(seen, bool) else None,
                              error[:ERROR_CHARS] if isinstance(error, str) else
                              (None if found else "the node reports no such peer")))
    return views


def _epoch(text: str) -> str | None:
    """Seconds since the epoch (stat's %.9Y) as UTC, ISO 8601 to the microsecond, always: two
    releases touched within a second still sort as they were touched, as strings."""
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or not (fraction == "" or fraction.isdigit()):
        return None
    moment = datetime.fromtimestamp(int(whole), UTC).replace(
        microsecond=int(fraction[:6].ljust(6, "0")) if fraction else 0)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _not_after(text: str) -> datetime | None:
    """openssl's `notAfter=Mar 10 12:00:00 2026 GMT`."""
    _, equals, value = text.partition("=")
    try:
        return datetime.strptime(value.strip(), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC) \
            if equals else None
    except ValueError:
        return None


def parse(node: str, asked: Asked, output: str) -> HostStatus:
    """status.sh's lines as a HostStatus; what the host did not answer stays unknown (None)."""
    status = HostStatus(node, keep_releases=asked.keep_releases)
    apps = {root: AppStatus(name, root) for root, name in asked.apps.items()}
    units = {u: UnitStatus(u) for u in asked.units}
    certs = {lineage: CertStatus(lineage, path) for lineage, path in asked.certificates.items()}
    heads = {n.unit: HeadStatus(n.unit, n.url, n.chain_id, lag_max=n.lag_max, sync_url=n.sync_url)
             for n in asked.chain}
    followers = {n.unit: n for n in asked.chain if n.sync_url}
    digests: dict[str, str] = {}
    now: datetime | None = None
    history: list[str] = []
    # Lines end at a newline only (a host's value may hold \x1c or \u2028).
    for line in output.removesuffix("\n").split("\n") if output else []:
        kind, _, rest = line.partition("\t")
        if kind == "now" and rest.isdigit():
            now = datetime.fromtimestamp(int(rest), UTC)
        elif kind == "live" and (f := _fields(rest, 2)) and f[0] in apps:
            apps[f[0]].link = f[1] or None
        elif kind == "release" and (f := _fields(rest, 5)) and f[0] in apps:
            apps[f[0]].releases.append(Release(f[4], int(f[2]) if f[2].isdigit() else None,
                                               f[1] == "1", _epoch(f[3])))
        elif kind == "rollback" and (f := _fields(rest, 2)) and f[0] in apps:
            record = parse_record(f[1])
            if isinstance(record, Record):
                apps[f[0]].rollback = record
            else:
                apps[f[0]].rollback_unreadable = record
        elif kind == "unit" and (f := _fields(rest, 2)) and f[0] in units:
            key, _, value = f[1].partition("=")
            attribute = {"LoadState": "load", "ActiveState": "active", "SubState": "sub",
                         "UnitFileState": "enabled"}.get(key)
            if attribute:
                setattr(units[f[0]], attribute, value)
        # A stopped candidate is only waiting for systemd to unload it: not left over.
        elif kind == "candidate" and (f := _fields(rest, 2)) and f[0] != "inactive":
            owner = next((a for prefix, a in asked.candidate_prefixes.items()
                          if f[1].startswith(prefix)), None)
            target = next((a for a in apps.values() if a.name == owner), None)
            (target.candidates if target else status.unknown_candidates).append(f[1])
        elif kind == "cert" and (f := _fields(rest, 2)) and f[0] in certs:
            end = _not_after(f[1])
            if end:
                certs[f[0]].not_after = _utc(end)
                certs[f[0]].days_left = ((end - now).days if now else None)
        elif kind == "head" and (f := _fields(rest, 2)) and f[0] in heads:
            heads[f[0]].height = _height(f[1])
        elif kind == "sync" and (f := _fields(rest, 2)) and f[0] in followers:
            heads[f[0]].peers = _peer_views(f[1], followers[f[0]])
        elif kind == "firewall" and (f := _fields(rest, 2)):
            digests[f[0]] = f[1]
        elif kind == "history":
            history.append(rest)
    status.apps, status.units = list(apps.values()), list(units.values())
    status.certificates, status.chain = list(certs.values()), list(heads.values())
    if asked.firewall:
        conf, live, applied = (digests.get(k, "") for k in ("conf", "live", "applied"))
        status.firewall = FirewallStatus(rendered=conf == asked.firewall, present=bool(conf),
                                         applied_recorded=bool(applied),
                                         live_as_applied=bool(applied) and live == applied,
                                         revert_armed_until=_deadline(digests.get("armed")),
                                         revert_overdue=_overdue(digests.get("armed"), now),
                                         reverted_at=digests.get("reverted") or None)
    _last_deploy(status, history)
    return status


def _utc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _deadline(seconds: str | None) -> str | None:
    """An armed revert's deadline as status.sh read it (seconds since the epoch)."""
    if seconds is None:
        return None
    try:
        return _utc(datetime.fromtimestamp(int(seconds), UTC)) if seconds.isdigit() else "unknown"
    except (ValueError, OverflowError, OSError):  # out of any calendar
        return "unknown"


def _overdue(seconds: str | None, now: datetime | None) -> bool:
    return bool(seconds and seconds.isdigit() and now and int(seconds) < now.timestamp())


def _last_deploy(status: HostStatus, history: list[str]) -> None:
    entries, skipped = parse_log(status.node, "\n".join(history[-1:]))
    if entries:
        data = entries[-1].data
        status.last_deploy = {k: data.get(k) for k in ("time", "operator", "message", "result",
                                                        "step")}
        status.last_deploy["kind"] = data.get("kind", DEPLOY)
    elif skipped:
        status.unreadable_history = skipped[0].removeprefix(f"{status.node}: ")


def link_chains(statuses: list[HostStatus]) -> None:
    """Each head's lag: how far it trails the highest head of its chain, of every host read;
    and for a following node, how far what it saw of each peer trails that peer's head (read
    in the same round, when the peer's host was read)."""
    highest: dict[str, int] = {}
    for head in (h for s in statuses for h in s.chain if h.height is not None):
        highest[head.chain_id] = max(highest.get(head.chain_id, head.height), head.height)
    for head in (h for s in statuses for h in s.chain if h.height is not None):
        head.lag = highest[head.chain_id] - head.height
    heights = {(s.node, h.unit): h.height for s in statuses for h in s.chain}
    for view in (v for s in statuses for h in s.chain for v in h.peers or []):
        view.head = heights.get((view.node, view.unit))
        if view.head is not None and view.seen is not None:
            # The node fetched it up to an interval before this round read the head; a fetch
            # between the two can see it ahead.
            view.behind = max(0, view.head - view.seen)


# Reading a fleet -------------------------------------------------------------------------------


def read(node: str, asked: Asked, run: Runner) -> HostStatus:
    """One host read through `run`: what `asked` names (`aitbc-infra rollback` asks for its
    apps alone)."""
    done = run(node, command(asked))
    if done.returncode != 0 or not done.stdout.startswith("now\t"):
        said = (done.stderr or "").strip().splitlines()
        return HostStatus(node, error=printable(said[-1] if said else
                                                f"exit status {done.returncode}"))
    return parse(node, asked, done.stdout)


def gather(fleet: Fleet, run: Runner, nodes: list[str] | None = None) -> list[HostStatus]:
    """Every host read at once through `run`, one command each, in the fleet's order."""
    nodes = list(fleet.hosts) if nodes is None else nodes
    asked = {node: ask(fleet, node) for node in nodes}
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        statuses = list(pool.map(lambda node: read(node, asked[node], run), nodes))
    link_chains(statuses)
    return statuses


# What to look at ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    host: str
    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.host}: {self.what}: {self.why}"


def problems(status: HostStatus) -> list[Problem]:
    """Everything on one host to look at, each named; [] for a healthy host."""
    if status.error:
        return [Problem(status.node, "host", f"cannot be read: {status.error}")]
    found: list[tuple[str, str]] = []
    for app in status.apps:
        found += _app_problems(app, status.keep_releases)
    for unit in status.units:
        if not unit.ok:
            found.append((f"unit {unit.unit}", _unit_state(unit)))
    found += [(f"unit {u}", "a candidate unit no app of the model runs (left by a deploy)")
              for u in status.unknown_candidates]
    for cert in status.certificates:
        if cert.days_left is None:
            found.append((f"certificate {cert.lineage}", f"none readable at {cert.path}"))
        elif cert.days_left < 0:
            found.append((f"certificate {cert.lineage}", f"expired on {cert.not_after}"))
        elif cert.days_left < CERT_WARN_DAYS:
            found.append((f"certificate {cert.lineage}", f"expires in {cert.days_left} day(s), "
                          f"on {cert.not_after} (under {CERT_WARN_DAYS})"))
    for head in status.chain:
        if head.height is None:
            found.append((f"chain node {head.unit}", f"no head height from {head.url}"))
        found += [(f"chain node {head.unit}", why) for why in _sync_problems(head)]
    last = (status.last_deploy or {}).get("time")
    found += _firewall_problems(status.firewall, last if isinstance(last, str) else None)
    if status.unreadable_history:
        found.append(("last deploy", status.unreadable_history))
    elif status.last_deploy is None:
        found.append(("last deploy", "no deploy recorded in the history"))
    elif status.last_deploy.get("result") != "ok":
        step = status.last_deploy.get("step")
        found.append(("last deploy", f"{status.last_deploy.get('result')} at "
                      f"{status.last_deploy.get('time')}" + (f", step {step}" if step else "")))
    return [Problem(status.node, printable(what), printable(why)) for what, why in found]


def _sync_problems(head: HeadStatus) -> list[str]:
    """What is wrong with a following node's view of its peers: its sync has stopped."""
    if head.sync_url is None:
        return []
    if head.peers is None:
        return [f"no sync status from {head.sync_url}"]
    found = []
    for view in head.peers:
        if view.seen is None:
            found.append(f"has seen no head of its peer {view.url}"
                         + (f" ({view.error})" if view.error else ""))
        elif view.behind is not None and view.behind > (head.lag_max or 0):
            found.append(f"saw its peer {view.url} at height {view.seen}, {view.behind} blocks "
                         f"behind that peer's head ({view.unit} on {view.node}: {view.head}; at "
                         f"most {head.lag_max}): its sync has stopped"
                         + (f" ({view.error})" if view.error else ""))
    return found


def _unit_state(unit: UnitStatus) -> str:
    if unit.load and unit.load != "loaded":
        return f"{unit.load}, not loaded"
    if not unit.active:
        return "no state read"
    state = f"{unit.active} ({unit.sub or '?'})"
    return state + ("" if unit.enabled in ENABLED else f", {unit.enabled or 'not enabled'}")


def _app_problems(app: AppStatus, keep_releases: int) -> list[tuple[str, str]]:
    what = f"app {app.name}"
    found = []
    releases = {r.name: r for r in app.releases}
    if app.link is None:
        found.append((what, f"no live release ({app.root} has no release link)"))
    elif app.live is None:
        found.append((what, f"its release link points at {app.link}, not a release"))
    elif app.live not in releases:
        found.append((what, f"the live release {app.live} is missing"))
    elif not releases[app.live].complete:
        found.append((what, f"the live release {app.live} is an unfinished build"))
    if len(releases) > keep_releases:
        found.append((what, f"keeps {len(releases)} releases (at most {keep_releases})"))
    found += [(f"unit {u}", f"a candidate of {app.name} left running or failed (by an "
               "interrupted deploy?)") for u in app.candidates]
    if app.rollback:
        found.append((what, f"{rolled_back(app.rollback)}: the next deploy puts the data's "
                      "release back (deploy --keep-rollbacks leaves it)"))
    elif app.rollback_unreadable:
        found.append((what, f"its rollback record {app.root}/{ROLLBACK_RECORD} is unreadable: "
                      f"{app.rollback_unreadable}"))
    return found


def rolled_back(record: Record) -> str:
    """A rollback record in a person's words (values escaped where they are printed)."""
    return (f"rolled back to {record.release} by {record.operator} at {record.time}; "
            f"the data's release is {record.data}")


def _firewall_problems(firewall: FirewallStatus | None,
                       last_deploy: str | None) -> list[tuple[str, str]]:
    """What to look at of the firewall; a revert only until a deploy ran after it (its failed
    run is then history: the next one found the firewall as it was, or applied it again)."""
    if firewall is None:
        return []
    found = []
    if not firewall.present:
        found.append(("firewall", f"no {FIREHOL_CONF}"))
    elif not firewall.rendered:
        found.append(("firewall", f"{FIREHOL_CONF} differs from the rendered rules (edited by "
                      "hand, or a deploy is owed)"))
    if not firewall.applied_recorded:
        found.append(("firewall", "no record of the rules the deploy applied"))
    elif not firewall.live_as_applied:
        found.append(("firewall", "the live rules differ from those the deploy applied "
                      "(changed by hand)"))
    armed = firewall.revert_armed_until
    if firewall.revert_overdue:
        found.append(("firewall", f"a revert armed until {armed} never ran (the host restarted "
                      "meanwhile?): the rules live were never confirmed by their deploy; a "
                      "deploy applies and confirms them again"))
    elif armed:
        found.append(("firewall", f"a revert is armed until {armed}: rules a deploy applied are "
                      "not confirmed over a new SSH connection yet; unless they are, the host "
                      "puts the previous ones back then"))
    if firewall.reverted_at and not (last_deploy and last_deploy > firewall.reverted_at):
        found.append(("firewall", f"the host put the previous rules back at "
                      f"{firewall.reverted_at}: a deploy's new rules were not confirmed over a "
                      "new SSH connection in time (did they cut it?)"))
    return found


# The document ----------------------------------------------------------------------------------

# Of the --json document's shape (schemas/status.json). 2: a chain node's lag_max bounds what it
# saw of each peer (`peers`), no longer its lag behind the highest head.
VERSION = 2


def document(statuses: list[HostStatus], found: list[Problem], inventory: str) -> dict:
    return {"version": VERSION, "command": "status", "inventory": inventory,
            "exit_code": exit_code(found), "cert_warn_days": CERT_WARN_DAYS,
            "hosts": {s.node: _host_document(s) for s in statuses},
            "problems": [asdict(p) for p in found]}


def _host_document(status: HostStatus) -> dict:
    data = asdict(status)
    for app, shown in zip(status.apps, data["apps"], strict=True):
        shown["live"] = app.live
        shown["rollback"] = app.rollback.document() if app.rollback else None
    return data


def exit_code(found: list[Problem]) -> int:
    return 1 if found else 0

