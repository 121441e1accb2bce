"""A host's state as the deploy reads it, and what differs between a path of its plan and it.

`State` is what deploys/state.py reads on a host before the run changes anything: a value
beside the host's plan (the plan says what should be, the state what is), handed to every
operation and to the decision of what a change sets off (aitbc_infra/decision.py).

One pure function per kind of path, read alike by the deploy (deploys/managed.py emits a command
only where one differs) and by `aitbc-infra verify` (a check naming each drifted path and what
differs), so a dry run and verify always agree on drift. No pyinfra here: only the state as
deploys/state.py parsed it and the plan's own entries.

A difference never carries a file's content or digest: env files hold secrets, and a digest of a
short secret is as good as the secret to anyone who can guess candidates.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aitbc_infra.host_names import PENDING_DIR
from aitbc_infra.plan import TREE_FILE_MODE, Directory, Link, Tree, Upload
from aitbc_infra.render import RenderedFile


@dataclass(frozen=True)
class PathState:
    """One path as deploys/scripts/path-states.sh reads it."""

    kind: str  # "f", "d" or "l" (symlink)
    mode: str  # four octal digits
    user: str
    group: str
    sha256: str  # "-" for directories, the target for symlinks


# A role's attributes as the deploy reads and sets them: a role the data declares logs in and
# is given nothing else (deploys/scripts/postgresql.sh, `roles`, says NO to each of the others).
ROLE_ATTRIBUTES = ("login", "superuser", "createdb", "createrole", "replication", "bypassrls")
ROLE_GRANTED = frozenset({"login"})


@dataclass(frozen=True)
class RoleState:
    """A PostgreSQL role as read: the attributes it has, and of its password only the SCRAM
    verifier's iterations, salt and SHA-256 digest ("-" each where it has none): enough to
    tell whether it is a given password's (aitbc_infra/scram.py), never the verifier."""

    attributes: frozenset[str]
    iterations: str = "-"
    salt: str = "-"
    digest: str = "-"


@dataclass(frozen=True)
class PostgresState:
    """The cluster as deploys/scripts/postgresql.sh (`state`) reads it: nothing of it when it does
    not answer (not installed yet, stopped)."""

    running: bool = False
    roles: dict[str, RoleState] = field(default_factory=dict)  # the plan's roles that exist
    databases: dict[str, str] = field(default_factory=dict)  # the plan's databases: their owners


@dataclass(frozen=True)
class State:
    """Every path, unit, user, group and package of a host's plan, and its firewall, as read (a
    path that does not exist, or a unit systemd does not know, is absent)."""

    paths: dict[str, PathState] = field(default_factory=dict)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)  # (ActiveState, UnitFileState)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # (home, shell)
    groups: set[str] = field(default_factory=set)  # those of the plan's groups that exist
    packages: set[str] = field(default_factory=set)
    firewall: dict[str, str] = field(default_factory=dict)  # the live and applied rules' digests
    postgresql: PostgresState = field(default_factory=PostgresState)  # on a host that runs it

    def unit(self, name: str) -> tuple[str, str]:
        return self.units.get(name) or ("", "")

    def pending(self, name: str) -> bool:
        """A journal or restart mark an earlier run left (the pending directory is a plan tree)."""
        return f"{PENDING_DIR}/{name}" in self.paths


@dataclass(frozen=True)
class Difference:
    """One way a path differs from its plan: `aspect` is kind, content, target, mode or owner."""

    aspect: str
    found: str
    planned: str

    def __str__(self) -> str:
        if self.aspect == "content":
            return "content differs"
        if self.found == "missing":
            return "missing"
        prefix = {"kind": "", "target": "links to ", "mode": "mode ", "owner": "owner "}[self.aspect]
        return f"{prefix}{self.found}, planned {self.planned}"


# What `chown` and `chmod` fix in place; any other difference means writing the path again.
OWNERSHIP = frozenset({"mode", "owner"})

_KIND_NAMES = {"f": "a file", "d": "a directory", "l": "a symlink"}


