"""What a run sets off on a host, decided once, before any operation: from the host's plan and
the state it was in when the run read it.

Every operation of a run writes what the plan says, so what its writes will set off is known
from (plan, state) alone, before the first of them. The deploy carries out this decision and
prints it (deploys/site.py), `aitbc-infra diff` prints the same decision with the base commit's
render for the state (aitbc_infra/diff.py), and a run's summary repeats what it printed.

- A journal (nginx, firehol, sshd, the trusted CAs) owes its validation and activation when a
  path of it differs, an earlier run left it pending, or its service does not run (nginx,
  firehol; firehol also when its live rules drifted from those it last applied).
- An app owes its activation (deploys/scripts/activate-release.sh) when one of its unit,
  socket, env, timer or candidate files differs, an earlier run left its journal pending, one
  of its units owes something, or its release changes. Each unit owes one of: SOCKET (its
  socket file differs, or the socket does not run: the service stops, the socket restarts, the
  service starts), RESTART (its unit or env file differs, a generated file it reads differs
  (`used_by`), its release changes, an unfinished run left a restart mark or one of its files
  journaled), START (it or its socket is not active or not enabled), or NOTHING.
- A release step (an app's `steps`, e.g. a database migration) owes a run, before its app's
  candidates and cutover, when the release changes (a first release too), when its own unit
  file or the env file it reads (its service's) differs, or when an earlier run left the app's
  journal pending (it may have ended before its steps). Never for a rollback, which builds
  and migrates nothing (aitbc_infra/rollback.py hands activate-release.sh no step).
- A scheduled job is never started by a run: its unit is its timer (UNIT.timer), which owes
  RESTART when the timer file differs and START when the timer is not active or not enabled,
  and nothing for a new release or a change of the job's own unit or env file (loaded, they
  reach the job at its next run). An app whose units are all timers still owes its activation
  for a new release: the release is switched, nothing restarted.
- An ACME certificate not issued yet is issued (deploys/tls.py), which takes its site's link
  away meanwhile: nginx owes a reload with the link back.
- An app `aitbc-infra rollback` put on a kept release (its rollback record is there) is drift
  from the data, said as such (`rollbacks`): by default the run puts the data's release back,
  as any release change (candidate, cutover, gate: each unit restarted), and forgets the
  record once that passed; told to keep rollbacks (deploy --keep-rollbacks), the run leaves
  the app on its release (the caller brings it to that release: nothing built, nothing owed
  for the release) and says so in a note, which is no drift.
- On a host running PostgreSQL, a role of the data is created when missing and set when its
  attributes are not "login" alone or its password is not its secret's (the stored SCRAM
  verifier is compared with one computed here: aitbc_infra/scram.py); a database is created
  when missing and given its owner when another owns it; everything is owed when the cluster
  did not answer (deploys/packaged.py). A changed password also changes the env files holding
  its URL, so the units reading them restart, after the role was set.
Files without an activation (read by a process when it next starts) and the synced trees (the
web content, the wheelhouse) set off nothing. Only what a process reads counts: a mode or owner
fixed in place restarts nothing. No pyinfra and nothing read here: a function of its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from aitbc_infra.activation import NGINX, Journal, Load, ReadBy, Restart, app_journal
from aitbc_infra.drift import (
    OWNERSHIP,
    ROLE_ATTRIBUTES,
    ROLE_GRANTED,
    PathState,
    PostgresState,
    RoleState,
    State,
    entry_drift,
    local_sha256,
    sha256,
)
from aitbc_infra.host_names import (
    FIREHOL_JOURNAL,
    SYSTEMD_DIR,
    journal_copy,
    release_link,
    restart_mark,
    step_template,
    step_unit,
)
from aitbc_infra.model import App, HostSpec
from aitbc_infra.plan import Databases, Directory, HostPlan, Link, Upload, release_marker
from aitbc_infra.render import STARTED_KINDS, certificate_files, certificate_lineage
from aitbc_infra.scram import ITERATIONS, digest, matches, verifier

RESTART, SOCKET, START, NOTHING = "restart", "socket", "start", "none"
# Set to 1 (`aitbc-infra deploy --keep-rollbacks`): the run leaves each rolled-back app on the
# release a rollback put back instead of putting the data's back (deploys/site.py reads it).
KEEP_ROLLBACKS_ENV = "AITBC_KEEP_ROLLBACKS"


@dataclass(frozen=True)
class UnitOwed:
    unit: str
    action: str  # RESTART, SOCKET, START or NOTHING
    reasons: tuple[str, ...] = ()
    listens: bool = False  # it has a UNIT.socket
    # Its unit file is not on the host yet (or only as an unfinished run left it): a failed
    # gate has nothing to restore, the unit is stopped and its files removed.
    new: bool = False

    @property
    def line(self) -> str:
        verb = {RESTART: f"restart {self.unit}", START: f"start {self.unit}",
                SOCKET: f"restart {self.unit}.socket and {self.unit}"}[self.action]
        return f"{verb}: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class StepOwed:
    """A release step the app's activation runs, in the new release, before its candidates."""

    name: str
    template: str  # what it runs as, up to the '@' (host_names.step_template): @RELEASE follows
    reasons: tuple[str, ...]

    def line(self, app: str) -> str:
        return f"run step {self.name} of {app} ({self.template}@): {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class AppOwed:
    app: str
    units: tuple[UnitOwed, ...]  # every unit of the app, those owed NOTHING too
    reasons: tuple[str, ...] = ()  # what else its activation loads: candidate units, a journal
    # A new release no unit restarts for (every unit a timer): switched to, nothing restarted.
    release: tuple[str, ...] = ()
    steps: tuple[StepOwed, ...] = ()  # the release steps it runs first, in the data's order

    def lines(self) -> list[str]:
        loads = [f"load the units of {self.app}: {'; '.join(self.reasons)}"] if self.reasons else []
        switch = ([f"switch {self.app} to its release, for its jobs' next runs: "
                   f"{'; '.join(self.release)}"] if self.release else [])
        return (loads + [s.line(self.app) for s in self.steps] + switch
                + [u.line for u in self.units if u.action != NOTHING])


