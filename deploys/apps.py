"""App releases, env files, units and their services.

Each release (a hash of sources and dependency wheels) is a venv of its own under
APP_ROOT/releases/; APP_ROOT/.venv, which the units run, is a symlink switched atomically to the
new one. A service restarts only when its unit, its env file or its release changed, and must
then pass its health gate, else the previous release comes back (deploys/scripts/).
"""

from __future__ import annotations

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.model import App, HostSpec
from aitbc_infra.render import RenderedFile
from aitbc_infra.sources import release_inputs
from aitbc_infra.wheelhouse import build_wheelhouse
from deploys.context import fleet, once_per_run
from deploys.journal import PENDING_DIR, commit, pending, restart_mark, script
from deploys.managed import PathState, sync_tree, upload
from deploys.shell import quoted
from deploys.units import unit_states

WHEELHOUSE_LOCAL = PROJECT_ROOT / "build" / "wheelhouse"
WHEELHOUSE_REMOTE = "/var/cache/aitbc/wheelhouse"
RELEASE_MARKER = ".aitbc-release"
UNITS_JOURNAL = "systemd"


@once_per_run
def wheelhouse() -> dict[tuple[str, str], dict]:
    """Built once per run, for every app of the fleet: {(node, app): manifest entry}."""
    inputs = {(h.node, a.name): release_inputs(h, a)
              for h in fleet().hosts.values() for a in h.apps}
    built = build_wheelhouse(list(inputs.values()), WHEELHOUSE_LOCAL, log=print)
    return {where: built[i.key()] for where, i in inputs.items()}


def release_of(spec: HostSpec, app: App) -> dict:
    return wheelhouse()[(spec.node, app.name)]


def release_marker(spec: HostSpec, app: App) -> str:
    """Written last when a release's venv is complete: a killed build has none and is redone."""
    return f"{app.releases}/{release_of(spec, app)['release_id']}/{RELEASE_MARKER}"


def _build(spec: HostSpec, app: App, states: dict[str, PathState]):
    """Install the release into its own directory; nothing running uses it yet."""
    if release_marker(spec, app) in states:
        return None
    release = release_of(spec, app)
    commands = release_commands(python=spec.python.executable, releases=app.releases,
                                venv=app.venv, release_id=release["release_id"],
                                wheels=release["wheels"], tree=release["tree"])
    return server.shell(name=f"{app.name}: build release {release['release_id']}", commands=commands)


def release_commands(*, python: str, releases: str, venv: str, release_id: str, wheels: list[str],
                     tree: str | None, wheelhouse: str = WHEELHOUSE_REMOTE) -> list[str]:
    """Shell that builds RELEASES/RELEASE_ID from the wheelhouse, marker last."""
    target = f"{releases}/{release_id}"
    commands = [f"{quoted('rm', '-rf', '--', target)} && {quoted(python, '-m', 'venv', target)}"]
    if wheels:
        # Exactly the wheels resolved for this release: nothing is resolved on the host.
        commands.append(quoted(f"{target}/bin/pip", "install", "--quiet", "--no-index", "--no-deps",
                               *(f"{wheelhouse}/{w}" for w in wheels)))
    if tree:
        commands.append(f"{quoted('mkdir', '--', f'{target}/src')} && "
                        f"{quoted('tar', '-xf', f'{wheelhouse}/{tree}', '-C', f'{target}/src')} "
                        "--no-same-owner")
    commands += [
        f"printf '%s\\n' {quoted(release_id)} > {quoted(f'{target}/{RELEASE_MARKER}')}",
        # First release of this app: nothing runs yet, so it is active at once (and the
        # units' ExecStart exists when they are validated).
        f"[ -e {quoted(venv)} ] || [ -L {quoted(venv)} ] || "
        f"{quoted('ln', '-s', '--', f'releases/{release_id}', venv)}",
    ]
    return commands


def _activate(spec: HostSpec, app: App, states: dict[str, PathState], changed: list,
              running: dict[str, tuple[str, str]]):
    """Switch to the release, restart what needs it, health-gate it, roll back on failure."""
    release = release_of(spec, app)["release_id"]
    link = states.get(app.venv)
    owed = (
        not link or link.kind != "l" or link.sha256 != f"releases/{release}"
        or any(pending(states, restart_mark(svc.unit)) for svc in app.services)
        or any(running.get(svc.unit) != ("active", "enabled") for svc in app.services)
    )
    gates = [f"{svc.unit}={fleet().service_url(spec, svc.unit) + svc.health if svc.health else ''}"
             for svc in app.services]
    return server.shell(
        name=f"{app.name}: activate release {release} (health gate)",
        commands=[script("activate-release", PENDING_DIR, app.root, release,
                         str(spec.rollout.keep_releases), str(spec.rollout.health_timeout_seconds),
                         *gates)],
        _if=None if owed else any_changed(*changed),
    )


def _mark_journaled_units() -> str:
    """Shell: a restart mark for every unit file the systemd journal lists (now loaded)."""
    journal = quoted(f"{PENDING_DIR}/{UNITS_JOURNAL}")
    # One mark a line: xargs would otherwise split and unquote what sed prints.
    return (f"[ ! -f {journal} ] || sed -n 's|.*/\\([^/]*\\)\\.service$|{restart_mark('')}\\1|p' {journal} "
            f"| (cd {quoted(PENDING_DIR)} && xargs -r -d '\\n' touch --)")


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState]) -> None:
    if not spec.apps:
        return
    wheelhouse()
    sync_tree(WHEELHOUSE_LOCAL, WHEELHOUSE_REMOTE, states)
    builds = {app.name: _build(spec, app, states) for app in spec.apps}
    unit_files: dict[str, list] = {}  # unit -> uploads of its unit and env files
    unit_uploads = []
    for f in rendered.values():
        if f.kind == "unit":  # validated first; owes a restart once loaded (see below)
            op = upload(f, states, journal=UNITS_JOURNAL)
            unit_uploads.append(op)
        elif f.kind == "env":  # read at the next start: owes its unit a restart at once
            op = upload(f, states, marks=(restart_mark(f.unit),))
        else:
            continue
        unit_files.setdefault(f.unit, []).append(op)
    unit_paths = sorted(f.path for f in rendered.values() if f.kind == "unit")
    commit(name="systemd: validate units (systemd-analyze verify) and daemon-reload",
           journal=UNITS_JOURNAL, validate=quoted("systemd-analyze", "verify", *unit_paths),
           activate=f"systemctl daemon-reload && {_mark_journaled_units()}",
           _if=None if pending(states, UNITS_JOURNAL) else any_changed(*unit_uploads))
    running = unit_states([svc.unit for _, svc in spec.services])
    for app in spec.apps:
        changed = [op for svc in app.services for op in unit_files.get(svc.unit, [])]
        if builds[app.name]:
            changed.append(builds[app.name])
        _activate(spec, app, states, changed, running)
