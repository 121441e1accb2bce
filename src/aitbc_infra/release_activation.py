"""An app's activation as deploys/scripts/activate-release.sh takes it: the release, the
rollout settings, the app's journal, how to validate its units, and what to do with each unit.

One builder for both callers: the deploy (deploys/apps.py: a release and the decision's actions)
and `aitbc-infra rollback` (aitbc_infra/rollback.py: a kept release, every unit restarted), so
both go through the same candidate, cutover and health gate with the same arguments. Only the
deploy runs release steps: a rollback builds and migrates nothing (rollback.sh hands
activate-release.sh none).
"""

from __future__ import annotations

from aitbc_infra import endpoints
from aitbc_infra.activation import app_journal
from aitbc_infra.decision import AppOwed
from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import PENDING_DIR
from aitbc_infra.host_scripts import script
from aitbc_infra.model import App, HostSpec


def data_argument(app: App) -> str:
    """The app's data as activate-release.sh takes it: NAME=KIND=PATH, space-separated (the
    model's names and paths hold neither a blank nor '=')."""
    return " ".join(f"{d.name}={d.kind}={app.data_path(d)}" for d in app.data)


def steps_argument(owed: AppOwed) -> str:
    """The release steps the decision owes, as activate-release.sh takes them: NAME=TEMPLATE,
    space-separated, in the data's order (a step's name and unit name hold neither)."""
    return " ".join(f"{step.name}={step.template}" for step in owed.steps)


def unit_arguments(fleet: Fleet, spec: HostSpec, app: App, owed: AppOwed) -> list[str]:
    """UNIT ACTION LISTENS NEW LIVE CANDIDATE PROBE for each service (see activate-release.sh);
    a scheduled job's UNIT is its timer, with no health URL, no candidate and no probe."""
    args = []
    for svc, unit in zip(app.services, owed.units, strict=True):
        live = fleet.endpoint(spec.node, spec.node, svc.unit).url + svc.health if svc.health else "-"
        candidate = "-"
        if app.candidate(svc):
            candidate = endpoints.candidate(spec, svc).url + svc.health if svc.health else "up"
        args += [unit.unit, unit.action, "yes" if unit.listens else "no",
                 "yes" if unit.new else "no", live, candidate, svc.data_probe or "-"]
    return args


def activate_command(fleet: Fleet, spec: HostSpec, app: App, release: str, owed: AppOwed,
                     validate: str) -> str:
    """The command line that brings `app` to `release` as `owed` says, its units validated
    by the shell command `validate` when its journal lists files to load, its owed release
    steps run first."""
    return script("activate-release", PENDING_DIR, app.root, release,
                  str(spec.rollout.keep_releases), str(spec.rollout.health_timeout_seconds),
                  app_journal(app.name), validate, spec.python.executable, data_argument(app),
                  steps_argument(owed), *unit_arguments(fleet, spec, app, owed))
