"""Packages and system users: what every other role's files and processes need first."""

from __future__ import annotations

from pyinfra.operations import apt, server

from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from deploys import state


def deploy(spec: HostSpec, plan: HostPlan) -> None:
    installed = state.read(plan).packages
    missing = [p for p in plan.packages if p not in installed]
    if missing:  # as declared otherwise: apt's own package fact is not even read
        apt.packages(name=f"Install packages: {' '.join(missing)}", packages=plan.packages,
                     no_recommends=True)
    existing = state.read(plan).users
    for user in spec.users:
        shell = "/usr/sbin/nologin" if user.system else "/bin/bash"
        if existing.get(user.name) == (user.home, shell):
            continue  # as declared: no per-user facts to read
        server.user(
            name=f"User {user.name}",
            user=user.name,
            home=user.home,
            system=user.system,
            shell=shell,
            create_home=not user.system,
            ensure_home=False,
        )