@dataclass(frozen=True)
class JournalOwed:
    journal: Journal
    reasons: tuple[str, ...]

    @property
    def line(self) -> str:
        # A configuration is reloaded, or its service restarted where it has no reload (Redis).
        verb = "restart" if self.journal.effect.endswith(" restart") else "reload"
        return f"{verb} {self.journal.name}: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class CertificateOwed:
    site: str
    lineage: str
    reason: str

    @property
    def line(self) -> str:
        return f"issue certificate {self.lineage} for {self.site}: {self.reason}"


ROLE, DATABASE = "role", "database"
CREATE, SET = "create", "set"  # a role created, or its attributes and password set; a
OWNER = "owner"  # database given its owner


@dataclass(frozen=True)
class DatabaseOwed:
    """A PostgreSQL role or database the run creates or sets (deploys/packaged.py)."""

    kind: str  # ROLE or DATABASE
    name: str
    action: str  # CREATE or SET (a role), CREATE or OWNER (a database)
    reasons: tuple[str, ...]
    password: bool = False  # a role: its password is set to its secret's value
    owner: str = ""  # a database: its owner

    @property
    def line(self) -> str:
        verb = {(ROLE, CREATE): f"create role {self.name}", (ROLE, SET): f"set role {self.name}",
                (DATABASE, CREATE): f"create database {self.name} owned by {self.owner}",
                (DATABASE, OWNER): f"give database {self.name} to {self.owner}"}[
                    self.kind, self.action]
        return f"{verb}: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class RolledBack:
    """An app whose live release `aitbc-infra rollback` put back: its record is on the host."""

    app: str
    node: str
    live: str | None  # the release its .venv links to; None: no release link
    data: str  # the release the data gives it, as this run builds it
    kept: bool = False  # the run leaves it on `live` (deploy --keep-rollbacks)

    @property
    def line(self) -> str:
        where = f"{self.app} on {self.node}"
        if self.kept:
            return (f"{where}: live release {self.live} was rolled back; left on it "
                    f"(--keep-rollbacks), the data's release is {self.data}")
        if self.live == self.data:
            return (f"{where}: live release {self.live} was rolled back to the data's release; "
                    "its rollback record is removed")
        return (f"{where}: live release {self.live} was rolled back; putting the data's "
                f"release {self.data} back")


