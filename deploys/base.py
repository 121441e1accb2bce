"""Packages and system users: what every other role's files and processes need first."""

from __future__ import annotations

from pyinfra.api import operation
from pyinfra.operations import apt, server

from aitbc_infra.model import HostSpec, User
from aitbc_infra.plan import HostPlan
from deploys import state


def deploy(spec: HostSpec, plan: HostPlan) -> None:
    installed = state.read(plan).packages
    missing = [p for p in plan.packages if p not in installed]
    if missing:  # as declared otherwise: apt's own package fact is not even read
        apt.packages(name=f"Install packages: {' '.join(missing)}", packages=plan.packages,
                     no_recommends=True)
    existing = state.read(plan).users
    owed = [u for u in spec.users if existing.get(u.name) != (u.home, login_shell(u))]
    if owed:  # as declared otherwise: no per-user facts to read
        users(owed, name=f"Users: {' '.join(u.name for u in owed)}")


def login_shell(user: User) -> str:
    return "/usr/sbin/nologin" if user.system else "/bin/bash"


@operation()
def users(owed: list[User]):
    """Every user a host lacks (or whose home or shell differ), in one operation: one round
    trip however many users the host has."""
    for user in owed:
        yield from server.user._inner(user=user.name, home=user.home, system=user.system,
                                      shell=login_shell(user), create_home=not user.system,
                                      ensure_home=False)
