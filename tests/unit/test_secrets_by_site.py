"""Secrets per site: the secrets file and the environment, the refusal of a value two sites
share by accident, and the sandbox's generated file. No value may appear in any message: each
test that provokes one checks its text for the values it gave."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet, validate_inventory
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox.secrets_file import write_sandbox_secrets
from aitbc_infra.secrets import (
    MissingSecrets,
    RefusedSecretValues,
    SecretsCheck,
    SecretsFileError,
    SecretStore,
    check_secrets,
    env_name,
    read_secrets_file,
)

AT1 = {"JWT_SECRET": "at1-jwt-0123456789", "ADMIN_API_KEYS": "at1-admin-key-0123",
       "SESSION_SECRET": "at1-session-0123456", "WALLET_ENCRYPTION_KEY": "at1-wallet-0123456"}
NS3 = {"JWT_SECRET": "ns3-jwt-0123456789", "ADMIN_API_KEYS": "ns3-admin-key-0123"}


def _with(fleet: Fleet, **changes) -> Fleet:
    """The fleet with `changes` on every host (e.g. its secrets_file)."""
    return Fleet({n: s.model_copy(update=changes) for n, s in fleet.hosts.items()})


def _file(path: Path, sections: dict[str | None, dict[str, str]]) -> Path:
    lines = ["# test secrets"]
    for site, values in sections.items():
        if site:
            lines.append(f"[{site}]")
        lines += [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _assert_no_value(text: str, *values: str) -> None:
    shown = [v for v in values if v in text]
    assert not shown, f"values in the message: {shown}"


# --- Values per site --------------------------------------------------------------------------


def test_each_site_gets_its_own_values_from_its_section(fleet, tmp_path):
    path = _file(tmp_path / "secrets.env", {"at1": AT1, "ns3-root": NS3})
    store = SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ={})
    assert store.lookup("aitbc", "JWT_SECRET") == AT1["JWT_SECRET"]
    assert store.lookup("ns3-aitbc", "JWT_SECRET") == NS3["JWT_SECRET"]
    assert store.lookup("ns3-aitbc", "ADMIN_API_KEYS") == NS3["ADMIN_API_KEYS"]
    # What the hosts get: each coordinator's env file holds its own site's values only.
    rendered = render_fleet(fleet, store.lookup)
    aitbc = {f.path: f.content for f in rendered["aitbc"]}["/etc/aitbc/coordinator-api.env"]
    ns3 = {f.path: f.content for f in rendered["ns3-aitbc"]}["/etc/aitbc/coordinator-api.env"]
    assert f'JWT_SECRET="{AT1["JWT_SECRET"]}"' in aitbc and NS3["JWT_SECRET"] not in aitbc
    assert f'JWT_SECRET="{NS3["JWT_SECRET"]}"' in ns3 and AT1["JWT_SECRET"] not in ns3
    assert repr(store) == "SecretStore(6 values)"


def test_the_environment_wins_and_a_site_value_wins_over_one_for_every_site(fleet, tmp_path):
    path = _file(tmp_path / "secrets.env", {"at1": {**AT1, "JWT_SECRET": "from-the-file-at1"},
                                            "ns3-root": {"ADMIN_API_KEYS": "ns3-file-key"}})
    environ = {env_name("JWT_SECRET", "at1"): "from-the-env-at1",
               "JWT_SECRET": "from-the-env-for-every-site"}
    store = SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ=environ)
    assert env_name("JWT_SECRET", "ns3-root") == "JWT_SECRET__NS3_ROOT"
    assert store.lookup("aitbc", "JWT_SECRET") == "from-the-env-at1"
    assert store.lookup("ns3-aitbc", "JWT_SECRET") == "from-the-env-for-every-site"
    assert store.lookup("ns3-aitbc", "ADMIN_API_KEYS") == "ns3-file-key"


def test_a_missing_value_names_site_host_app_secret_and_where_to_give_it(fleet, tmp_path):
    path = _file(tmp_path / "secrets.env", {"at1": AT1, "ns3-root": {"ADMIN_API_KEYS": "k"}})
    with pytest.raises(MissingSecrets) as exc:
        SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ={})
    message = str(exc.value)
    assert message.splitlines()[1:] == [
        "  - JWT_SECRET for site ns3-root (host ns3-aitbc, app coordinator-api): under "
        "[ns3-root] in the secrets file, or JWT_SECRET__NS3_ROOT in the environment"]
    assert str(path) in message.splitlines()[0]
    _assert_no_value(message, *AT1.values())


# --- Values two sites share -------------------------------------------------------------------


def test_one_value_at_two_sites_is_refused_naming_secret_and_sites_not_the_value(fleet, tmp_path):
    path = _file(tmp_path / "secrets.env",
                 {"at1": AT1, "ns3-root": {**NS3, "JWT_SECRET": AT1["JWT_SECRET"]}})
    with pytest.raises(RefusedSecretValues) as exc:
        SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ={})
    message = str(exc.value)
    assert message.splitlines()[1:] == [
        f"  - JWT_SECRET: sites at1, ns3-root hold the same value (at1: {path}:3; ns3-root: "
        f"{path}:8); give each site its own, or name it in shared_secrets (group_data/all.py)"]
    _assert_no_value(message, *AT1.values(), *NS3.values())


def test_one_admin_key_in_two_sites_lists_is_refused(fleet, tmp_path):
    path = _file(tmp_path / "secrets.env",
                 {"at1": {**AT1, "ADMIN_API_KEYS": "at1-only-key,common-key-123"},
                  "ns3-root": {**NS3, "ADMIN_API_KEYS": '["common-key-123", "ns3-only-key"]'}})
    with pytest.raises(RefusedSecretValues) as exc:
        SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ={})
    assert "ADMIN_API_KEYS: sites at1, ns3-root hold the same list item" in str(exc.value)
    _assert_no_value(str(exc.value), "common-key-123", "at1-only-key", "ns3-only-key")


def test_a_value_for_every_site_is_refused_unless_declared_shared(fleet):
    environ = {**{env_name(k, "at1"): v for k, v in AT1.items()},
               "ADMIN_API_KEYS__NS3_ROOT": NS3["ADMIN_API_KEYS"], "JWT_SECRET": "one-for-all-0123"}
    # at1 has its own: the value for every site reaches ns3-root alone, and is nobody's twin.
    store = SecretStore.for_fleet(fleet, environ=environ)
    assert store.lookup("ns3-aitbc", "JWT_SECRET") == "one-for-all-0123"
    environ.pop("JWT_SECRET__AT1")
    with pytest.raises(RefusedSecretValues) as exc:
        SecretStore.for_fleet(fleet, environ=environ)
    assert "JWT_SECRET: sites at1, ns3-root hold the same value (at1: environment JWT_SECRET; " \
           "ns3-root: environment JWT_SECRET)" in str(exc.value)
    _assert_no_value(str(exc.value), "one-for-all-0123")
    # Declared shared: accepted, and both sites read the one value.
    store = SecretStore.for_fleet(_with(fleet, shared_secrets=["JWT_SECRET"]), environ=environ)
    assert store.lookup("aitbc", "JWT_SECRET") == store.lookup("ns3-aitbc", "JWT_SECRET") \
        == "one-for-all-0123"


def test_the_load_before_a_deploy_refuses_a_shared_value(monkeypatch, capsys):
    for site, values in (("at1", AT1), ("ns3-root", NS3)):
        for name, value in values.items():
            monkeypatch.setenv(env_name(name, site), value)
    monkeypatch.setenv("JWT_SECRET__NS3_ROOT", AT1["JWT_SECRET"])
    with pytest.raises(SystemExit) as exc:
        validate_inventory(str(PROJECT_ROOT / "inventory.py"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "JWT_SECRET: sites at1, ns3-root hold the same value" in err
    _assert_no_value(err, *AT1.values(), *NS3.values())


# --- The file's format ------------------------------------------------------------------------


@pytest.mark.parametrize("lines, line, message", [
    (["[at1]", "JWT_SECRET s3cret-marker"], 2, "expected NAME=VALUE"),
    (["[at1]", "jwt_secret=s3cret-marker"], 2, "expected NAME=VALUE"),
    (["[ns3 root]", "JWT_SECRET=s3cret-marker"], 1, "expected [SITE]"),
    (["[at1]", "JWT_SECRET=s3cret-marker", "", "JWT_SECRET=s3cret-marker"], 4,
     "JWT_SECRET [at1] given again (first on line 2)"),
    (["JWT_SECRET=\"\""], 1, "JWT_SECRET for every site has an empty value"),
])
def test_a_malformed_file_is_named_with_its_line_never_its_text(tmp_path, lines, line, message):
    path = tmp_path / "secrets.env"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SecretsFileError) as exc:
        read_secrets_file(path)
    assert str(exc.value).startswith(f"{path}:{line}: {message}")
    _assert_no_value(str(exc.value), "s3cret-marker")


def test_values_are_read_with_their_site_and_line_and_never_shown(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text('# comment\nSHARED="quoted value"\n[at1]\n  JWT_SECRET = a=b=c \n')
    found = read_secrets_file(path)
    assert [(s.site, s.name, s.value, s.where) for s in found] == [
        (None, "SHARED", "quoted value", f"{path}:2"), ("at1", "JWT_SECRET", "a=b=c", f"{path}:4")]
    assert "a=b=c" not in repr(found)


# --- check ------------------------------------------------------------------------------------


def test_check_passes_without_values_and_fails_on_a_shared_or_malformed_one(fleet, tmp_path):
    assert check_secrets(fleet, environ={}) == SecretsCheck(
        True, "2 sites; 0 of 6 values given here, none shared between sites")
    shared = check_secrets(fleet, environ={"ADMIN_API_KEYS": "one-admin-key-0123"})
    assert not shared.ok and shared.detail.startswith("ADMIN_API_KEYS: sites at1, ns3-root")
    _assert_no_value(shared.detail, "one-admin-key-0123")
    path = tmp_path / "secrets.env"
    path.write_text("[at1]\nnot a line s3cret-marker\n")
    broken = check_secrets(_with(fleet, secrets_file=str(path)), environ={})
    assert (broken.ok, broken.detail) == (False, f"{path}:2: expected NAME=VALUE, NAME in A-Z, "
                                                 "0-9 and _")


def test_the_check_command_fails_on_a_shared_value_without_showing_it():
    value = "jwt-for-every-site-0123"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(tuple(AT1))},
           "PYTHONPATH": str(PROJECT_ROOT / "src"), "JWT_SECRET": value}
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  secrets: JWT_SECRET: sites at1, ns3-root hold the same value" in proc.stdout
    _assert_no_value(proc.stdout + proc.stderr, value)


# --- The sandbox's file -----------------------------------------------------------------------


def _values(path: Path) -> dict[tuple[str | None, str], str]:
    return {(s.site, s.name): s.value for s in read_secrets_file(path)}


def test_the_sandbox_gives_each_site_its_own_random_values(fleet, tmp_path):
    path = tmp_path / "secrets.env"
    write_sandbox_secrets(path, fleet)
    values = _values(path)
    assert sorted(values) == [("at1", "ADMIN_API_KEYS"), ("at1", "JWT_SECRET"),
                              ("at1", "SESSION_SECRET"), ("at1", "WALLET_ENCRYPTION_KEY"),
                              ("ns3-root", "ADMIN_API_KEYS"), ("ns3-root", "JWT_SECRET")]
    assert values["at1", "JWT_SECRET"] != values["ns3-root", "JWT_SECRET"]
    assert len(set(values.values())) == len(values) and all(len(v) >= 24 for v in values.values())
    assert path.stat().st_mode & 0o777 == 0o600
    SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ={})  # accepted
    text = path.read_text()
    write_sandbox_secrets(path, fleet)
    assert path.read_text() == text  # kept as made


def test_the_sandbox_upgrades_a_file_of_one_value_for_every_site(fleet, tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("# sandbox secrets (generated)\nJWT_SECRET=old-shared\n"
                    "DATABASE_URL=no-longer-declared\n")
    path.chmod(0o644)
    write_sandbox_secrets(path, fleet)
    values = _values(path)
    assert all(site for site, _ in values) and "old-shared" not in values.values()
    assert ("at1", "DATABASE_URL") not in values
    assert path.stat().st_mode & 0o777 == 0o600
    SecretStore.for_fleet(_with(fleet, secrets_file=str(path)), environ={})


def test_the_sandbox_remakes_an_unreadable_file(fleet, tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("[at1]\nthis line is broken\n")
    write_sandbox_secrets(path, fleet)
    assert len(_values(path)) == 6


def test_the_sandbox_keeps_the_values_of_another_inventorys_sites(fleet, tmp_path):
    path = _file(tmp_path / "secrets.env", {"ns9-root": {"JWT_SECRET": "ns9-value-0123"}})
    write_sandbox_secrets(path, fleet)
    assert _values(path)["ns9-root", "JWT_SECRET"] == "ns9-value-0123"
    text = path.read_text()
    write_sandbox_secrets(path, load_fleet(PROJECT_ROOT / "examples/three-sites/inventory.py"))
    write_sandbox_secrets(path, fleet)
    assert path.read_text() == text
