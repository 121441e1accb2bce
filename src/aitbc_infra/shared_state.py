"""State apps of one host share: directories (`shared_dirs`) and the files generated into them
(`generated_files`), who may write and read each, and what that grants each app's units.

Under `ProtectSystem=strict` every unit sees the whole file system read-only but for its
`ReadWritePaths=`: a shared directory is writable by the units of its `writers` alone, and
readable by any process the directory's owner, group and mode let in. So read access is Unix
permissions, and this module holds them to the data:

- every unit of a writer or reader gets the directory's group (`SupplementaryGroups=`, in the
  unit, never in /etc/group) unless it is the app user's own; so does every unit of an app a
  generated file is `used_by`. A user's own group is given to no other user's app (it would
  open that user's data directories too): a group several users share is declared in
  `unix_groups`;
- a directory's last mode digit is 0 (model.py), so a process that is neither its owner nor in
  its group cannot even enter it; an app of the host that is not declared but would be let in
  (it runs as the owner, or its units hold the group for another grant) is refused, by name;
- a writer's units create files group-readable (`UMask=0027` instead of 0077), and a directory
  that readers or a second writer read has the setgid bit unless every writer's own group is
  the directory's, so the files a writer makes take the group its readers hold.

No `InaccessiblePaths=`: a unit the data names nowhere has no way in by its permissions, which
validation proves before anything renders. A shared directory nests in no other one nor in or
around an app's root, the env directory, the site root or the deploy's own state; it lives
under /var/lib, /srv or /opt (state, not the system's files; /home, /root, /run and /tmp are
hidden from the units by ProtectHome and PrivateTmp). A generated file lives directly in a
shared directory, whose readers or writers its `used_by` apps must be.

Every problem is (field, message), naming the value; `fleet.py` adds the host.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import (
    DEPLOY_HISTORY,
    FIREHOL_APPLIED_DIGEST,
    FIREHOL_SWITCH_DIR,
    PENDING_DIR,
)
from aitbc_infra.model import SETGID, App, HostSpec, SharedDir

# Where a shared directory may live: strictly below one of these.
SHARED_ROOTS = ("/var/lib", "/srv", "/opt")
FILE_TEMPLATES = PROJECT_ROOT / "templates" / "files"
# A unit's UMask=: its files its own (0077), or readable by the group of the shared directory
# it writes (0027), which is where the readers' access comes from.
PRIVATE_UMASK = "0077"
GROUP_READ_UMASK = "0027"

READ, WRITE, ENTER = 4, 2, 1


@dataclass(frozen=True)
class Access:
    """What one app's units are granted on its host's shared state."""

    writes: tuple[str, ...] = ()  # shared directories its units may write (ReadWritePaths=)
    groups: tuple[str, ...] = ()  # supplementary groups of its units (SupplementaryGroups=)
    umask: str = PRIVATE_UMASK


def access(host: HostSpec, app: App) -> Access:
    """The shared directories `app` writes, the groups its units hold, and their umask: nothing
    for an app the host's shared state does not name (its units render as before)."""
    writes = tuple(d.path for d in host.shared_dirs if app.name in d.writers)
    groups = {d.group for d in host.shared_dirs if app.name in (*d.writers, *d.readers)}
    groups |= {f.group for f in host.generated_files if app.name in f.used_by}
    return Access(writes, tuple(sorted(g for g in groups if g not in (app.user, "root"))),
                  GROUP_READ_UMASK if writes else PRIVATE_UMASK)


def permissions(owner: str, group: str, mode: str, user: str, groups: tuple[str, ...]) -> int:
    """The rwx bits (4, 2, 1) a process of `user` (its own group its primary one) holding
    `groups` has on a path, as the kernel picks them: the owner's, else the group's, else the
    others' (a process of the owner gets the owner's bits alone, whatever the group's say)."""
    bits = int(mode, 8)
    if user == owner:
        return (bits >> 6) & 7
    if group == user or group in groups:
        return (bits >> 3) & 7
    return bits & 7


def _rwx(bits: int) -> str:
    return "".join(c if bits & b else "-" for c, b in (("r", READ), ("w", WRITE), ("x", ENTER)))


def _as(host: HostSpec, app: App) -> tuple[str, tuple[str, ...]]:
    return app.user, access(host, app).groups


