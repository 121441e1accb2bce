"""`aitbc-infra rollback`: apps put back on a release their hosts keep, building nothing.

What this module decides, from the model and what each host said (no connection here; the
command, aitbc_infra/rollback_command.py, reads and acts):

- `chosen`: per host, the apps asked for that it runs (every app with --all).
- `targets`: per app, the release to go back to: `--to RELEASE`, or the most recently
  activated release kept before the live one (status.sh reads when each was last activated:
  activate-release touches a release as it goes live). A release that is not kept, not whole
  (no marker: a build cut short) or an app with nothing to go back to is refused, naming host,
  app and release and listing what is kept; every refusal of every host is found before
  anything changes anywhere (UserError: exit 2).
- `host_command`: what runs on a host under the deploy lock: deploys/scripts/rollback.sh for
  each app in turn (activate-release.sh's candidate, cutover and health gate, every unit of
  the app restarted, a scheduled job's timer left alone), stopping at the first that fails;
  each app's end is a line `APP_END INDEX STATUS`.
- `history_line`: the host's line of the deploy history (aitbc_infra/history.py, kind
  "rollback"), which the lock's command appends as it lets the lock go, as a deploy's.
- The rollback record each app gets (aitbc_infra/rollback_record.py): to what, from what, by
  whom, when, and the data's release (the one the last deploy left), which `status` shows and
  the next deploy puts back; none when the release gone back to is the data's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aitbc_infra.activation import app_journal
from aitbc_infra.decision import NOTHING, RESTART, AppOwed, UnitOwed
from aitbc_infra.deploy_lock import lock_command
from aitbc_infra.errors import UserError
from aitbc_infra.fleet import Fleet
from aitbc_infra.history import (
    FAILED,
    LINE_MAX,
    OK,
    ROLLBACK,
    Run,
    encode,
    entry,
    finished,
    holder,
    printable,
)
from aitbc_infra.host_names import (
    DEPLOY_HISTORY,
    DEPLOY_LOCK,
    DEPLOY_LOCK_HOLDER,
    PENDING_DIR,
    RELEASE_MARKER,
    VENV_LINK,
)
from aitbc_infra.host_scripts import body, function, quoted, script
from aitbc_infra.model import App, HostSpec
from aitbc_infra.plan import app_units
from aitbc_infra.release_activation import data_argument, unit_arguments
from aitbc_infra.rollback_record import Record
from aitbc_infra.status import Asked, HostStatus

# A release's name, as activate-release.sh and rollback.sh take it.
RELEASE_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Ends each app's part of a host's output: APP_END INDEX STATUS (rollback.sh's exit status).
APP_END = "::aitbc-rollback:app:"
# rollback.sh's exit statuses: done; failed (a gate or the restore: put back as it was);
# refused under the lock (nothing changed: the host changed since it was read).
DONE, FAILED_STATUS, REFUSED = 0, 1, 2


@dataclass(frozen=True)
class AppRollback:
    """One app of a host, from its live release to a kept one."""

    app: str
    from_release: str
    to: str
    record: Record | None  # None: `to` is the data's release again, the record goes


@dataclass(frozen=True)
class HostRollback:
    node: str
    apps: tuple[AppRollback, ...]
    already: tuple[str, ...] = ()  # apps already on the release `--to` names: nothing to do


# What to roll back where --------------------------------------------------------------------------


def release_name(value: str) -> str:
    """`--to`'s value when it can name a release, else UserError."""
    if value in (".", "..") or not RELEASE_NAME.fullmatch(value):
        raise UserError(f"--to {value!r}: not a release name (letters, digits, '.', '_', '-')")
    return value


def chosen(fleet: Fleet, apps: Sequence[str], every: bool, host: str | None) -> dict[str, list[str]]:
    """{node: the apps to roll back there, in the model's order}: the hosts running any of
    `apps` (every app with `every`), or `host` alone. UserError naming what is unknown."""
    nodes = list(fleet.hosts)
    if host is not None and host not in nodes:
        raise UserError(f"--host {host!r}: not a host of the inventory (its hosts: {', '.join(nodes)})")
    known = {a.name for h in fleet.hosts.values() for a in h.apps}
    unknown = [a for a in apps if a not in known]
    if unknown:
        raise UserError(f"no app {', '.join(map(repr, unknown))} in the inventory (its apps: "
                        f"{', '.join(sorted(known))})")
    found = {}
    for node in [host] if host else nodes:
        names = [a.name for a in fleet.hosts[node].apps if every or a.name in apps]
        if names:
            found[node] = names
    if not found:
        raise UserError(f"--host {host}: runs none of {', '.join(apps)}" if host and apps else
                        f"--host {host}: runs no app" if host else "no host runs an app")
    return found