def rollbacks(spec: HostSpec, state: State, releases: Mapping[str, str],
              keep: bool = False) -> dict[str, RolledBack]:
    """The apps of `spec` a rollback put on another release (their record is there), each
    with the data's release (`releases`); `keep`: each is left on its live release, when that
    is a whole release other than the data's."""
    prefix = release_link("")
    found = {}
    for app in spec.apps:
        if app.rollback_record not in state.paths:
            continue
        link = state.paths.get(app.venv)
        live = (link.sha256.removeprefix(prefix) if link and link.kind == "l"
                and link.sha256.startswith(prefix) else None)
        # Kept only on a whole release other than the data's: anything else is put back.
        whole = live is not None and release_marker(app.releases, live) in state.paths
        found[app.name] = RolledBack(app.name, spec.node, live, releases[app.name],
                                     keep and whole and live != releases[app.name])
    return found


@dataclass(frozen=True)
class Decision:
    """What is owed on one host; what is not owed is absent."""

    apps: dict[str, AppOwed]
    journals: dict[str, JournalOwed]
    certificates: dict[str, CertificateOwed]  # by site name
    rollbacks: dict[str, RolledBack] = field(default_factory=dict)  # by app name
    databases: tuple[DatabaseOwed, ...] = ()  # roles first, then the databases they own

    def lines(self) -> list[str]:
        # In the order the run carries them out: the roles and databases before the apps
        # restarted with their URLs.
        return [*(r.line for r in self.rollbacks.values() if not r.kept),
                *(d.line for d in self.databases),
                *(line for a in self.apps.values() for line in a.lines()),
                *(c.line for c in self.certificates.values()),
                *(j.line for _, j in sorted(self.journals.items()))]

    def notes(self) -> list[str]:
        """What the run leaves as it is on purpose, said but owed nothing: no drift."""
        return [r.line for r in self.rollbacks.values() if r.kept]

    @property
    def restarts(self) -> set[str]:
        return {u.unit for a in self.apps.values() for u in a.units if u.action != NOTHING}

    @property
    def reloads(self) -> set[str]:
        return {j.journal.effect for j in self.journals.values()}

    def as_dict(self) -> dict:
        """The decision as JSON data (schemas/deploy.json, `decision`): what is restarted,
        reloaded, loaded and issued, each with its reasons, and the lines the deploy prints."""
        return {
            "restarts": [{"unit": u.unit, "app": a.app, "action": u.action, "reasons": list(u.reasons)}
                         for a in self.apps.values() for u in a.units if u.action != NOTHING],
            "reloads": [{"journal": name, "effect": j.journal.effect, "reasons": list(j.reasons)}
                        for name, j in sorted(self.journals.items())],
            "loads": [{"app": a.app, "reasons": list(a.reasons)}
                      for a in self.apps.values() if a.reasons],
            "steps": [{"app": a.app, "step": s.name, "unit": s.template, "reasons": list(s.reasons)}
                      for a in self.apps.values() for s in a.steps],
            "certificates": [{"site": c.site, "lineage": c.lineage, "reason": c.reason}
                             for c in self.certificates.values()],
            "rollbacks": [{"app": r.app, "live": r.live, "data": r.data, "kept": r.kept}
                          for r in self.rollbacks.values()],
            "databases": [{"kind": d.kind, "name": d.name, "action": d.action,
                           "reasons": list(d.reasons)} for d in self.databases],
            "lines": self.lines(),
        }


