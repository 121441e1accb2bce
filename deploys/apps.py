"""App releases, env files, units and their services.

Each release (a hash of sources and dependency wheels) is a venv of its own under
APP_ROOT/releases/; APP_ROOT/.venv, which the units run, is a symlink switched atomically to the
new one. What each unit owes (a restart, its socket's too, a start, nothing) and why is the
run's decision (aitbc_infra/decision.py): its unit, socket or env file or its release changes,
an unfinished run left it owed, it does not run. An app's release steps the decision owes (a
database migration) run first, in the new release, before its candidates. Before a restart, a
release of a listening service runs beside the live one as a candidate and must be healthy;
after it (its socket kept open, so no connection is refused) it must pass its health gate, else
the previous release and files come back (deploys/scripts/activate-release.sh, told what to do
with each unit). A service's data probe is asked at both gates, and the app's data is
snapshotted into the outgoing release just before the first write of the new release (its
steps, else its cutover). An app `aitbc-infra rollback` put on a kept release
gets the data's release back the same way, then its rollback record is removed; a run told to
keep rollbacks leaves it on its release.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import server

from aitbc_infra import PROJECT_ROOT, release_activation
from aitbc_infra.activation import Load, Restart
from aitbc_infra.decision import AppOwed, Decision
from aitbc_infra.drift import State
from aitbc_infra.host_names import (
    RELEASE_MARKER,
    RELEASE_SOURCES,
    UV_REMOTE,
    WHEELHOUSE_REMOTE,
    release_link,
)
from aitbc_infra.model import App, HostSpec
from aitbc_infra.plan import HostPlan, release_marker
from aitbc_infra.render import SYSTEMD_KINDS
from aitbc_infra.sources import release_inputs
from aitbc_infra.wheelhouse import build_wheelhouse
from deploys import apply, managed
from deploys.context import fleet, once_per_run
from deploys.shell import quoted
from deploys.state import of

WHEELHOUSE_LOCAL = PROJECT_ROOT / "build" / "wheelhouse"


@once_per_run
def wheelhouse() -> dict[tuple[str, str], dict]:
    """Built once per run, for every app of the fleet: {(node, app): manifest entry}."""
    inputs = {(h.node, a.name): release_inputs(h, a)
              for h in fleet().hosts.values() for a in h.apps}
    built = build_wheelhouse(list(inputs.values()), WHEELHOUSE_LOCAL, log=print)
    return {where: built[i.key()] for where, i in inputs.items()}


def release_of(spec: HostSpec, app: App) -> dict:
    return wheelhouse()[(spec.node, app.name)]


def releases(spec: HostSpec) -> dict[str, str]:
    """{app: the release id this run brings it to}."""
    return {app.name: release_of(spec, app)["release_id"] for app in spec.apps}


def _build(spec: HostSpec, app: App, plan: HostPlan, state: State):
    """Install the release into its own directory; nothing running uses it yet. Its marker,
    written last, says the release is whole: a killed build has none and is redone."""
    if of(plan, state, release_marker(app.releases, release_of(spec, app)["release_id"])):
        return None
    release = release_of(spec, app)
    commands = release_commands(python=spec.python.executable, releases=app.releases,
                                venv=app.venv, release_id=release["release_id"],
                                wheels=release["wheels"], tree=release["tree"])
    return server.shell(name=f"{app.name}: build release {release['release_id']}", commands=commands)


# uv on a host: this invocation's flags only (no uv.toml, no cache left behind, no index, never
# a download of Python or of a package).
UV_FLAGS = ("--quiet", "--no-config", "--no-cache", "--offline", "--no-python-downloads")


def release_commands(*, python: str, releases: str, venv: str, release_id: str, wheels: list[str],
                     tree: str | None, wheelhouse: str = WHEELHOUSE_REMOTE,
                     uv: str = UV_REMOTE) -> list[str]:
    """Shell that builds RELEASES/RELEASE_ID from the wheelhouse with uv, marker last."""
    target = f"{releases}/{release_id}"
    commands = [f"{quoted('rm', '-rf', '--', target)} && "
                f"{quoted(uv, 'venv', *UV_FLAGS, '--python', python, target)}"]
    if wheels:
        # Exactly the wheels resolved for this release: nothing is resolved on the host. Copied,
        # not linked, and compiled as pip does: the release is root's, its apps cannot write
        # their bytecode.
        commands.append(quoted(uv, "pip", "install", *UV_FLAGS, "--no-index", "--no-deps",
                               "--link-mode=copy", "--compile-bytecode", "--python",
                               f"{target}/bin/python", *(f"{wheelhouse}/{w}" for w in wheels)))
    if tree:
        sources = f"{target}/{RELEASE_SOURCES}"
        commands.append(f"{quoted('mkdir', '--', sources)} && "
                        f"{quoted('tar', '-xf', f'{wheelhouse}/{tree}', '-C', sources)} "
                        "--no-same-owner")
    commands += [
        # uv's lock file of the venv, writable by anyone: the release is never installed into again.
        quoted("rm", "-f", "--", f"{target}/.lock"),
        f"printf '%s\\n' {quoted(release_id)} > {quoted(f'{target}/{RELEASE_MARKER}')}",
        # First release of this app: nothing runs yet, so it is active at once (and the
        # units' ExecStart exists when they are validated).
        f"[ -e {quoted(venv)} ] || [ -L {quoted(venv)} ] || "
        f"{quoted('ln', '-s', '--', release_link(release_id), venv)}",
    ]
    return commands


def unit_arguments(spec: HostSpec, app: App, owed: AppOwed) -> list[str]:
    """UNIT ACTION LISTENS NEW LIVE CANDIDATE for each service (release_activation.py)."""
    return release_activation.unit_arguments(fleet(), spec, app, owed)


def _activate(spec: HostSpec, app: App, plan: HostPlan, owed: AppOwed, release: str):
    """Validate the app's units, run its owed release steps, prove the release beside the
    running one, cut over, gate it: each unit as the decision says."""
    units = sorted(f.path for f in plan.files
                   if _of_app(f.activation, app) and f.kind in SYSTEMD_KINDS)
    return server.shell(
        name=f"{app.name}: activate release {release} (candidate, cutover, health gate)",
        commands=[release_activation.activate_command(
            fleet(), spec, app, release, owed, quoted("systemd-analyze", "verify", *units))],
    )


def _of_app(activation, app: App) -> bool:
    return isinstance(activation, Restart | Load) and activation.app == app.name


def deploy(spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    if not spec.apps:
        return
    wheelhouse()
    tree = next(t for t in plan.trees if t.path == WHEELHOUSE_REMOTE)
    managed.tree(plan, state, tree, WHEELHOUSE_LOCAL, name=f"Sync {tree.path}")
    # One app after another, each whole (files, build, activation): a failing app leaves the
    # next untouched. host.loop keeps the operation order the same on every host.
    for app in host.loop(spec.apps):
        # Journaled: the activation keeps the old copies until the release is healthy with them.
        apply.entries(plan, state, lambda activation, app=app: _of_app(activation, app),
                      f"{app.name}: unit, socket and env files")
        rolled = decision.rollbacks.get(app.name)
        if rolled is not None and rolled.kept:
            release = rolled.live  # left on the kept release a rollback put back: none built
        else:
            _build(spec, app, plan, state)
            release = release_of(spec, app)["release_id"]
        if app.name in decision.apps:  # else as running: no operation at all
            _activate(spec, app, plan, decision.apps[app.name], release)
        if rolled is not None and not rolled.kept:
            # After the activation: a failed gate stops the host first, the record stays true.
            server.shell(name=f"{app.name}: the data's release is live again: forget the rollback",
                         commands=[quoted("rm", "-f", "--", app.rollback_record)])
