"""Values typed for where they land: each refused before anything renders or connects, naming
host, field and value (a secret by name only), and each legitimate one still rendered as meant.

One fact of the production data is changed (the `data` fixture: found by its identity, not its
position) and the copy is loaded as pyinfra loads it; the field paths the messages must name are
computed from the same data.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import aitbc_infra
from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import ModelError
from aitbc_infra.generated_env import (
    GENERATED_ENV,
    RESERVED_ENV,
    SYSTEMD_ENV,
    env_name,
    reserved_env,
)
from aitbc_infra.incus import ProvisionError, container_plan
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import InjectedEnv
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox import inventory
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.plan import plan_for
from aitbc_infra.secrets import RefusedSecretValues, SecretStore, check_secrets


def _refused(data) -> list:
    with pytest.raises(ModelError) as info:
        data.load()
    return info.value.problems


def _named(problems, node: str, field: str, *fragments: str) -> None:
    """Some problem names `node` and `field`, its message holding every fragment."""
    found = [p for p in problems if f"host {node}" in p.where and p.field == field]
    assert found, f"nothing names host {node}, field {field}: {[str(p) for p in problems]}"
    assert any(all(f in str(p) for f in fragments) for p in found), [str(p) for p in found]


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The command line of the code under test (this checkout's, whatever is installed)."""
    env = {**os.environ, "PYTHONPATH": str(Path(aitbc_infra.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "aitbc_infra", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def _env(rendered, node: str, unit: str) -> dict[str, str]:
    env = next(f for f in rendered[node] if f.kind == "env" and f.unit == unit)
    lines = [line for line in env.content.splitlines() if line and not line.startswith("#")]
    return {k: json.loads(v) for k, _, v in (line.partition("=") for line in lines)}


# --- 5. Provisioning ---------------------------------------------------------------------------

# A well-formed ed25519 public key blob (its type, then 32 bytes) and a private key file's shape.
_BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode()
PUBLIC = f"ssh-ed25519 {_BLOB} operator@control\n"
PRIVATE_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ"
PRIVATE = (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_BODY}\n"
           "-----END OPENSSH PRIVATE KEY-----\n")


def _container_ssh(data, **ssh) -> None:
    data.groups["aitbc_container"]["container"]["ssh"] = ssh


def test_a_private_key_as_authorized_key_is_refused_naming_the_path_not_the_content(data, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text(PRIVATE)
    _container_ssh(data, authorized_key=str(key))
    fleet = data.load()
    with pytest.raises(ProvisionError) as info:
        container_plan(fleet, fleet.hosts["aitbc"])
    message = str(info.value)
    assert message.startswith(f"host aitbc: container.ssh.authorized_key: {str(key)!r} holds a "
                              "private key")
    assert PRIVATE_BODY not in message and "BEGIN" not in message


def test_provision_refuses_the_private_key_before_connecting(data, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text(PRIVATE)
    _container_ssh(data, authorized_key=str(key))
    proc = _cli("provision", "--inventory", str(data.write()), "--dry")
    assert proc.returncode == 2, proc.stderr
    assert "host aitbc: container.ssh.authorized_key" in proc.stderr
    assert "Traceback" not in proc.stderr and PRIVATE_BODY not in proc.stdout + proc.stderr
    assert "Connecting" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("content", [
    "",
    "not a key\n",
    f"{PUBLIC}{PUBLIC}",  # two keys: the field is one key
    f'from="10.0.0.1" {PUBLIC}',  # options belong to an authorized_keys file, not a .pub
    "ssh-ed25519 not*base64 x\n",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n",  # truncated base64
    "ssh-dss AAAAB3NzaC1kc3MAAACBAP\n",
], ids=["empty", "text", "two-lines", "options", "bad-base64", "truncated", "dss"])
def test_anything_but_one_public_key_is_refused(data, tmp_path, content):
    key = tmp_path / "key.pub"
    key.write_text(content)
    _container_ssh(data, authorized_key=str(key))
    fleet = data.load()
    with pytest.raises(ProvisionError, match=r"^host aitbc: container\.ssh\.authorized_key: .*"
                                             r"is not one line 'TYPE BASE64 \[COMMENT\]'"):
        container_plan(fleet, fleet.hosts["aitbc"])


def test_a_public_key_is_pushed_as_it_was_checked(data, tmp_path):
    key = tmp_path / "id_ed25519.pub"
    key.write_text(PUBLIC)
    host_key = tmp_path / "ssh_host_ed25519_key"
    host_key.write_text(PRIVATE)
    Path(f"{host_key}.pub").write_text(PUBLIC)
    _container_ssh(data, authorized_key=str(key), host_key=str(host_key))
    fleet = data.load()
    files = {f.path: f for f in container_plan(fleet, fleet.hosts["aitbc"]).files}
    assert files["/root/.ssh/authorized_keys"].data == PUBLIC.encode()
    assert files["/etc/ssh/ssh_host_ed25519_key"].data == PRIVATE.encode()
    assert files["/etc/ssh/ssh_host_ed25519_key.pub"].data == PUBLIC.encode()


def test_a_host_key_must_be_a_private_ed25519_key_with_its_public_key(data, tmp_path):
    public = tmp_path / "id_ed25519.pub"
    public.write_text(PUBLIC)
    swapped = tmp_path / "swapped"
    swapped.write_text(PUBLIC)  # the public key where the private one belongs
    Path(f"{swapped}.pub").write_text(PUBLIC)
    _container_ssh(data, authorized_key=str(public), host_key=str(swapped))
    fleet = data.load()
    with pytest.raises(ProvisionError, match=r"^host aitbc: container\.ssh\.host_key: .* is not "
                                             "an OpenSSH private key"):
        container_plan(fleet, fleet.hosts["aitbc"])
    swapped.write_text(PRIVATE)
    Path(f"{swapped}.pub").write_text(PUBLIC.replace("ssh-ed25519", "ssh-rsa"))
    with pytest.raises(ProvisionError, match=r"is a ssh-rsa key, not ssh-ed25519"):
        container_plan(fleet, fleet.hosts["aitbc"])


def test_the_control_machines_incusd_is_refused_in_production_data(data):
    data.groups["incus_host"]["incus"]["daemon"] = "control"
    problems = _refused(data)
    _named(problems, "at1", "incus.daemon", "for the sandbox only",
           "deploy_environment is 'production'")
    _named(problems, "at1", "incus.daemon", "with a managed network would create 'incusbr0'")


def test_the_control_machines_incusd_serves_the_sandbox_on_existing_bridges(data):
    data.groups["all"]["deploy_environment"] = "sandbox"
    for group in ("incus_host", "ns3_host"):
        data.groups[group]["incus"].update(daemon="control", storage_pool="sandbox")
        data.groups[group]["incus"]["network"]["managed"] = False
    fleet = data.load()
    assert {h.incus.daemon for h in fleet.hosts.values() if h.incus} == {"control"}
    # One incusd, one storage pool.
    data.groups["ns3_host"]["incus"]["storage_pool"] = "other"
    _named(_refused(data), "ns3-root", "incus.storage_pool", "share one pool")


def test_the_sandboxs_incus_inventory_is_accepted(fleet, tmp_path):
    # What `sandbox up --incus` writes (nothing is started here): the rule admits it as it is.
    path = tmp_path / "inventory.py"
    path.write_text(inventory.render(Paths(state=tmp_path), fleet, plan_for(fleet),
                                     incus_image=tmp_path / "image"))
    sandbox = load_fleet(path, root=PROJECT_ROOT)
    hosts = [h for h in sandbox.hosts.values() if h.incus]
    assert hosts and all(h.incus.daemon == "control" and not h.incus.network.managed
                         for h in hosts)


@pytest.mark.parametrize("value", [True, 2.0, "2"])
def test_a_cpu_limit_is_a_number(data, value):
    data.groups["aitbc_container"]["container"]["limits"]["cpu"] = value
    _named(_refused(data), "aitbc", "container.limits.cpu", repr(value))


# --- 6. Generated names are the model's ------------------------------------------------------


def test_a_list_secret_may_not_replace_the_cors_origins(data):
    field, app = data.app("aitbc_container", "coordinator-api")
    app["secret_lists"] = [*app["secret_lists"], "ALLOW_ORIGINS"]
    k = len(app["secret_lists"]) - 1
    _named(_refused(data), "aitbc", f"{field}.secret_lists[{k}]", "app coordinator-api",
           "'ALLOW_ORIGINS' is set by the model", "cors_origins")


@pytest.mark.parametrize("where", ["env", "secrets", "service env"])
def test_the_chain_id_is_the_chains(data, where):
    field, app = data.app("aitbc_container", "blockchain-node")
    if where == "env":
        app["env"]["CHAIN_ID"] = "other-chain"
        place = f"{field}.env"
    elif where == "secrets":
        app["secrets"] = ["CHAIN_ID"]
        place = f"{field}.secrets[0]"
    else:
        app["services"][0]["env"] = {"CHAIN_ID": "other-chain"}
        place = f"{field}.services[0].env"
    _named(_refused(data), "aitbc", place, "app blockchain-node", "'CHAIN_ID'", "chain.chain_id")


@pytest.mark.parametrize("name", sorted(RESERVED_ENV))
def test_every_generated_name_is_refused_in_a_services_env(data, name):
    field, svc = data.service("aitbc_container", "coordinator-api")
    svc["env"] = {name: "x"}
    _named(_refused(data), "aitbc", f"{field}.env", f"{name!r} is set by the model")


def test_one_name_as_a_secret_and_a_list_secret_is_refused(data):
    field, app = data.app("aitbc_container", "coordinator-api")
    app["secret_lists"] = [*app["secret_lists"], "JWT_SECRET"]
    _named(_refused(data), "aitbc", f"{field}.secret_lists", "['JWT_SECRET'] also in secrets")


def test_a_secret_also_in_a_services_env_is_refused(data):
    field, app = data.app("aitbc_container", "coordinator-api")
    app["services"][0]["env"] = {"JWT_SECRET": "plain"}
    _named(_refused(data), "aitbc", f"{field}.secrets", "['JWT_SECRET'] are secrets and also plain")


def test_the_rendered_env_holds_the_models_values_under_the_one_list_of_names(fleet):
    rendered = render_fleet(fleet)
    for node, host in fleet.hosts.items():
        for app, svc in host.services:
            env = _env(rendered, node, svc.unit)
            given = {*app.env, *svc.env, *app.all_secrets}
            # Every name the render adds is one of the table's, and the data gives none of them.
            assert set(env) - given <= {env_name(app, key) for key in GENERATED_ENV}, svc.unit
            assert not given & set(reserved_env(app))
    coordinator = _env(rendered, "aitbc", "coordinator-api")
    assert coordinator["ALLOW_ORIGINS"] == json.dumps(fleet.hosts["aitbc"].cors_origins)
    node = _env(rendered, "aitbc", "aitbc-blockchain-node-1")
    assert node["CHAIN_ID"] == fleet.hosts["aitbc"].chain.chain_id
    assert node["BLOCK_TIME_SECONDS"] == str(fleet.hosts["aitbc"].chain.block_time_seconds)
    rpc = _env(rendered, "aitbc", "aitbc-blockchain-rpc-1")
    assert (rpc["RPC_BIND_HOST"], rpc["RPC_BIND_PORT"]) == ("127.0.0.1", "8081")
    assert coordinator["JWT_SECRET"] == "<redacted:JWT_SECRET>"


# --- 7. The model's names, renamed by an app ---------------------------------------------------


def test_env_names_takes_every_name_of_the_table_and_no_other():
    assert set(typing.get_args(InjectedEnv)) == {k for k, g in GENERATED_ENV.items() if g.renamable}
    assert {k for k, g in GENERATED_ENV.items() if not g.renamable} == {"python_path"}
    assert {g.name for g in GENERATED_ENV.values()} | set(SYSTEMD_ENV) == set(RESERVED_ENV)


def test_renamed_values_render_under_the_apps_names_and_free_the_old_ones(data):
    field, app = data.app("aitbc_container", "blockchain-node")
    app["env_names"] = {"allow_origins": "CORS_ORIGINS", "peers": "DEFAULT_PEER_RPC_URL"}
    # The names the app no longer gets are the data's again.
    app["env"]["PEERS"] = "read by nothing"
    fleet = data.load()
    rendered = render_fleet(fleet)
    node = _env(rendered, "aitbc", "aitbc-blockchain-node-1")
    assert node["CORS_ORIGINS"] == json.dumps(fleet.hosts["aitbc"].cors_origins)
    assert node["DEFAULT_PEER_RPC_URL"] == '["https://aitbc.keisanki.net"]'
    assert "ALLOW_ORIGINS" not in node and node["PEERS"] == "read by nothing"
    assert node["CHAIN_ID"] == fleet.hosts["aitbc"].chain.chain_id
    # Another app keeps the table's names.
    assert "ALLOW_ORIGINS" in _env(rendered, "aitbc", "aitbc-blockchain-node-2")


def test_production_data_renames_nothing(fleet):
    assert all(not app.env_names for host in fleet.hosts.values() for app in host.apps)


@pytest.mark.parametrize("where", ["env", "secrets", "secret_lists", "service env"])
def test_a_renamed_name_is_the_models(data, where):
    field, app = data.app("aitbc_container", "blockchain-node")
    app["env_names"] = {"allow_origins": "CORS_ORIGINS"}
    if where == "service env":
        app["services"][1]["env"] = {"CORS_ORIGINS": "*"}
        place = f"{field}.services[1].env"
    elif where == "env":
        app["env"]["CORS_ORIGINS"] = "*"
        place = f"{field}.env"
    else:
        app[where] = ["CORS_ORIGINS"]
        place = f"{field}.{where}[0]"
    _named(_refused(data), "aitbc", place, "app blockchain-node", "'CORS_ORIGINS' is set by the "
           "model", "cors_origins", "env_names.allow_origins")


@pytest.mark.parametrize("name", sorted(SYSTEMD_ENV))
def test_no_model_value_takes_a_name_of_systemds(data, name):
    field, app = data.app("aitbc_container", "blockchain-node")
    app["env_names"] = {"peers": name}
    _named(_refused(data), "aitbc", f"{field}.env_names.peers", "app blockchain-node",
           f"{name!r} is set by systemd")


@pytest.mark.parametrize(("renames", "key", "other"), [
    ({"peers": "CHAIN_ID"}, "peers", "chain_id"),  # the other keeps its own name
    ({"peers": "NODE_URLS", "allow_origins": "NODE_URLS"}, "allow_origins", "peers"),
])
def test_two_model_values_never_share_a_name(data, renames, key, other):
    field, app = data.app("aitbc_container", "blockchain-node")
    app["env_names"] = renames
    _named(_refused(data), "aitbc", f"{field}.env_names.{key}", "app blockchain-node",
           f"{renames[key]!r} is also the name of {other}")


def test_two_model_values_may_trade_names(data):
    field, app = data.app("aitbc_container", "blockchain-node")
    app["env_names"] = {"peers": "CHAIN_ID", "chain_id": "PEERS"}
    node = _env(render_fleet(data.load()), "aitbc", "aitbc-blockchain-node-1")
    assert node["PEERS"] == "ait-devnet" and node["CHAIN_ID"] == '["https://aitbc.keisanki.net"]'


@pytest.mark.parametrize(("app_name", "key", "given"), [
    ("wallet-daemon", "chain_id", "for an app with chain"),
    ("wallet-daemon", "allow_origins", "for an app with cors"),
])
def test_renaming_what_the_app_is_not_given_is_refused(data, app_name, key, given):
    field, app = data.app("aitbc_container", app_name)
    app["env_names"] = {key: "SOMETHING"}
    _named(_refused(data), "aitbc", f"{field}.env_names.{key}", f"app {app_name}",
           "'SOMETHING' renames nothing", given)


def test_a_bind_name_is_renamed_only_for_an_app_that_listens(data):
    field, app = data.app("incus_host", "blockchain-node")
    app["env_names"] = {"rpc_bind_port": "PORT"}
    rendered = render_fleet(data.load())
    assert _env(rendered, "at1", "aitbc-blockchain-rpc")["PORT"] == "9080"
    assert "RPC_BIND_PORT" not in _env(rendered, "at1", "aitbc-blockchain-rpc")


@pytest.mark.parametrize(("renames", "place", "shown"), [
    ({"allow_origins": "cors-origins"}, "env_names.allow_origins", "'cors-origins'"),
    ({"allow_origins": "CORS\nX=1"}, "env_names.allow_origins", "'CORS\\nX=1'"),
    ({"listen_fds": "FDS"}, "env_names.listen_fds", "allow_origins"),
])
def test_a_rename_is_an_env_name_of_a_model_value(data, renames, place, shown):
    field, app = data.app("aitbc_container", "blockchain-node")
    app["env_names"] = renames
    problems = _refused(data)
    assert any(p.where.startswith("host aitbc") and p.field.startswith(f"{field}.{place}")
               and shown in str(p) for p in problems), [str(p) for p in problems]


# --- 8. Peers ----------------------------------------------------------------------------------


def test_a_node_is_not_its_own_peer(data):
    field, app = data.app("aitbc_container", "blockchain-node-2")
    app["peers"] = ["aitbc-blockchain-rpc-2"]
    _named(_refused(data), "aitbc", f"{field}.peers[0]", "app blockchain-node-2",
           "'aitbc-blockchain-rpc-2' is this node's own service")


def test_a_peer_site_answered_by_the_node_itself_is_refused(data):
    # Node 3 following the public site that proxies /rpc/ to node 3.
    field, app = data.app("ns3_container", "blockchain-node")
    app["peers"] = ["aitbc.keisanki.net"]
    _named(_refused(data), "ns3-aitbc", f"{field}.peers[0]", "site 'aitbc.keisanki.net' answers "
           "/rpc/head from 'aitbc-blockchain-rpc-3', this node's own service")


def test_a_peer_unit_without_a_port_is_refused_not_a_traceback(data, tmp_path):
    field, app = data.app("aitbc_container", "blockchain-node-2")
    app["peers"] = ["aitbc-blockchain-node-1"]
    inventory = data.write()
    _named(_refused(data), "aitbc", f"{field}.peers[0]", "'aitbc-blockchain-node-1' has no port")
    out = tmp_path / "out"
    proc = _cli("render", "--inventory", str(inventory), "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{field}.peers[0]" in proc.stderr and not out.exists()


def test_peers_of_an_app_that_is_no_chain_node_are_refused(data):
    field, app = data.app("aitbc_container", "wallet-daemon")
    app["peers"] = ["aitbc.keisanki.net"]
    _named(_refused(data), "aitbc", f"{field}.peers", "only a chain node")


def test_peers_render_as_their_urls(fleet):
    rendered = render_fleet(fleet)
    assert _env(rendered, "aitbc", "aitbc-blockchain-node-1")["PEERS"] == '["https://aitbc.keisanki.net"]'
    assert _env(rendered, "aitbc", "aitbc-blockchain-node-2")["PEERS"] == '["http://127.0.0.1:8081"]'
    assert _env(rendered, "ns3-aitbc", "aitbc-blockchain-node-3")["PEERS"] == '["https://aitbc.bubuit.net"]'


# --- 9. Leftovers ------------------------------------------------------------------------------


def test_a_bool_is_not_a_port_and_render_writes_nothing(data, tmp_path):
    field, svc = data.service("aitbc_container", "aitbc-trade-exchange")
    svc["port"] = True
    inventory = data.write()
    _named(_refused(data), "aitbc", f"{field}.port", "valid integer", "True")
    out = tmp_path / "out"
    proc = _cli("render", "--inventory", str(inventory), "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{field}.port" in proc.stderr and not out.exists()


def _set_number(data, what: str, value):
    """Put `value` in one number field of the data; returns (node, field path)."""
    if what == "listen":
        site = data.groups["aitbc_container"]["nginx_sites"][0]
        site["listen"] = value
        return "aitbc", "nginx_sites[0].listen"
    if what == "forward":
        field, fwd = data.forward("ns3_host", 8000)
        fwd["port"] = value
        return "ns3-root", f"{field}.port"
    if what == "opening":
        data.groups["ns3_host"]["firewall"]["open"][0]["port"] = value
        return "ns3-root", "firewall.open[0].port"
    if what == "status":
        field, route = data.route("aitbc_container", "/health")
        route["status"] = value
        return "aitbc", f"{field}.status"
    if what == "workers":
        field, svc = data.service("aitbc_container", "aitbc-blockchain-rpc-1")
        svc["workers"] = value
        return "aitbc", f"{field}.workers"
    if what == "rate":
        data.groups["all"]["rate_limits"]["api"]["rate"] = value
        return "at1", "rate_limits.api.rate"
    if what == "block_time":
        data.groups["all"]["chain"]["block_time_seconds"] = value
        return "at1", "chain.block_time_seconds"
    if what == "keep_releases":
        data.groups["all"]["rollout"]["keep_releases"] = value
        return "at1", "rollout.keep_releases"
    if what == "bridge_prefix":
        data.host("ns3-root")["bridge_prefix"] = value
        return "ns3-root", "bridge_prefix"
    raise AssertionError(what)


@pytest.mark.parametrize("value", [True, 3.0, "3"], ids=["bool", "float", "text"])
@pytest.mark.parametrize("what", ["listen", "forward", "opening", "status", "workers", "rate",
                                  "block_time", "keep_releases", "bridge_prefix"])
def test_every_number_is_a_number(data, what, value):
    node, field = _set_number(data, what, value)
    _named(_refused(data), node, field, repr(value))


@pytest.mark.parametrize("value", [True, 1, 3232235777, b"\n\x01\xdf]"])
def test_an_address_is_written_as_text(data, value):
    data.host("aitbc")["bridge_address"] = value
    _named(_refused(data), "aitbc", "bridge_address", "written as text")


_ALL_SECRETS = {"JWT_SECRET__AT1": "at1-jwt-0123", "ADMIN_API_KEYS__AT1": "at1-admin-0123",
                "SESSION_SECRET__AT1": "at1-session-0123", "WALLET_ENCRYPTION_KEY__AT1": "at1-w-0123",
                "JWT_SECRET__NS3_ROOT": "ns3-jwt-0123", "ADMIN_API_KEYS__NS3_ROOT": "ns3-admin-0123"}


@pytest.mark.parametrize("char", ["\n", "\r", "\0"], ids=["newline", "cr", "nul"])
def test_a_secret_value_holding_a_line_break_is_refused_by_name(fleet, char):
    value = f"at1-jwt{char}EVIL=1"
    environ = {**_ALL_SECRETS, "JWT_SECRET__AT1": value}
    check = check_secrets(fleet, environ)
    assert not check.ok
    assert "JWT_SECRET for site at1 (environment JWT_SECRET__AT1)" in check.detail
    assert "host aitbc, app coordinator-api" in check.detail
    with pytest.raises(RefusedSecretValues) as info:
        SecretStore.for_fleet(fleet, environ)
    for text in (check.detail, str(info.value)):
        assert "EVIL" not in text and "at1-jwt" not in text
    assert SecretStore.for_fleet(fleet, _ALL_SECRETS).lookup("aitbc", "JWT_SECRET") == "at1-jwt-0123"


def test_an_alias_location_and_path_end_alike(data):
    field, route = data.route("aitbc_container", "/docs/")
    assert route["path"] == "docs/"
    route.update(location="/docs", probe="/docs/")  # `location /docs { alias .../docs/; }`
    _named(_refused(data), "aitbc", field, "location '/docs' with path 'docs/'", "alias traversal")
    route.update(location="/docs/", path="docs")  # `location /docs/ { alias .../docs; }`
    _named(_refused(data), "aitbc", field, "location '/docs/' with path 'docs'")


def test_an_alias_whose_location_and_path_agree_renders(fleet):
    site = next(f for f in render_fleet(fleet)["aitbc"] if f.path.endswith("/aitbc.bubuit.net"))
    assert "location /docs/ {\n        alias /var/www/aitbc.bubuit.net/docs/;" in site.content


def test_a_host_off_the_wan_is_told_to_set_its_public_address(data):
    data.host("at1").pop("public_address")
    problems = _refused(data)
    _named(problems, "at1", "public_address", "an incus host faces the wan",
           "set public_address to the address the wan reaches it at")
    assert not [p for p in problems if "host at1" in p.where and "container.host" in str(p)]


# --- The target a release is built for -------------------------------------------------------

def test_a_hosts_python_follows_its_debian_release_unless_the_data_names_one(data):
    fleet = data.load()
    assert fleet.hosts["aitbc"].debian == 12 and fleet.hosts["aitbc"].python.version == "3.11.2"
    data.groups["aitbc_container"]["debian"] = 13
    fleet = data.load()
    assert fleet.hosts["aitbc"].python.version == "3.13.5"  # trixie's python3
    assert fleet.hosts["at1"].python.version == "3.11.2"  # the other hosts stay on bookworm
    data.groups["aitbc_container"]["python"] = {"version": "3.13", "executable": "/usr/bin/python3"}
    assert data.load().hosts["aitbc"].python.version == "3.13"


@pytest.mark.parametrize("field, value", [
    ("debian", 11), ("debian", "13"), ("debian", 14), ("debian", [13]), ("debian", {"13": 1}),
    ("python", {"version": "3.13.5.1"}), ("python", {"version": "3.13.x"}),
    ("python", {"version": "3.13.5\nExecStart=/bin/sh"}), ("python", {"version": 3.13}),
])
def test_an_unknown_release_or_interpreter_is_refused(data, field, value):
    data.groups["aitbc_container"][field] = value
    problems = _refused(data)
    assert any("host aitbc" in p.where and p.field.startswith(field) for p in problems), \
        [str(p) for p in problems]