def decide(spec: HostSpec, plan: HostPlan, state: State, releases: Mapping[str, str],
           rolled_back: Mapping[str, RolledBack] | None = None) -> Decision:
    """What the run owes the host `spec` whose plan is `plan`, found in `state`, bringing each
    app to the release `releases[app name]`; `rolled_back`: the apps a rollback put on another
    release (`rollbacks`), the kept ones already at their live release in `releases`."""
    rolled_back = dict(rolled_back or {})
    changed = _changed(plan, state)
    certificates = _certificates(spec, state)
    journals = _journals(plan, state, changed)
    if certificates:
        journals[NGINX.name] = JournalOwed(NGINX, (
            *(journals[NGINX.name].reasons if NGINX.name in journals else ()),
            *(f"{c.site} enabled again once its certificate is issued"
              for c in certificates.values())))
    apps = {app.name: owed for app in spec.apps
            if (owed := _app(app, plan, state, changed, releases[app.name],
                             rolled_back.get(app.name)))}
    databases = databases_owed(plan.postgresql, state.postgresql) if plan.postgresql else ()
    return Decision(apps, journals, certificates, rolled_back, databases)


def databases_owed(wanted: Databases, found: PostgresState,
                   passwords: bool = True) -> tuple[DatabaseOwed, ...]:
    """The roles and databases of the plan the cluster does not hold as planned (`verify`
    without the secrets at hand leaves the passwords out: `passwords` False)."""
    if not found.running:
        why = f"{wanted.cluster.unit} did not answer: nothing of it was read"
        return (*(DatabaseOwed(ROLE, r.name, CREATE, (why,), password=True) for r in wanted.roles),
                *(DatabaseOwed(DATABASE, name, CREATE, (why,), owner=owner)
                  for name, owner in wanted.owners))
    owed = []
    for role in wanted.roles:
        current = found.roles.get(role.name)
        if current is None:
            owed.append(DatabaseOwed(ROLE, role.name, CREATE, ("missing",), password=True))
            continue
        reasons = []
        if current.attributes != ROLE_GRANTED:
            has = ", ".join(a for a in ROLE_ATTRIBUTES if a in current.attributes)
            reasons.append(f"it has {has or 'no attribute'} (declared: "
                           f"{', '.join(sorted(ROLE_GRANTED))} only)")
        password = passwords and not matches(role.password, current.iterations, current.salt,
                                             current.digest)
        if password:
            reasons.append(f"its password is not the value of {role.secret}")
        if reasons:
            owed.append(DatabaseOwed(ROLE, role.name, SET, tuple(reasons), password=password))
    for name, owner in wanted.owners:
        current_owner = found.databases.get(name)
        if current_owner is None:
            owed.append(DatabaseOwed(DATABASE, name, CREATE, ("missing",), owner=owner))
        elif current_owner != owner:
            owed.append(DatabaseOwed(DATABASE, name, OWNER, (f"owned by {current_owner}",),
                                     owner=owner))
    return tuple(owed)


def _changed(plan: HostPlan, state: State) -> dict[str, str]:
    """{path: how it changes} for each path with an activation that the run writes anew."""
    found = {}
    for entry in (*plan.files, *plan.uploads, *plan.links):
        if entry.activation is None:
            continue
        current = state.paths.get(entry.path)
        if any(d.aspect not in OWNERSHIP for d in entry_drift(entry, current)):
            gone = isinstance(entry, Link) and entry.target is None
            how = "removed" if gone else "added" if current is None else "changed"
            found[entry.path] = f"{entry.path} {how}"
        elif isinstance(entry, Link) and entry.may_appear and (
                str(PurePosixPath(entry.path).parent) not in state.paths):
            # deploys/managed.py removes it all the same: the package installed meanwhile may
            # have made it.
            found[entry.path] = f"{entry.path} removed if its package makes it"
    return found


def _down(state: State, unit: str) -> tuple[list[str], list[str]]:
    """Why `unit` does not run: (it is not active, it is not enabled), each empty if it is."""
    active, enabled = state.unit(unit)
    return ([f"{unit} not active ({active or 'unknown'})"] if active != "active" else [],
            [f"{unit} not enabled ({enabled or 'unknown'})"] if enabled != "enabled" else [])