def _kind(current: PathState | None, planned: str) -> Difference | None:
    """A path missing, or of another kind than planned ("f", "d" or "l")."""
    if current is None:
        return Difference("kind", "missing", _KIND_NAMES[planned])
    if current.kind != planned:
        return Difference("kind", _KIND_NAMES.get(current.kind, current.kind), _KIND_NAMES[planned])
    return None


def ownership_drift(current: PathState, mode: str, user: str, group: str) -> list[Difference]:
    found = []
    if current.mode != mode.zfill(4):
        found.append(Difference("mode", current.mode, mode.zfill(4)))
    if (current.user, current.group) != (user, group):
        found.append(Difference("owner", f"{current.user}:{current.group}", f"{user}:{group}"))
    return found


def file_drift(current: PathState | None, digest: str, mode: str, user: str,
               group: str) -> list[Difference]:
    """A regular file with content of `digest`, its mode and owner: what differs, [] if none."""
    wrong_kind = _kind(current, "f")
    if wrong_kind:
        return [wrong_kind]
    content = [Difference("content", "", "")] if current.sha256 != digest else []
    return content + ownership_drift(current, mode, user, group)


def directory_drift(current: PathState | None, mode: str, user: str, group: str) -> list[Difference]:
    wrong_kind = _kind(current, "d")
    return [wrong_kind] if wrong_kind else ownership_drift(current, mode, user, group)


def link_drift(current: PathState | None, target: str | None) -> list[Difference]:
    """A symlink to `target`, or (target None) nothing at all at the path. A link's own mode
    and owner mean nothing on Linux: not compared."""
    if target is None:
        return [] if current is None else [
            Difference("kind", _KIND_NAMES.get(current.kind, current.kind), "absent")]
    wrong_kind = _kind(current, "l")
    if wrong_kind:
        return [wrong_kind]
    return [] if current.sha256 == target else [Difference("target", current.sha256, target)]


def only_ownership(differences: list[Difference]) -> bool:
    return all(d.aspect in OWNERSHIP for d in differences)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def local_sha256(path: Path) -> str:
    """A local file's digest, once per run however many hosts receive it."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


Entry = Directory | Link | RenderedFile | Upload


def entry_drift(entry: Entry, current: PathState | None,
                compare_content: bool = True) -> list[Difference]:
    """What differs between a plan entry and its path's state: the owner, group and mode each
    kind of entry is written with by deploys/managed.py (an upload is root's). With
    `compare_content` false, a file's content is left out (its render lacks secrets)."""
    if isinstance(entry, Directory):
        return directory_drift(current, entry.mode, entry.user, entry.group)
    if isinstance(entry, Link):
        return link_drift(current, entry.target)
    if isinstance(entry, RenderedFile):
        digest, mode, user, group = (sha256(entry.content.encode()), entry.mode, entry.owner,
                                     entry.group)
    else:
        digest, mode, user, group = local_sha256(Path(entry.local)), entry.mode, "root", "root"
    found = file_drift(current, digest, mode, user, group)
    return found if compare_content else [d for d in found if d.aspect != "content"]


def tree_files(tree: Tree, states: dict[str, PathState]) -> dict[str, PathState]:
    """The regular files the state holds under a synced tree, but for the subtrees it leaves
    to other trees: those the deploy answers for when it syncs it."""
    kept = tuple(f"{tree.path}/{k.strip('/')}/" for k in tree.keep)
    return {p: s for p, s in states.items()
            if s.kind == "f" and p.startswith(f"{tree.path}/") and not p.startswith(kept)}


def tree_drift(tree: Tree, states: dict[str, PathState]) -> dict[str, list[Difference]]:
    """{file under the tree: its differences} for the files whose owner or mode differ from
    how the deploy writes a tree's files. A sync chowns such a file (same content), sends it
    again (other content) or removes it (not in the local tree): a run changes each one. The
    content itself needs the local tree (a build of the wheelhouse, the SPAs) and is not
    compared here; a missing or surplus file is not seen either."""
    found = {p: ownership_drift(s, TREE_FILE_MODE, "root", "root")
             for p, s in tree_files(tree, states).items()}
    return {p: d for p, d in found.items() if d}