def asked(spec: HostSpec, apps: Sequence[str]) -> Asked:
    """What status.sh reads for the rollback on a host: those apps' releases, nothing else."""
    return Asked(apps={a.root: a.name for a in spec.apps if a.name in apps},
                 keep_releases=spec.rollout.keep_releases)


def kept_list(status: HostStatus, app: str) -> str:
    """The releases an app keeps on a host, as a refusal lists them: newest first, each with
    when it was last activated, the live one and unfinished builds said."""
    found = next(a for a in status.apps if a.name == app)
    items = [f"{printable(r.name)} ({'live, ' if r.name == found.live else ''}"
             f"{'' if r.complete else 'unfinished build, '}activated {printable(r.activated or '?')})"
             for r in found.by_activation()]
    return ", ".join(items) or "none"


def target(status: HostStatus, app: str, to: str | None) -> str | None:
    """The release `app` goes back to on this host: `to`, or the most recently activated whole
    release kept before the live one; None when `to` is live already. Refused (ValueError,
    its message naming host, app and release and listing what is kept) when there is none."""
    found = next(a for a in status.apps if a.name == app)
    where = f"{status.node}: {app}"
    kept = f"kept: {kept_list(status, app)}"
    if found.live is None:
        raise ValueError(f"{where}: no live release to roll back from ({found.root}/{VENV_LINK} "
                         f"links to {printable(found.link or 'nothing')}); {kept}")
    releases = {r.name: r for r in found.releases}
    if to is None:
        whole = [r for r in found.by_activation() if r.complete and r.name != found.live]
        if not whole:
            raise ValueError(f"{where}: no release kept to roll back to besides the live one "
                             f"({printable(found.live)}); {kept}")
        return whole[0].name
    if to == found.live:
        return None
    if to not in releases:
        raise ValueError(f"{where}: release {to} is not kept; {kept}")
    if not releases[to].complete:
        raise ValueError(f"{where}: release {to} is not whole (no marker: a build cut short); "
                         f"{kept}")
    return to


def targets(wanted: Mapping[str, Sequence[str]], statuses: Mapping[str, HostStatus],
            to: str | None, run: Run) -> list[HostRollback]:
    """What each host read (no `error`) rolls back: every refusal of every host at once, as
    one UserError, before anything changes."""
    found, refused = [], []
    for node, apps in wanted.items():
        status = statuses[node]
        if status.error:
            continue
        rollbacks, already = [], []
        for app in apps:
            try:
                release = target(status, app, to)
            except ValueError as exc:
                refused.append(str(exc))
                continue
            if release is None:
                already.append(app)
                continue
            app_status = next(a for a in status.apps if a.name == app)
            live = app_status.live or ""
            # The data's release is the one the last deploy left: a rollback before this one
            # knew it; else it is the live one.
            data = app_status.rollback.data if app_status.rollback else live
            record = None if release == data else Record(release, live, data, run.operator,
                                                         run.time, run.message)
            rollbacks.append(AppRollback(app, live, release, record))
        found.append(HostRollback(node, tuple(rollbacks), tuple(already)))
    if refused:
        raise UserError("refused, nothing changed on any host:\n  " + "\n  ".join(refused))
    return found


# What runs on a host ------------------------------------------------------------------------------


def app_owed(app: App, to: str, restore: bool) -> AppOwed:
    """Every unit of the app restarted onto `to` (its candidate first, its gate after), as a
    deploy's new release is; a scheduled job's timer owed nothing: its job takes the release
    at its next run."""
    why = (f"rollback to {to}",) + (("data restored from the snapshot kept with it",)
                                    if restore else ())
    return AppOwed(app.name, tuple(
        UnitOwed(svc.started_unit, NOTHING if svc.schedule else RESTART, why,
                 listens=svc.port is not None) for svc in app.services))