def _journals(plan: HostPlan, state: State, changed: dict[str, str]) -> dict[str, JournalOwed]:
    reasons: dict[Journal, list[str]] = {}
    for entry in (*plan.files, *plan.uploads, *plan.links):
        if isinstance(entry.activation, Journal):
            found = reasons.setdefault(entry.activation, [])
            if entry.path in changed:
                found.append(changed[entry.path])
    for journal, found in reasons.items():
        if state.pending(journal.name):
            found.append(f"journal {journal.name} left pending by an unfinished run")
        # A configuration is live only while its service runs.
        if journal.service in plan.units:
            inactive, disabled = _down(state, journal.service)
            found += inactive + disabled
        if journal.running in plan.units:
            found += _down(state, journal.running)[0]
    firehol = next((j for j in reasons if j.name == FIREHOL_JOURNAL), None)
    if firehol and state.firewall.get("live") != state.firewall.get("applied"):
        reasons[firehol].append("live rules differ from those firehol applied")
    if firehol and state.firewall.get("armed"):
        # An earlier run applied rules and never confirmed them: the host puts the rules of
        # before that run back at the deadline. Applied again and confirmed by this run, they
        # stay (the rules kept to put back are still those of before that run).
        reasons[firehol].append(f"a revert of the firewall is armed until {state.firewall['armed']} "
                                "(an earlier run's rules were never confirmed)")
    return {j.name: JournalOwed(j, tuple(found)) for j, found in reasons.items() if found}


def _release(state: State, app: App, release: str, rolled: RolledBack | None) -> list[str]:
    want = release_link(release)
    link = state.paths.get(app.venv)
    if link is None:
        return [f"first release {want}"]
    if link.kind != "l":
        return [f"release {want} replaces the venv installed at {app.venv}"]
    if link.sha256 == want:
        return []
    was = "rolled-back release" if rolled else "release"
    return [f"{was} {link.sha256} -> {want}"]


def _app(app: App, plan: HostPlan, state: State, changed: dict[str, str],
         release: str, rolled: RolledBack | None) -> AppOwed | None:
    journal = app_journal(app.name)
    pending = state.pending(journal)
    files = [f for f in plan.files
             if isinstance(f.activation, Restart | Load) and f.activation.app == app.name]
    # An unfinished run's writes: the files its journal kept a copy of (what it replaced).
    unfinished = {f.path for f in files if pending and journal_copy(journal, f.path) in state.paths}
    # Files other apps may read too (generated files): a change restarts each unit reading it.
    # What a killed run wrote of them is owed by the restart marks set before each write.
    read = [f for f in plan.files if isinstance(f.activation, ReadBy) and f.path in changed]
    release_reasons = _release(state, app, release, rolled)
    units = []
    for svc in app.services:
        name = svc.started_unit  # a scheduled job's timer: the job itself is the timer's to start
        own = [f for f in files if isinstance(f.activation, Restart) and f.activation.unit == name]
        # A timer runs no release: the job it starts takes the new one at its next run.
        restart, socket = ([] if svc.schedule else list(release_reasons)), []
        for f in own:
            found = socket if f.kind == "socket" else restart
            if f.path in changed:
                found.append(changed[f.path])
            elif f.path in unfinished:  # as planned now, but the process runs what it replaced
                found.append(f"{f.path} written by an unfinished run")
        restart += [changed[f.path] for f in read if f.activation.reads(app.name, name)]
        if state.pending(restart_mark(name)):
            restart.append("restart mark left by an unfinished run")
        inactive, disabled = _down(state, name)
        start = inactive + disabled
        if svc.port:  # a socket that does not run is restarted; one not enabled, enabled
            inactive, disabled = _down(state, f"{svc.unit}.socket")
            socket, start = socket + inactive, start + disabled
        action = SOCKET if socket else RESTART if restart else START if start else NOTHING
        unit_file = next(f.path for f in own if f.kind in STARTED_KINDS)
        new = unit_file not in state.paths or (
            pending and journal_copy(journal, unit_file) not in state.paths
            and state.unit(name)[1] != "enabled")  # written, never enabled: a killed first deploy
        units.append(UnitOwed(name, action, tuple(socket + restart + start),
                              listens=svc.port is not None, new=new))
    loads = [changed[f.path] for f in files if isinstance(f.activation, Load) and f.path in changed]
    if pending:
        loads.append(f"journal {journal} left pending by an unfinished run")
    # Every unit a timer: the new release is the activation's to switch to, all the same.
    switch = release_reasons if all(svc.schedule for svc in app.services) else []
    steps = _steps(app, plan, changed, release_reasons, journal if pending else None)
    if not loads and not switch and not steps and all(u.action == NOTHING for u in units):
        return None
    return AppOwed(app.name, tuple(units), tuple(loads), tuple(switch), tuple(steps))


