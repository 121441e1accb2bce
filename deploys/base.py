"""Packages, system users and groups: what every other role's files and processes need first."""

from __future__ import annotations

from pyinfra.operations import apt, server

from aitbc_infra.drift import State
from aitbc_infra.model import HostSpec, User
from aitbc_infra.plan import HostPlan
from deploys.managed import lines
from deploys.shell import quoted


def deploy(spec: HostSpec, plan: HostPlan, state: State) -> None:
    installed = state.packages
    missing = [p for p in plan.packages if p not in installed]
    if missing:  # as declared otherwise: apt's own package fact is not even read
        apt.packages(name=f"Install packages: {' '.join(missing)}", packages=plan.packages,
                     no_recommends=True)
    existing = state.users
    owed = [u for u in spec.users if existing.get(u.name) != (u.home, login_shell(u))]
    groups = [g for g in plan.groups if g not in state.groups]
    if owed or groups:  # as declared otherwise: no per-user or per-group facts to read
        what = " and ".join(w for w, named in (("Users", owed), ("groups", groups)) if named)
        server.shell(name=f"{what.capitalize()}: {' '.join([*(u.name for u in owed), *groups])}",
                     commands=lines([*map(group_command, groups),
                                     *(user_command(u, existing.get(u.name)) for u in owed)]))


def group_command(name: str) -> str:
    """A system group of the data's `unix_groups` (no user is made a member: the units that
    need it hold it as a supplementary group of their own)."""
    return quoted("groupadd", "-r", "--", name)


def login_shell(user: User) -> str:
    return "/usr/sbin/nologin" if user.system else "/bin/bash"


def user_command(user: User, current: tuple[str, str] | None) -> str:
    """Create the user, or set the home and shell of the one there (`current`, as the state
    read it): one command per user, all of a host's in one round trip. A system user gets no
    home directory created; a group of its name already there becomes its primary group, as
    useradd would refuse to create it again."""
    if current is not None:
        return quoted("usermod", "-d", user.home, "-s", login_shell(user), "--", user.name)
    args = ["-d", user.home, "-s", login_shell(user), *(["-r", "-M"] if user.system else ["-m"])]
    return (f"if {quoted('getent', 'group', '--', user.name)} >/dev/null; "
            f"then {quoted('useradd', *args, '-g', user.name, '--', user.name)}; "
            f"else {quoted('useradd', *args, '--', user.name)}; fi")
