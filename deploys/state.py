"""The state of a host's plan, read in one round trip, once per run: every path, unit, user,
group and package of the plan, the firewall's, and PostgreSQL's roles and databases.

`HostState` is a pyinfra fact (its parts are the facts `PathStates`, `UnitStates`,
`UserEntries`, `GroupEntries`, `PackageStates`, `FirewallState` and `PostgresStates`, run as
one command). Its
command is built from the plan's own entries (`command`) and run by the deploy lock once the
lock is held (deploys/lock.py, deploys/site.py), which hands the output to `parse`: the host's `State`
(aitbc_infra/drift.py), a value passed beside the plan to every operation and to the decision
of what is owed (aitbc_infra/decision.py). So everything the plan holds is read by
construction, under the lock, and asking `of` for a path it does not hold is an error, not a
silent "absent".
"""

from __future__ import annotations

from pyinfra.api import FactBase

from aitbc_infra.drift import ROLE_ATTRIBUTES, PathState, PostgresState, RoleState, State
from aitbc_infra.host_names import PATH_HASHES
from aitbc_infra.plan import HostPlan
from deploys.facts import FirewallState, GroupEntries, UnitStates, UserEntries
from deploys.shell import quoted, script


class PathStates(FactBase):
    """{path: PathState} of the given paths, everything under `trees` and every DIR/*/NAME of
    `globs` ((DIR, NAME) pairs); a path that does not exist is absent.

    `read_only` (verify): the host's digest cache (`cache`) is read but never written, so a read
    outside the deploy lock changes nothing on the host and cannot race a deploy's own read."""

    def command(self, paths: list[str], trees: list[str], globs: list[tuple[str, str]],
                read_only: bool = False, cache: str = PATH_HASHES) -> str:
        relative = [p for p in [*paths, *trees, *(d for d, _ in globs)] if not p.startswith("/")]
        if relative:  # find would take "-name" for an option; the plan's paths are absolute
            raise ValueError(f"path-states reads absolute paths only, not {relative[0]!r}")
        mode = ("--read-only",) if read_only else ()
        return script("path-states", cache, *mode, *paths, "--", *trees, "--",
                      *(w for g in globs for w in g))

    @staticmethod
    def default() -> dict:  # a bare host: nothing printed, nothing managed yet
        return {}

    def process(self, output) -> dict[str, PathState]:
        stats, digests, targets = {}, {}, {}
        path = None
        for line in output:
            tag, _, rest = line.partition(" ")
            if tag == "S":
                kind, mode, user, group, path = rest.split("|", 4)
                stats[path] = (kind, mode, user, group)
            elif tag == "T" and path is not None:  # the target of the symlink just before
                targets[path] = rest
            elif tag == "H":
                digest, hashed = _sha256sum_line(rest)
                digests[hashed] = digest
        result = {}
        for path, (kind, mode, user, group) in stats.items():
            if kind in _KINDS:
                digest = {"f": digests.get(path, "?"), "d": "-", "l": targets.get(path, "?")}[kind]
                result[path] = PathState(kind, mode.zfill(4), user, group, digest)
        return result


# find's %y for the types the deploy manages; any other (a socket, a device) is not one of ours.
_KINDS = {"f", "d", "l"}


def _sha256sum_line(rest: str) -> tuple[str, str]:
    """sha256sum's "DIGEST  NAME"; a name holding a backslash or newline comes escaped, the
    line then starting with a backslash."""
    if not rest.startswith("\\"):
        return rest[:64], rest[66:]
    name = rest[67:].replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
    return rest[1:65], name


class PackageStates(FactBase):
    """The given Debian packages that are installed."""

    FORMAT = "${Package} ${db:Status-Abbrev}\\n"  # dpkg-query's own fields, not the shell's

    def command(self, packages: list[str]) -> str:
        return f"{quoted('dpkg-query', '-W', '-f', self.FORMAT, '--', *packages)} 2>/dev/null || true"

    def process(self, output) -> set[str]:
        return {line.split()[0] for line in output if line.split()[1:2] == ["ii"]}