def _class(owner: str, group: str, user: str, groups: tuple[str, ...]) -> str:
    if user == owner:
        return f"it runs as {user}, the owner"
    if group == user or group in groups:
        return f"its units are in group {group}"
    return "as any other user"


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/")


def _reserved(host: HostSpec) -> list[tuple[str, str]]:
    """(path, what it is) of every path no shared directory may be in, be, or hold."""
    found = [(app.root, f"the root of app {app.name}") for app in host.apps]
    found += [(host.env_dir, "env_dir"), (PENDING_DIR, "the deploy's pending directory"),
              (FIREHOL_APPLIED_DIGEST, "the deploy's firewall digest"),
              (FIREHOL_SWITCH_DIR, "the firewall's switch to new rules"),
              (DEPLOY_HISTORY, "the deploy's history")]
    if host.site_root:
        found.append((host.site_root, "the site root"))
    return found


def problems(host: HostSpec) -> list[tuple[str, str]]:
    return _group_problems(host) + _dir_problems(host) + _file_problems(host)


def _group_problems(host: HostSpec) -> list[tuple[str, str]]:
    users = {u.name for u in host.users}
    found, seen = [], set()
    for i, group in enumerate(host.unix_groups):
        field = f"unix_groups[{i}].name"
        if group.name in users:
            found.append((field, f"{group.name!r} is the group of user {group.name}, made with "
                          "it: name it as a group without declaring it"))
        elif group.name in seen:
            found.append((field, f"group {group.name!r} declared twice"))
        seen.add(group.name)
    return found


def _names(host: HostSpec, owner: str, group: str, field: str,
           granted: tuple[str, ...]) -> list[tuple[str, str]]:
    """The owner and group exist; a user's own group is given to no app of another user (it
    would open that user's data directories to it too). `granted`: the apps given the group."""
    users = {u.name for u in host.users}
    groups = {g.name for g in host.unix_groups} | users
    found = []
    if owner != "root" and owner not in users:
        found.append((f"{field}.owner", f"user {owner!r} is not declared in 'users'"))
    if group != "root" and group not in groups:
        found.append((f"{field}.group", f"group {group!r} is neither declared in 'unix_groups' "
                      "nor a user's own group"))
    apps = {a.name: a for a in host.apps}
    others = sorted(name for name in granted if name in apps and group in users
                    and apps[name].user != group)
    if others:
        found.append((f"{field}.group", f"group {group!r} is user {group}'s own: giving it to "
                      f"apps {', '.join(others)} would open that user's data directories to "
                      "them too; declare a group of its own in 'unix_groups'"))
    return found


def _apps(host: HostSpec, names: list[str], field: str) -> list[tuple[str, str]]:
    known = {a.name for a in host.apps}
    seen: set[str] = set()
    found = []
    for j, name in enumerate(names):
        if name not in known:
            found.append((f"{field}[{j}]", f"{name!r} is no app of this host; apps: "
                          f"{', '.join(sorted(known)) or 'none'}"))
        elif name in seen:
            found.append((f"{field}[{j}]", f"app {name!r} named twice"))
        seen.add(name)
    return found


def _dir_problems(host: HostSpec) -> list[tuple[str, str]]:
    found = []
    reserved = _reserved(host)
    for i, d in enumerate(host.shared_dirs):
        field = f"shared_dirs[{i}]"
        if not any(d.path.startswith(f"{root}/") for root in SHARED_ROOTS):
            found.append((f"{field}.path", f"{d.path}: a shared directory lives below "
                          f"{', '.join(SHARED_ROOTS)}"))
        for other in host.shared_dirs[:i]:
            if _overlaps(d.path, other.path):
                found.append((f"{field}.path", f"{d.path} is, holds or lies in shared directory "
                              f"{other.path}: shared directories do not nest"))
        for path, what in reserved:
            if _overlaps(d.path, path):
                found.append((f"{field}.path", f"{d.path} is, holds or lies in {what} ({path})"))
        names = _names(host, d.owner, d.group, field, (*d.writers, *d.readers))
        names += _apps(host, d.writers, f"{field}.writers")
        names += _apps(host, d.readers, f"{field}.readers")
        both = sorted(set(d.writers) & set(d.readers))
        if both:
            names.append((f"{field}.readers", f"{both} also among the writers: a writer reads "
                          "too; name each app once"))
        found += names or _dir_access(host, d, field)  # access only between known names
    return found


