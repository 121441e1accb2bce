"""Packages and system users: what every other role's files and processes need first."""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import apt, server

from aitbc_infra.model import HostSpec
from deploys.facts import UserEntries


def deploy(spec: HostSpec) -> None:
    apt.packages(
        name="Install packages",
        packages=sorted(set(spec.base_packages + spec.packages)),
        no_recommends=True,
    )
    existing = host.get_fact(UserEntries, users=[u.name for u in spec.users]) if spec.users else {}
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
