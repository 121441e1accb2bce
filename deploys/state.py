"""The state of every path of a host's plan, read in one round trip, once per run.

`PathStates` is an ordinary pyinfra fact; `of(plan, path)` reads it through `host.get_fact`
with the plan's own paths as its arguments, so every path the plan holds is read by
construction, and asking for one it does not hold is an error, not a silent "absent".
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import FactBase

from aitbc_infra.host_names import PENDING_DIR
from aitbc_infra.plan import HostPlan
from deploys.shell import script


@dataclass(frozen=True)
class PathState:
    kind: str  # "f", "d" or "l" (symlink)
    mode: str  # four octal digits
    user: str
    group: str
    sha256: str  # "-" for directories, the target for symlinks


class PathStates(FactBase):
    """{path: PathState} of the given paths, everything under `trees` and every DIR/*/NAME of
    `globs` ((DIR, NAME) pairs); a path that does not exist is absent."""

    def command(self, paths: list[str], trees: list[str], globs: list[tuple[str, str]]) -> str:
        return script("path-states", *paths, "--", *trees, "--", *(w for g in globs for w in g))

    @staticmethod
    def default() -> dict:  # a bare host: nothing printed, nothing managed yet
        return {}

    def process(self, output) -> dict[str, PathState]:
        result = {}
        for line in output:
            kind, mode, user, group, digest, path = line.split(" ", 5)
            result[path] = PathState(kind, mode.zfill(4), user, group, digest)
        return result


def read(plan: HostPlan) -> dict[str, PathState]:
    """The plan's state on its host: one round trip, the first time it is asked for; kept on
    the plan (one plan per host and run)."""
    if plan.state is None:
        globs = [tuple(g.split("/*/", 1)) for g in plan.probe_globs]
        plan.state = host.get_fact(PathStates, paths=list(plan.paths),
                                   trees=list(plan.tree_paths), globs=globs)
    return plan.state


def of(plan: HostPlan, path: str) -> PathState | None:
    """The state of one path of the plan (None: it does not exist)."""
    if not plan.holds(path):
        raise ValueError(f"host {plan.node}: {path} is not in the host's plan, so its state "
                         "was never read: add it to aitbc_infra/plan.py")
    return read(plan).get(path)


def pending(plan: HostPlan, name: str) -> bool:
    """A journal or restart mark an earlier run left (the pending directory is a plan tree)."""
    return of(plan, f"{PENDING_DIR}/{name}") is not None