def _dir_access(host: HostSpec, d: SharedDir, field: str) -> list[tuple[str, str]]:
    """Each writer may enter and write, each reader enter and read; no other app of the host
    may enter; files a writer makes take the group its readers hold."""
    apps = {a.name: a for a in host.apps}
    found = []
    where = f"owner {d.owner!r}, group {d.group!r}, mode {d.mode!r}"
    for role, names, wanted in (("writers", d.writers, READ | WRITE | ENTER),
                                ("readers", d.readers, READ | ENTER)):
        for j, name in enumerate(names):
            user, groups = _as(host, apps[name])
            got = permissions(d.owner, d.group, d.mode, user, groups)
            if got & wanted != wanted:
                found.append((f"{field}.{role}[{j}]", f"app {name} would get {_rwx(got)} on "
                              f"{d.path} ({where}; {_class(d.owner, d.group, user, groups)}), "
                              f"it needs {_rwx(wanted)}"))
    for app in host.apps:
        if app.name in (*d.writers, *d.readers):
            continue
        user, groups = _as(host, app)
        got = permissions(d.owner, d.group, d.mode, user, groups)
        if got & (READ | ENTER):
            found.append((f"{field}.readers", f"app {app.name} is named nowhere but could enter "
                          f"{d.path} ({where}; {_class(d.owner, d.group, user, groups)}): "
                          "name it among the readers or writers, or give the directory "
                          "another owner or group"))
    own_groups = all(apps[w].user == d.group for w in d.writers)
    if (d.readers or len(d.writers) > 1) and not int(d.mode, 8) & SETGID and not own_groups:
        found.append((f"{field}.mode", f"{d.mode!r}: the files a writer makes in {d.path} "
                      f"would take its own group, not {d.group!r}, which the other apps hold: "
                      f"set the setgid bit ('{int(d.mode, 8) | SETGID:04o}')"))
    return found


def _file_problems(host: HostSpec) -> list[tuple[str, str]]:
    dirs = {d.path: d for d in host.shared_dirs}
    apps = {a.name: a for a in host.apps}
    found, seen = [], set()
    templates = sorted(p.name for p in FILE_TEMPLATES.glob("*.j2"))
    for i, f in enumerate(host.generated_files):
        field = f"generated_files[{i}]"
        parent = posixpath.dirname(f.path)
        shared = dirs.get(parent)
        if f.path in seen:
            found.append((f"{field}.path", f"{f.path} generated twice"))
        seen.add(f.path)
        if shared is None:
            found.append((f"{field}.path", f"{f.path}: a generated file lives in one of the "
                          f"host's shared_dirs, and its directory {parent!r} is none"))
        if f.template and f.template not in templates:
            found.append((f"{field}.template", f"{f.template!r} is no file of templates/files/ "
                          f"(there: {', '.join(templates) or 'none'})"))
        names = (_names(host, f.owner, f.group, field, tuple(f.used_by))
                 + _apps(host, f.used_by, f"{field}.used_by"))
        if names or shared is None:
            found += names
            continue
        inside = [name for name in (*shared.writers, *shared.readers) if name in apps]
        for j, name in enumerate(f.used_by):
            user, groups = _as(host, apps[name])
            got = permissions(f.owner, f.group, f.mode, user, groups)
            if name not in inside:
                found.append((f"{field}.used_by[{j}]", f"app {name} cannot enter {parent}: "
                              "name it among that shared directory's readers"))
            elif not got & READ:
                found.append((f"{field}.used_by[{j}]", f"app {name} could not read {f.path} "
                              f"(owner {f.owner!r}, group {f.group!r}, mode {f.mode!r}; "
                              f"{_class(f.owner, f.group, user, groups)})"))
        if f.holds_secrets:
            others = [name for name in inside if name not in f.used_by
                      and permissions(f.owner, f.group, f.mode, *_as(host, apps[name])) & READ]
            if others:
                found.append((f"{field}.used_by", f"{f.path} holds secrets, and apps "
                              f"{', '.join(sorted(others))} could read it (owner {f.owner!r}, "
                              f"group {f.group!r}, mode {f.mode!r}): only the apps of used_by "
                              "may; give it another group or owner"))
    return found
