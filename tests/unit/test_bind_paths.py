"""A directory an app's code hard-codes (`bind_paths` of a service): the unit alone sees one of
its app's data dirs there (BindPaths=), writable as its data dirs are. What the model refuses
names host, service and path; the production data declares none."""

from __future__ import annotations

import pytest
from unit_helpers import build_fleet, production_hosts

from aitbc_infra.fleet import ModelError
from aitbc_infra.render import render_fleet

HOST = "aitbc"
UNIT = "aitbc-wallet-daemon"


def _bind(paths: dict):
    def edit(data: dict) -> None:
        (app,) = [a for a in data["apps"] if a["name"] == "wallet-daemon"]
        app["data_dirs"] = [*app["data_dirs"], "bridge"]
        (svc,) = app["services"]
        svc["bind_paths"] = paths
    return edit


def _unit(fleet) -> str:
    (unit,) = [f.content for f in render_fleet(fleet)[HOST]
               if f.path == f"/etc/systemd/system/{UNIT}.service"]
    return unit


def test_the_unit_sees_its_data_dir_at_the_hard_coded_path_and_may_write_it():
    unit = _unit(build_fleet(production_hosts(HOST, _bind({"/var/lib/aitbc": "bridge"}))))
    assert "BindPaths=/opt/wallet-daemon/bridge:/var/lib/aitbc\n" in unit
    (writable,) = [line for line in unit.splitlines() if line.startswith("ReadWritePaths=")]
    assert "/opt/wallet-daemon/bridge" in writable.split("=", 1)[1].split()


def test_the_production_data_binds_nothing():
    fleet = build_fleet(production_hosts(HOST))
    assert not any("BindPaths=" in f.content for files in render_fleet(fleet).values()
                   for f in files)


@pytest.mark.parametrize("paths, says", [
    ({"/var/lib/aitbc": "elsewhere"}, "'elsewhere' is not one of the app's data dirs"),
    ({"/etc/aitbc": "bridge"}, "only a directory under /var or /srv"),
    ({"/usr/lib": "bridge"}, "only a directory under /var or /srv"),
    ({"/var/run/x": "bridge"}, "only a directory under /var or /srv"),
    ({"/opt/wallet-daemon": "bridge"}, "only a directory under /var or /srv"),
    ({"/var/lib/../../etc": "bridge"}, "bind_paths"),
    ({"/var/lib/a b": "bridge"}, "bind_paths"),
    ({"/var/lib/x\nExecStartPre=/bin/sh": "bridge"}, "bind_paths"),
    ({"/var/lib/aitbc": "../../etc"}, "bind_paths"),
])
def test_a_bad_bind_path_is_refused_naming_host_and_service(paths, says):
    with pytest.raises(ModelError) as info:
        build_fleet(production_hosts(HOST, _bind(paths)))
    problems = [str(p) for p in info.value.problems]
    assert any(p.startswith(f"host {HOST}") and says in p for p in problems), problems


def test_a_bind_path_over_the_apps_own_root_is_refused():
    def under_var(data: dict) -> None:
        (app,) = [a for a in data["apps"] if a["name"] == "wallet-daemon"]
        app["root"] = "/var/lib/wallet-daemon"
    for target in ("/var/lib/wallet-daemon", "/var/lib", "/var/lib/wallet-daemon/data"):
        with pytest.raises(ModelError) as info:
            build_fleet(production_hosts(HOST, under_var, _bind({target: "bridge"})))
        assert any("would hide the app's own root /var/lib/wallet-daemon" in str(p)
                   for p in info.value.problems), (target, info.value.problems)
