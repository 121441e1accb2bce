"""Packages, system users and the directory tree every other role writes into."""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import apt, server

from aitbc_infra.model import HostSpec
from deploys.facts import UserEntries
from deploys.managed import PathState, directory


def directories(spec: HostSpec) -> list[tuple[str, str, str, str]]:
    """(path, mode, user, group) of every directory this role manages."""
    dirs = [(spec.env_dir, "0700", "root", "root")]
    for app in spec.apps:
        # Code and venv stay root-owned: an app can write only its data directories.
        dirs += [(app.root, "0755", "root", "root"), (app.releases, "0755", "root", "root")]
        dirs += [(f"{app.root}/{d}", "0750", app.user, app.user) for d in app.data_dirs]
    return dirs


def deploy(spec: HostSpec, states: dict[str, PathState]) -> None:
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
    for path, mode, user, group in directories(spec):
        directory(name=f"Directory {path}", path=path, mode=mode, user=user, group=group,
                  current=states.get(path))
