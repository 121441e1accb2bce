"""Packages, system users and the directory tree every other role writes into."""

from pyinfra.operations import apt, files, server

from aitbc_infra.model import HostSpec


def deploy(spec: HostSpec) -> None:
    apt.packages(
        name="Install packages",
        packages=sorted(set(spec.base_packages + spec.packages)),
        no_recommends=True,
    )
    for user in spec.users:
        server.user(
            name=f"User {user.name}",
            user=user.name,
            home=user.home,
            system=user.system,
            shell="/usr/sbin/nologin" if user.system else "/bin/bash",
            create_home=not user.system,
            ensure_home=False,
        )
    files.directory(name="Env file directory", path=spec.env_dir, user="root", group="root",
                    mode="0700")
    for app in spec.apps:
        # Code and venv stay root-owned: an app can write only its data directories.
        files.directory(name=f"{app.name}: release directory", path=app.root, mode="0755")
        for data_dir in app.data_dirs:
            files.directory(name=f"{app.name}: data {data_dir}", path=f"{app.root}/{data_dir}",
                            user=app.user, group=app.user, mode="0750")