def _steps(app: App, plan: HostPlan, changed: dict[str, str], release_reasons: list[str],
           pending: str | None) -> list[StepOwed]:
    """The app's release steps owed a run: for a new release, a change of the step's unit file
    or of the env file it reads, or the app's journal `pending` (an unfinished run)."""
    owed = []
    for step in app.steps:
        svc = app.step_service(step)
        reads = [f.path for f in plan.files
                 if (f.kind == "step" and f.path == f"{SYSTEMD_DIR}/{step_unit(svc.unit, step.name)}")
                 or (f.kind == "env" and f.unit == svc.unit)]
        reasons = [*release_reasons, *(changed[path] for path in sorted(reads) if path in changed)]
        if pending:
            reasons.append(f"journal {pending} left pending by an unfinished run")
        if reasons:
            owed.append(StepOwed(step.name, step_template(svc.unit, step.name), tuple(reasons)))
    return owed


def _certificates(spec: HostSpec, state: State) -> dict[str, CertificateOwed]:
    """The ACME certificates to issue: those not issued yet (certbot renews the others)."""
    owed = {}
    for site in spec.nginx_sites:
        if site.tls and spec.sites[site.server_name].tls != "provided":
            issued, _ = certificate_files(spec, site)
            if issued not in state.paths:
                owed[site.server_name] = CertificateOwed(
                    site.server_name, certificate_lineage(spec, site), f"{issued} missing")
    return owed


def converged(spec: HostSpec, plan: HostPlan, releases: Mapping[str, str]) -> State:
    """The state of the host once its plan and these releases are deployed and every unit
    runs: the state a decision owes nothing against. `aitbc-infra diff` starts from it, as
    nothing else is known of a host offline (users and packages are no part of a decision)."""
    paths: dict[str, PathState] = {}
    for entry in (*plan.directories, *plan.files, *plan.uploads, *plan.links):
        if isinstance(entry, Directory):
            paths[entry.path] = PathState("d", entry.mode.zfill(4), entry.user, entry.group, "-")
        elif isinstance(entry, Link):
            if entry.target is not None:
                paths[entry.path] = PathState("l", "0777", "root", "root", entry.target)
        elif isinstance(entry, Upload):
            paths[entry.path] = PathState("f", entry.mode.zfill(4), "root", "root",
                                          local_sha256(Path(entry.local)))
        else:
            paths[entry.path] = PathState("f", entry.mode.zfill(4), entry.owner, entry.group,
                                          sha256(entry.content.encode()))
    for probe in plan.probes:  # only whether they exist counts (a certificate, nginx's sites)
        paths.setdefault(probe, PathState("d", "0755", "root", "root", "-"))
    for app in spec.apps:
        paths[app.venv] = PathState("l", "0777", "root", "root", release_link(releases[app.name]))
        marker = release_marker(app.releases, releases[app.name])
        paths[marker] = PathState("f", "0644", "root", "root", sha256(f"{releases[app.name]}\n".encode()))
    firewall = {"live": "-", "applied": "-"} if plan.firewall_applied else {}
    return State(paths=paths, units={u: ("active", "enabled") for u in plan.units},
                 packages=set(plan.packages), firewall=firewall,
                 postgresql=_converged_databases(plan.postgresql))


# The salt of the verifiers a converged state stands for: any fixed one (a verifier of the
# planned password matches whatever its salt).
_CONVERGED_SALT = bytes(16)


def _converged_databases(wanted: Databases | None) -> PostgresState:
    if wanted is None:
        return PostgresState()
    roles = {}
    for role in wanted.roles:
        stored = verifier(role.password, _CONVERGED_SALT)
        roles[role.name] = RoleState(ROLE_GRANTED, str(ITERATIONS),
                                     stored.split("$")[1].split(":")[1], digest(stored))
    return PostgresState(True, roles, dict(wanted.owners))