class PostgresStates(FactBase):
    """The PostgreSQL roles and databases of the plan, as the cluster holds them
    (deploys/scripts/postgresql.sh, `state`): of a password, only whether it is the planned one
    can be told from what is read (aitbc_infra/scram.py)."""

    def command(self, data: str, sockets: str, roles: list[str], databases: list[str]) -> str:
        return script("postgresql", "state", data, sockets, *roles, "--", *databases)

    @staticmethod
    def default() -> PostgresState:
        return PostgresState()

    def process(self, output) -> PostgresState:
        lines = [line.split() for line in output]
        if ["running"] not in lines:
            return PostgresState()
        roles = {f[1]: RoleState(frozenset(a for a, flag in zip(ROLE_ATTRIBUTES, f[2:8], strict=True)
                                           if flag == "t"), *f[8:11])
                 for f in lines if f[:1] == ["R"] and len(f) == 11}
        databases = {f[1]: f[2] for f in lines if f[:1] == ["D"] and len(f) == 3}
        return PostgresState(True, roles, databases)


class HostState(FactBase):
    """PathStates, UnitStates, UserEntries, GroupEntries, PackageStates, (on a firewall host)
    FirewallState and (on a host running PostgreSQL) PostgresStates in one command: one round
    trip."""

    PARTS = (("paths", PathStates), ("units", UnitStates), ("users", UserEntries),
             ("groups", GroupEntries), ("packages", PackageStates), ("firewall", FirewallState),
             ("postgresql", PostgresStates))

    def command(self, paths, trees, globs, units, users, packages, firewall_applied=None,
                groups=None, postgresql=None) -> str:
        args = {"paths": dict(paths=paths, trees=trees, globs=globs), "units": dict(units=units),
                "users": dict(users=users), "groups": dict(groups=groups),
                "packages": dict(packages=packages), "firewall": dict(applied=firewall_applied),
                "postgresql": postgresql or {}}
        return "; ".join(f"echo {self._marker(name)}; " + (fact().command(**args[name]) if any(
            args[name].values()) else "true") for name, fact in self.PARTS)

    @staticmethod
    def _marker(name: str) -> str:
        return f"::aitbc-state:{name}::"

    @staticmethod
    def default() -> State:
        return State()

    def process(self, output) -> State:
        sections: dict[str, list[str]] = {}
        current: list[str] = []
        markers = {self._marker(name): name for name, _ in self.PARTS}
        for line in output:
            if line in markers:
                current = sections.setdefault(markers[line], [])
            else:
                current.append(line)
        return State(**{name: fact().process(sections.get(name, [])) for name, fact in self.PARTS})


def _arguments(plan: HostPlan) -> dict:
    globs = [tuple(g.split("/*/", 1)) for g in plan.probe_globs]
    databases = plan.postgresql
    return dict(paths=list(plan.paths), trees=list(plan.tree_paths), globs=globs,
                units=sorted(plan.units), users=plan.users, groups=plan.groups,
                packages=plan.packages,
                firewall_applied=plan.firewall_applied,
                postgresql=dict(data=databases.cluster.paths["data"],
                                sockets=databases.cluster.paths["sockets"],
                                roles=[r.name for r in databases.roles],
                                databases=[name for name, _ in databases.owners])
                if databases else None)


def command(plan: HostPlan) -> str:
    """The command that reads the plan's state, for a caller that runs it itself (the deploy
    lock runs it once the lock is taken: deploys/lock.py); `parse` reads its output."""
    return HostState().command(**_arguments(plan))


def parse(output: list[str]) -> State:
    """What `command` printed on its host."""
    return HostState().process(output)


def of(plan: HostPlan, state: State, path: str) -> PathState | None:
    """The state of one path of the plan (None: it does not exist)."""
    if not plan.holds(path):
        raise ValueError(f"host {plan.node}: {path} is not in the host's plan, so its state "
                         "was never read: add it to aitbc_infra/plan.py")
    return state.paths.get(path)


def removed(plan: HostPlan, state: State, path: str) -> None:
    """An operation of this run removes `path` before the roles after it run: they see it
    absent, as the host will be, and put it back if the plan holds it."""
    of(plan, state, path)  # one of the plan's paths, or the mistake is named
    state.paths.pop(path, None)


def read_only_command(plan: HostPlan) -> str:
    """The read of the plan's paths and trees as the deploy reads them, changing nothing on the
    host: for `aitbc-infra verify`, which holds no lock (the release markers the deploy also
    reads are left out: verify reads the active release itself)."""
    arguments = _arguments(plan)
    return PathStates().command(arguments["paths"], arguments["trees"], [], read_only=True)


def paths_read(output: list[str]) -> dict[str, PathState]:
    """What `read_only_command` printed, as the deploy parses it."""
    return PathStates().process(output)