def app_arguments(fleet: Fleet, spec: HostSpec, rollback: AppRollback, restore: bool) -> list[str]:
    """rollback.sh's arguments after the two script bodies (its header says each)."""
    app = next(a for a in spec.apps if a.name == rollback.app)
    line = rollback.record.encode() if rollback.record else "-"
    return [PENDING_DIR, app_journal(app.name), RELEASE_MARKER, app.root, rollback.from_release,
            rollback.to, app.rollback_record, line, str(spec.rollout.keep_releases),
            str(spec.rollout.health_timeout_seconds), spec.python.executable, data_argument(app),
            *unit_arguments(fleet, spec, app, app_owed(app, rollback.to, restore)),
            "--", *app_units(app)]


def host_command(fleet: Fleet, host: HostRollback, restore: bool) -> str:
    """The shell run under the lock: rollback.sh for each app in turn, the scripts' text
    written once (a host's command line has a bound), each app's end said with its status,
    and the first that fails ends it with that status."""
    spec = fleet.hosts[host.node]
    lines = [f"activate_body={quoted(body('activate-release'))}",
             f"restore_body={quoted(body('restore-data')) if restore else '-'}",
             function("rollback")]
    for index, rollback in enumerate(host.apps):
        lines.append(f'rollback "$activate_body" "$restore_body" '
                     f"{quoted(*app_arguments(fleet, spec, rollback, restore))} 2>&1; "
                     f's=$?; echo "{APP_END}{index} $s"; [ "$s" -eq 0 ] || exit "$s"')
    return "\n".join(lines)


def locked_command(fleet: Fleet, host: HostRollback, restore: bool, run: Run, *,
                   lock_file: str = DEPLOY_LOCK, holder_file: str = DEPLOY_LOCK_HOLDER,
                   log: str = DEPLOY_HISTORY) -> str:
    """The one command a host runs: the deploy lock taken (or its holder printed and exit
    BUSY), `host_command` under it, then the history line the rollback sends appended to
    `log`. The holder says it is a rollback, of what, and why."""
    apps = ", ".join(a.app for a in host.apps)
    said = f"rollback of {apps}" + (f": {run.message}" if run.message else "")
    spec = fleet.hosts[host.node]
    return lock_command(holder(Run(run.operator, said, run.started, run.pid)), lock_file,
                        holder_file, then=host_command(fleet, host, restore),
                        after=script("history-add", log, str(spec.rollout.history_lines),
                                     str(LINE_MAX)))


# What it came to ----------------------------------------------------------------------------------


def app_statuses(output: Sequence[str], count: int) -> list[int | None]:
    """Each app's exit status from a host's output (its APP_END lines); None: never ran."""
    found: list[int | None] = [None] * count
    for line in output:
        if line.startswith(APP_END):
            index, _, status = line.removeprefix(APP_END).partition(" ")
            if index.isdigit() and int(index) < count and status.isdigit():
                found[int(index)] = int(status)
    return found


def history_line(fleet: Fleet, host: HostRollback, statuses: Sequence[int | None], run: Run,
                 commits: Mapping[str, str | None], seconds: float, restore: bool) -> str | None:
    """The host's line of the deploy history, or None when nothing changed there (no app ran,
    or the first was refused under the lock)."""
    ran = [(r, s) for r, s in zip(host.apps, statuses, strict=True)
           if s is not None and s != REFUSED]
    if not ran:
        return None
    spec = fleet.hosts[host.node]
    restarts = []
    for rollback, _ in ran:
        owed = app_owed(next(a for a in spec.apps if a.name == rollback.app), rollback.to, restore)
        restarts += [{"unit": u.unit, "app": rollback.app, "action": u.action,
                      "reasons": list(u.reasons)} for u in owed.units if u.action != NOTHING]
    changed = {"releases": {r.app: {"before": r.from_release, "after": r.to} for r, _ in ran},
               "restarts": restarts, "reloads": [], "loads": [], "certificates": []}
    failed = next(((r, s) for r, s in zip(host.apps, statuses, strict=True)
                   if s is not None and s != DONE), None)
    step = None
    if failed:
        rollback, status = failed
        step = (f"{rollback.app}: refused, the host changed since it was read" if status == REFUSED
                else f"{rollback.app}: rollback to {rollback.to}")
    done = sum(s == DONE for _, s in ran)
    line = finished(entry(run, commits, changed, kind=ROLLBACK), FAILED if failed else OK, step,
                    seconds, done)
    return encode(line)
