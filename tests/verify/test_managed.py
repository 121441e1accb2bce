"""What the deploy manages is as its plan says, and what runs is what is on disk.

Paths are read with the deploy's own state read (deploys/state.py, in its read-only mode: no
lock is held and nothing is written) and compared with the deploy's own comparison
(aitbc_infra/drift.py), so a path verify calls drifted is one a dry run would change, and the other
way round. A failure names each path and what differs, never a file's content or digest.
Processes are compared with the files they read at their start (aitbc_infra/running.py).
"""

from __future__ import annotations

from functools import cache

from conftest import checks, fleet, missing_secrets, plans

from aitbc_infra import running
from aitbc_infra.activation import Journal, Load, ReadBy, Restart
from aitbc_infra.decision import databases_owed
from aitbc_infra.drift import entry_drift, tree_drift
from aitbc_infra.host_names import PENDING_DIR
from aitbc_infra.model import systemd_unit
from aitbc_infra.plan import TREE_FILE_MODE
from aitbc_infra.render import RenderedFile
from deploys import state

PLANS = plans()
HOSTS = fleet().hosts


def _read_paths(node, _thing) -> tuple[str]:
    return (state.read_only_command(PLANS[node]),)


@cache
def _paths(node: str, output: str) -> dict:
    return state.paths_read(output.splitlines())


def _states(node, result) -> dict:
    if result.rc != 0:
        # Not the output: it holds digests, and of env files too.
        said = result.stdout.strip() if result.stdout.startswith("unreachable:") else ""
        raise AssertionError(f"{node}: reading the managed paths failed (exit status "
                             f"{result.rc}) {said}")
    return _paths(node, result.stdout)


# Files, directories and links --------------------------------------------------------------


def _group(activation) -> str:
    """The entries the deploy writes together: an app's, a journal's, the rest."""
    if isinstance(activation, Restart | Load):
        return f"app {activation.app}'s units and env files"
    if isinstance(activation, Journal):
        return f"{activation.name} files"
    if isinstance(activation, ReadBy):
        return "generated files apps read"
    return "files read at a start"


def _entry_groups():
    for node, plan in PLANS.items():
        # The shared directories on their own line: who may enter each is its owner and mode.
        shared = {d.path for d in HOSTS[node].shared_dirs}
        groups = {"directories": [d for d in plan.directories if d.path not in shared],
                  "shared directories": [d for d in plan.directories if d.path in shared]}
        groups = {name: entries for name, entries in groups.items() if entries}
        for entry in (*plan.files, *plan.uploads, *plan.links):
            groups.setdefault(_group(entry.activation), []).append(entry)
        for name, entries in groups.items():
            yield node, (name, tuple(entries)), f"{name} as planned"


@checks(_entry_groups(), probe=_read_paths)
def test_managed_paths_as_planned(node, thing, probed):
    _, entries = thing
    paths = _states(node, probed[0])
    secrets_missing = missing_secrets()
    problems, not_compared = [], []
    for entry in entries:
        compare = not (secrets_missing and isinstance(entry, RenderedFile) and entry.secret)
        if not compare:
            not_compared.append(entry.path)
        found = entry_drift(entry, paths.get(entry.path), compare_content=compare)
        if found:
            problems.append(f"{entry.path}: {', '.join(map(str, found))}")
    if not_compared:
        problems.append(f"content of {', '.join(not_compared)} not compared: {secrets_missing}")
    assert not problems, f"{node}: " + "\n  ".join(problems)


@checks(((n, t, f"tree {t.path}: directory, files root {TREE_FILE_MODE}")
         for n, p in PLANS.items() for t in p.trees), probe=_read_paths)
def test_tree_files_as_planned(node, thing, probed):
    paths = _states(node, probed[0])
    top = paths.get(thing.path)
    assert top is not None and top.kind == "d", f"{node}: {thing.path} is not a directory"
    drifted = tree_drift(thing, paths)
    assert not drifted, f"{node}: " + "\n  ".join(
        f"{path}: {', '.join(map(str, found))}" for path, found in sorted(drifted.items()))


@checks(((n, n, "nothing owed by an unfinished deploy") for n in PLANS), probe=_read_paths)
def test_nothing_pending(node, thing, probed):
    # A journal not yet committed or a restart mark: the next deploy validates, reloads or
    # restarts even though every file is as planned.
    owed = sorted(p for p in _states(node, probed[0]) if p.startswith(f"{PENDING_DIR}/"))
    assert not owed, f"{node}: a deploy left steps owed: {', '.join(owed)}"


# Units run their files -----------------------------------------------------------------------


@cache
def _unit_inputs(node: str) -> dict[str, list[str]]:
    return running.unit_inputs(HOSTS[node], PLANS[node].files)


def _read_units(node, _unit) -> tuple[str, str]:
    inputs = _unit_inputs(node)
    return (running.units_command(sorted(inputs)),
            running.mtimes_command(p for paths in inputs.values() for p in paths))


@checks(((n, unit, f"unit {unit} runs its files on disk") for n in PLANS for unit in _unit_inputs(n)),
        probe=_read_units)
def test_unit_runs_its_files(node, thing, probed):
    show, mtimes = probed
    units = running.parse_units(show.stdout)
    name = systemd_unit(thing)
    assert name in units, f"{node}: systemctl show {name}: {show.stdout.strip()[:300]}"
    changed = running.parse_mtimes(mtimes.stdout)
    mine = {p: changed[p] for p in _unit_inputs(node)[thing] if p in changed}
    problems = running.unit_problems(thing, units[name], mine)
    assert not problems, f"{node}: {thing} " + "; ".join(problems)


# nginx runs its configuration ----------------------------------------------------------------


def _read_nginx(node, _) -> tuple[str]:
    return (running.nginx_command(running.nginx_inputs(HOSTS[node])),)


@checks(((n, n, "nginx runs the config on disk") for n, h in HOSTS.items() if h.nginx_sites),
        probe=_read_nginx)
def test_nginx_runs_its_config(node, thing, probed):
    problems = running.nginx_problems(running.parse_nginx(probed[0].stdout))
    assert not problems, f"{node}: nginx " + "; ".join(problems)


# PostgreSQL's roles and databases --------------------------------------------------------------


def _read_databases(node, _) -> tuple[str]:
    wanted = PLANS[node].postgresql
    paths = wanted.cluster.paths
    return (state.PostgresStates().command(paths["data"], paths["sockets"],
                                            [r.name for r in wanted.roles],
                                            [name for name, _ in wanted.owners]),)


@checks(((n, p.postgresql, "postgresql roles and databases as planned")
         for n, p in PLANS.items() if p.postgresql), probe=_read_databases)
def test_databases_as_planned(node, thing, probed):
    # The deploy's own read and comparison: a role's attributes, its password (the stored
    # SCRAM verifier against the secret's value), each database's owner.
    found = state.PostgresStates().process(probed[0].stdout.splitlines())
    assert found.running, f"{node}: {thing.cluster.unit} does not answer: {probed[0].stdout[-300:]}"
    secrets_missing = missing_secrets()
    owed = databases_owed(thing, found, passwords=not secrets_missing)
    problems = [d.line for d in owed]
    if secrets_missing:
        problems.append(f"passwords not compared: {secrets_missing}")
    assert not problems, f"{node}: " + "\n  ".join(problems)
