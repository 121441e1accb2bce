"""Services from Debian packages: a host's PostgreSQL (databases, their owner roles, each role's
password a secret of its site) and Redis, both on loopback only; their URLs in an app's env.

What the model refuses (naming host, field and value), what renders (the cluster's drop-in and
pg_hba.conf, redis.conf, the URLs, the units ordered after the services), that the password is
never shown (offline render, decision, plan, the commands the deploy runs), the SCRAM verifiers
PostgreSQL stores, and what a run owes: roles and databases made or set, a password change
setting the role and restarting exactly the units whose env holds its URL.

The data is examples/pool-hub/ (a pool hub container per site, Debian 13): production's data
declares no database.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
from dataclasses import replace
from functools import cache
from urllib.parse import unquote, urlsplit

import pytest
from pyinfra.api import FileUploadCommand
from unit_helpers import build_fleet, env_entries

from aitbc_infra import PROJECT_ROOT, scram
from aitbc_infra.databases import REDIS, cluster, postgresql_journal
from aitbc_infra.decision import CREATE, DATABASE, OWNER, ROLE, SET, converged, decide
from aitbc_infra.drift import PostgresState, RoleState
from aitbc_infra.fleet import ModelError
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.plan import host_plan
from aitbc_infra.render import redacted, render_fleet
from aitbc_infra.sandbox import image
from aitbc_infra.secrets import MissingSecrets, RefusedSecretValues, SecretStore, needed
from deploys import packaged, state

EXAMPLE = PROJECT_ROOT / "examples" / "pool-hub" / "inventory.py"
HOST = "at1-pool"
SECRET = "POOL_DB_PASSWORD"
ENV = "/etc/aitbc/aitbc-pool-hub.env"
HBA = "/etc/postgresql/17/main/pg_hba.conf"
DROP_IN = "/etc/postgresql/17/main/conf.d/aitbc.conf"
REDIS_CONF = "/etc/redis/redis.conf"
# A password with everything a URL or SQL could misread: it must come back whole.
PASSWORD = "p@ss:w/rd %41'\";$x é"
PASSWORDS = {"at1": PASSWORD, "ns3-root": "another site's own"}


@cache
def _base() -> tuple[tuple[str, tuple[str, ...], dict], ...]:
    fleet = load_fleet(EXAMPLE)
    return tuple((spec.name, tuple(spec.groups), spec.model_dump(exclude={"name", "groups", "role"}))
                 for spec in fleet.hosts.values())


def _fleet(edit=None):
    hosts = []
    for name, groups, data in _base():
        data = copy.deepcopy(data)
        if edit and data["node"] == HOST:
            edit(data)
        hosts.append((name, list(groups), data))
    return build_fleet(hosts)


def _refused(edit) -> list[str]:
    with pytest.raises(ModelError) as info:
        _fleet(edit)
    return [str(p) for p in info.value.problems]


def _lookup(fleet, passwords=PASSWORDS):
    sites = {node: fleet.site_of(node) for node in fleet.hosts}
    return lambda node, name: passwords[sites[node]] if name == SECRET else f"{name}-{node}"


def _edit(path: tuple, value):
    def edit(data: dict) -> None:
        node = data
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value(node[path[-1]]) if callable(value) else value
    return edit


def _pool_app(data: dict) -> dict:
    return next(a for a in data["apps"] if a["name"] == "pool-hub")


def _pool_env(**env):
    def edit(data: dict) -> None:
        _pool_app(data)["env"].update(env)
    return edit


def _pool_command(command: str):
    def edit(data: dict) -> None:
        _pool_app(data)["services"][0]["command"] = command
    return edit


# The model: what it refuses ---------------------------------------------------------------------

DB = ("postgresql", "databases", 0)

REFUSED = [
    ("database named postgres", _edit((*DB, "name"), "postgres"),
     "postgresql.databases[0].name", ["keeps for itself", "'postgres'"]),
    ("database named all (a pg_hba keyword)", _edit((*DB, "name"), "all"),
     "postgresql.databases[0].name", ["pg_hba.conf", "'all'"]),
    ("database name with a dash", _edit((*DB, "name"), "pool-db"),
     "postgresql.databases[0].name", ["not a valid PostgreSQL database name", "'pool-db'"]),
    ("database name with a quote", _edit((*DB, "name"), 'a"b'),
     "postgresql.databases[0].name", ["not a valid PostgreSQL database name"]),
    ("database name too long", _edit((*DB, "name"), "d" * 64),
     "postgresql.databases[0].name", ["not a valid PostgreSQL database name"]),
    ("role named postgres", _edit((*DB, "owner"), "postgres"),
     "postgresql.databases[0].owner", ["keeps for itself", "'postgres'"]),
    ("role named pg_monitor", _edit((*DB, "owner"), "pg_monitor"),
     "postgresql.databases[0].owner", ["keeps for itself", "'pg_monitor'"]),
    ("role upper-case", _edit((*DB, "owner"), "Pool"),
     "postgresql.databases[0].owner", ["not a valid PostgreSQL role name", "'Pool'"]),
    ("password secret not an env name", _edit((*DB, "password_secret"), "pool password"),
     "postgresql.databases[0].password_secret", ["environment variable name"]),
    ("no database", _edit(("postgresql", "databases"), []),
     "postgresql.databases", ["at least 1"]),
    ("a database twice", _edit(("postgresql", "databases"), lambda dbs: [*dbs, dbs[0]]),
     "postgresql", ["['aitbc_pool'] declared more than once"]),
    ("one role, two passwords", _edit(("postgresql", "databases"), lambda dbs: [
        *dbs, {"name": "aitbc_pool_2", "owner": "aitbc_pool", "password_secret": "OTHER"}]),
     "postgresql", ["role aitbc_pool owns databases with different password secrets"]),
    ("port as text", _edit(("postgresql", "port"), "5432"),
     "postgresql.port", ["valid integer", "(value '5432')"]),
    ("unknown field", _edit(("postgresql", "listen"), "0.0.0.0"),
     "postgresql.listen", ["Extra inputs are not permitted"]),
    ("redis policy without a bound", _edit(("redis", "maxmemory_mb"), None),
     "redis", ["maxmemory_policy says what Redis does at its memory bound"]),
    ("redis policy unknown", _edit(("redis", "maxmemory_policy"), "lru"),
     "redis.maxmemory_policy", ["'noeviction'"]),
    ("redis bound to zero", _edit(("redis", "maxmemory_mb"), 0),
     "redis.maxmemory_mb", ["greater than or equal to 1"]),
    ("redis bind given", _edit(("redis", "bind"), "0.0.0.0"),
     "redis.bind", ["Extra inputs are not permitted"]),
    ("postgresql not installed", _edit(("packages",), ["redis-server"]),
     "postgresql", ["installs no 'postgresql'", "add it to the host's packages"]),
    ("redis-server not installed", _edit(("packages",), ["postgresql"]),
     "redis", ["installs no 'redis-server'"]),
    ("postgresql on an app's port", _edit(("postgresql", "port"), 8210),
     "postgresql.port", ["port 8210 already used by apps[0].services[0].port"]),
    ("redis on postgresql's port", _edit(("redis", "port"), 5432),
     "redis.port", ["port 5432 already used by postgresql.port"]),
    ("a user named postgres", _edit(("users", 0, "name"), "postgres"),
     "users[0].name", ["system account"]),
    ("a unit named redis-server", _edit(("apps", 0, "services", 0, "unit"), "redis-server"),
     "apps[0].services[0].unit", ["system unit"]),
    ("an unknown database", _pool_env(DATABASE_URL="{postgresql:nowhere}"),
     "apps[0].env.DATABASE_URL", ["{postgresql:nowhere} names no database of the host's "
                                  "postgresql (declared: 'aitbc_pool')"]),
    ("a database without its name", _pool_env(DATABASE_URL="{postgresql}"),
     "apps[0].env.DATABASE_URL", ["{postgresql} names no database"]),
    ("a driver that is no name", _pool_env(DATABASE_URL="{postgresql:aitbc_pool:a/b}"),
     "apps[0].env.DATABASE_URL", ["the driver 'a/b' is not a dialect's driver"]),
    ("a Redis database beyond 15", _pool_env(REDIS_URL="{redis:16}"),
     "apps[0].env.REDIS_URL", ["a Redis database is a number of 0..15"]),
    ("a Redis database not a number", _pool_env(REDIS_URL="{redis:one}"),
     "apps[0].env.REDIS_URL", ["a Redis database is a number"]),
    ("a database URL in a command", _pool_command("-m pool_hub --db {postgresql:aitbc_pool}"),
     "apps[0].services[0].command", ["a URL for the app's env, never its command",
                                     "holds its role's password"]),
    ("redis in a command", _pool_command("-m pool_hub --redis {redis}"),
     "apps[0].services[0].command", ["a URL for the app's env, never its command"]),
]


@pytest.mark.parametrize(("edit", "field", "says"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_bad_data_is_refused_naming_host_field_and_value(edit, field, says):
    found = _refused(edit)
    named = [p for p in found if re.match(rf"host {HOST}( \[groups: [^]]*\])?: {re.escape(field)}: ", p)]
    assert named, found
    assert any(all(s in p for s in says) for p in named), named


def test_a_url_of_a_service_the_host_lacks_is_refused():
    def no_services(data: dict) -> None:
        data["postgresql"] = data["redis"] = None
    found = _refused(no_services)
    assert any("apps[0].env.DATABASE_URL" in p and "the host declares no postgresql" in p
               for p in found), found
    assert any("apps[0].env.REDIS_URL" in p and "the host declares no redis" in p
               for p in found), found


# What renders ---------------------------------------------------------------------------------


def _files(fleet=None, lookup=None) -> dict[str, object]:
    fleet = fleet or _fleet()
    rendered = render_fleet(fleet, lookup or _lookup(fleet))
    return {f.path: f for f in rendered[HOST]}


def test_the_cluster_listens_on_loopback_and_admits_each_owner_to_its_database_only():
    files = _files()
    drop_in, hba = files[DROP_IN], files[HBA]
    settings = dict(re.findall(r"^(\w+) = (.+)$", drop_in.content, re.M))
    assert settings == {"listen_addresses": "'127.0.0.1'", "port": "5432",
                        "password_encryption": "'scram-sha-256'"}
    rules = [line.split() for line in hba.content.splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules == [["local", "all", "postgres", "peer"],
                     ["host", "aitbc_pool", "aitbc_pool", "127.0.0.1/32", "scram-sha-256"]]
    assert (hba.owner, hba.group, hba.mode) == ("postgres", "postgres", "0640")
    assert drop_in.activation == hba.activation == postgresql_journal(cluster(_fleet().hosts[HOST]))
    assert drop_in.activation.service == "postgresql"
    assert drop_in.activation.running == "postgresql@17-main"


def test_a_debian_12_host_gets_postgresql_15s_paths():
    fleet = _fleet(_edit(("debian",), 12))
    paths = set(_files(fleet))
    assert {"/etc/postgresql/15/main/conf.d/aitbc.conf", "/etc/postgresql/15/main/pg_hba.conf"} \
        <= paths and DROP_IN not in paths


def test_redis_binds_loopback_in_protected_mode_with_its_bound():
    conf = _files()[REDIS_CONF]
    settings = [line.split() for line in conf.content.splitlines()
                if line.strip() and not line.startswith("#")]
    assert ["bind", "127.0.0.1"] in settings and ["protected-mode", "yes"] in settings
    assert ["port", "6379"] in settings and ["databases", "16"] in settings
    assert ["maxmemory", "64mb"] in settings and ["maxmemory-policy", "allkeys-lru"] in settings
    assert not any(s[0] == "bind" and s != ["bind", "127.0.0.1"] for s in settings)
    assert conf.activation == REDIS and (conf.owner, conf.group, conf.mode) == ("redis", "redis", "0640")
    unbounded = _files(_fleet(lambda d: d["redis"].update(maxmemory_mb=None, maxmemory_policy=None)))
    assert "maxmemory" not in unbounded[REDIS_CONF].content


def test_the_url_carries_the_sites_password_percent_encoded_and_reads_back_whole():
    fleet = _fleet()
    files = _files(fleet)
    env = env_entries(files[ENV].content)
    url = urlsplit(env["DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgresql", "127.0.0.1", 5432,
                                                              "/aitbc_pool")
    assert url.username == "aitbc_pool" and unquote(url.password) == PASSWORD
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/1"
    assert files[ENV].secret and files[ENV].mode == "0600"
    # The other site's container reads its own site's password.
    other = {f.path: f for f in render_fleet(fleet, _lookup(fleet))["ns3-pool"]}
    assert unquote(urlsplit(env_entries(other[ENV].content)["DATABASE_URL"]).password) == \
        PASSWORDS["ns3-root"]


def test_a_driver_names_the_dialect_and_a_number_the_redis_database():
    files = _files(_fleet(_pool_env(DATABASE_URL="{postgresql:aitbc_pool:psycopg}",
                                    REDIS_URL="{redis}")))
    env = env_entries(files[ENV].content)
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://aitbc_pool:")
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_offline_the_password_is_named_never_shown():
    files = _files(lookup=redacted)
    env = env_entries(files[ENV].content)
    assert env["DATABASE_URL"] == \
        f"postgresql://aitbc_pool:<redacted:{SECRET}>@127.0.0.1:5432/aitbc_pool"
    assert all(PASSWORD not in f.content for f in files.values())


def test_a_unit_reading_a_url_starts_after_its_service_and_others_do_not():
    files = _files(_fleet(_pool_env(REDIS_URL="plain")))
    unit = files["/etc/systemd/system/aitbc-pool-hub.service"].content
    assert "\nWants=network-online.target postgresql.service\n" in unit
    assert "\nAfter=network-online.target postgresql.service\n" in unit
    production = render_fleet(load_fleet(PROJECT_ROOT / "inventory.py"))
    assert not any("postgresql" in f.content or "redis" in f.content
                   for files in production.values() for f in files), "production reads none"


# The password stays a secret --------------------------------------------------------------------


def test_the_password_is_a_secret_of_each_site():
    fleet = _fleet()
    wanted = needed(fleet)
    assert wanted[("at1", SECRET)] == ["host at1-pool, postgresql role aitbc_pool (database aitbc_pool)"]
    assert ("ns3-root", SECRET) in wanted
    environ = {f"{name}__{site.upper().replace('-', '_')}": f"{name}-{site}"
               for site, name in wanted}
    without = {k: v for k, v in environ.items() if not k.startswith(SECRET)}
    with pytest.raises(MissingSecrets, match=rf"{SECRET} for site at1 \(host at1-pool, postgresql role"):
        SecretStore.for_fleet(fleet, without)
    shared = {**without, SECRET: "one value for both"}
    with pytest.raises(RefusedSecretValues, match=rf"{SECRET}: sites at1, ns3-root hold the same value"):
        SecretStore.for_fleet(fleet, shared)
    store = SecretStore.for_fleet(fleet, environ)
    assert store.lookup(HOST, SECRET) == f"{SECRET}-at1"


def test_no_output_of_the_run_shows_the_password():
    fleet = _fleet()
    spec = fleet.hosts[HOST]
    plan = host_plan(fleet, spec, _lookup(fleet))
    decision = decide(spec, plan, state.parse([]), {"pool-hub": "r1"})
    shown = [repr(plan.postgresql), *decision.lines(), str(decision.as_dict()), state.command(plan)]
    commands = packaged.roles_commands(plan, decision)
    shown += [c for c in commands if isinstance(c, str)]
    assert all(PASSWORD not in text and "p%40ss" not in text for text in shown)
    # What reaches the host is the password's SCRAM verifier, in an upload, never a command.
    uploads = [c for c in commands if isinstance(c, FileUploadCommand)]
    assert len(uploads) == 1
    sent = uploads[0].src.getvalue().decode()
    role, verifier = sent.split()
    assert role == "aitbc_pool" and scram.VERIFIER.fullmatch(verifier)
    salt = base64.b64decode(verifier.split("$")[1].split(":")[1])
    assert verifier == scram.verifier(PASSWORD, salt) and PASSWORD not in sent


# SCRAM verifiers, as PostgreSQL computes and checks them --------------------------------------


def test_the_verifier_proves_rfc_7677s_exchange():
    # RFC 7677, section 3: user "user", password "pencil"; the server's signature it sends.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram.verifier("pencil", salt, 4096)
    stored, server = (base64.b64decode(k) for k in verifier.split("$")[2].split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = (f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
            f"c=biws,r={nonce}").encode()
    assert base64.b64encode(hmac.new(server, auth, "sha256").digest()).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    signature = hmac.new(stored, auth, "sha256").digest()
    client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored


def test_saslprep_as_postgresql_prepares_a_password():
    assert scram.saslprep("plain ascii\t!") == "plain ascii\t!"  # ASCII: as it is
    assert scram.saslprep("a\u00a0b\u2163") == "a bIV"  # no-break space mapped, NFKC
    assert scram.saslprep("soft\u00adhyphen") == "softhyphen"  # mapped to nothing
    assert scram.saslprep("bad\u0007é") == "bad\u0007é"  # prohibited: as it is


def test_a_stored_verifier_matches_its_password_only():
    stored = scram.new_verifier(PASSWORD)
    iterations, salt = stored.split("$")[1].split(":")
    digest = scram.digest(stored)
    assert scram.matches(PASSWORD, iterations, salt, digest)
    assert not scram.matches(PASSWORD + "x", iterations, salt, digest)
    assert not scram.matches(PASSWORD, "-", "-", "-")  # no SCRAM verifier stored
    assert not scram.matches(PASSWORD, iterations, "not base64!", digest)
    assert stored != scram.new_verifier(PASSWORD)  # a fresh salt each time


# The state read ---------------------------------------------------------------------------------


def test_the_state_read_names_the_plans_roles_and_databases_and_reads_back():
    fleet = _fleet()
    plan = host_plan(fleet, fleet.hosts[HOST], _lookup(fleet))
    command = state.command(plan)
    assert "# postgresql ACTION ARG..." in command  # deploys/scripts/postgresql.sh, its action:
    assert command.endswith(" state /var/lib/postgresql/17/main /var/run/postgresql "
                            "aitbc_pool -- aitbc_pool")
    output = ["::aitbc-state:postgresql::", "running",
              "R aitbc_pool t t f f f f 4096 c2FsdA== " + "ab" * 32, "D aitbc_pool postgres"]
    found = state.parse(output).postgresql
    assert found == PostgresState(True, {"aitbc_pool": RoleState(
        frozenset({"login", "superuser"}), "4096", "c2FsdA==", "ab" * 32)},
        {"aitbc_pool": "postgres"})
    assert state.parse(["::aitbc-state:postgresql::"]).postgresql == PostgresState()


# What a run owes -------------------------------------------------------------------------------


def _decision(found: PostgresState | None = None, passwords=PASSWORDS, fleet=None, base=None):
    """The decision for the pool host: against `found` (the converged state's databases
    otherwise), every file as the converged state of `base` (this fleet's own by default)."""
    fleet = fleet or _fleet()
    spec = fleet.hosts[HOST]
    releases = {app.name: "r1" for app in spec.apps}
    plan = host_plan(fleet, spec, _lookup(fleet, passwords))
    base_fleet = base or fleet
    current = converged(base_fleet.hosts[HOST], host_plan(base_fleet, base_fleet.hosts[HOST],
                                                          _lookup(base_fleet)), releases)
    if found is not None:
        current = replace(current, postgresql=found)
    return decide(spec, plan, current, releases)


def test_a_converged_host_owes_nothing():
    assert _decision().lines() == []


def test_an_unread_cluster_owes_every_role_and_database():
    owed = _decision(PostgresState())
    assert [(d.kind, d.name, d.action, d.password) for d in owed.databases] == [
        (ROLE, "aitbc_pool", CREATE, True), (DATABASE, "aitbc_pool", CREATE, False)]
    assert owed.lines()[:2] == [
        "create role aitbc_pool: postgresql@17-main did not answer: nothing of it was read",
        "create database aitbc_pool owned by aitbc_pool: postgresql@17-main did not answer: "
        "nothing of it was read"]


def test_drift_of_a_role_or_a_database_owner_is_set_back():
    stored = scram.verifier(PASSWORD, b"0" * 16)
    iterations, salt = stored.split("$")[1].split(":")
    role = RoleState(frozenset({"login", "createdb"}), iterations, salt, scram.digest(stored))
    owed = _decision(PostgresState(True, {"aitbc_pool": role}, {"aitbc_pool": "someone"}))
    assert [(d.kind, d.action, d.password) for d in owed.databases] == [
        (ROLE, SET, False), (DATABASE, OWNER, False)]
    assert owed.lines() == [
        "set role aitbc_pool: it has login, createdb (declared: login only)",
        "give database aitbc_pool to aitbc_pool: owned by someone"]
    missing = _decision(PostgresState(True, {}, {}))
    assert [(d.kind, d.action) for d in missing.databases] == [(ROLE, CREATE), (DATABASE, CREATE)]


def test_a_changed_password_sets_the_role_and_restarts_exactly_its_readers():
    fleet = _fleet(lambda data: data["apps"].append({
        # A second app on the host, reading Redis but not the database: it keeps running.
        "name": "counter", "trees": ["apps/trade-exchange"], "user": "aitbc-pool",
        "root": "/opt/counter", "env": {"REDIS_URL": "{redis:2}"},
        "services": [{"unit": "aitbc-counter", "command": "server.py --port {port}",
                      "workdir": "apps/trade-exchange", "port": 8211}]}))
    before = {**PASSWORDS}
    after = {**PASSWORDS, "at1": "the new one"}
    # Against the host as it runs with the old password (its verifier and env files).
    current = _decision(fleet=fleet, passwords=before)
    assert current.lines() == []
    owed = _state_with_password(fleet, before, after)
    assert owed.lines() == [
        f"set role aitbc_pool: its password is not the value of {SECRET}",
        f"restart aitbc-pool-hub: {ENV} changed"]
    assert [d.password for d in owed.databases] == [True]
    assert owed.restarts == {"aitbc-pool-hub"}  # not aitbc-counter: its URL holds no password


def _state_with_password(fleet, old, new):
    spec = fleet.hosts[HOST]
    releases = {app.name: "r1" for app in spec.apps}
    running = converged(spec, host_plan(fleet, spec, _lookup(fleet, old)), releases)
    return decide(spec, host_plan(fleet, spec, _lookup(fleet, new)), running, releases)


def test_configuration_changes_reload_postgresql_and_restart_redis():
    base = _fleet()
    owed = _decision(fleet=_fleet(lambda d: d["redis"].update(maxmemory_mb=128)), base=base)
    assert owed.lines() == [f"restart redis: {REDIS_CONF} changed"]
    owed = _decision(fleet=_fleet(lambda d: d["postgresql"]["databases"].append(
        {"name": "aitbc_pool_log", "owner": "aitbc_pool", "password_secret": SECRET})), base=base)
    assert owed.lines() == [
        "create database aitbc_pool_log owned by aitbc_pool: missing",
        f"reload postgresql: {HBA} changed"]


def test_a_stopped_cluster_or_redis_owes_its_start():
    fleet = _fleet()
    spec = fleet.hosts[HOST]
    releases = {app.name: "r1" for app in spec.apps}
    plan = host_plan(fleet, spec, _lookup(fleet))
    current = converged(spec, plan, releases)
    units = {**current.units, "postgresql@17-main": ("failed", "static"),
             "redis-server": ("inactive", "disabled")}
    owed = decide(spec, plan, replace(current, units=units), releases)
    assert owed.lines() == [
        "reload postgresql: postgresql@17-main not active (failed)",
        "restart redis: redis-server not active (inactive); redis-server not enabled (disabled)"]


def test_the_decision_as_data_holds_the_databases_and_its_schema_takes_it():
    owed = _decision(PostgresState()).as_dict()
    assert owed["databases"] == [
        {"kind": "role", "name": "aitbc_pool", "action": "create",
         "reasons": ["postgresql@17-main did not answer: nothing of it was read"]},
        {"kind": "database", "name": "aitbc_pool", "action": "create",
         "reasons": ["postgresql@17-main did not answer: nothing of it was read"]}]
    for name in ("deploy", "diff"):
        schema = load(name)
        assert problems(owed, {**schema["$defs"]["decision"], "$defs": schema["$defs"]}) == []


def test_the_roles_script_gets_each_owed_action_in_order():
    fleet = _fleet()
    spec = fleet.hosts[HOST]
    plan = host_plan(fleet, spec, _lookup(fleet))
    decision = decide(spec, plan, state.parse([]), {"pool-hub": "r1"})
    script = packaged.roles_commands(plan, decision)[-1]
    assert script.endswith("/var/lib/postgresql/17/main /var/run/postgresql "
                           "/run/aitbc-postgresql-verifiers.aitbc-new "
                           "role aitbc_pool yes database aitbc_pool aitbc_pool")


# The sandbox brings the example up offline -----------------------------------------------------


def test_the_examples_packages_are_in_its_debian_13_image_and_production_keeps_its_own():
    example, production = load_fleet(EXAMPLE), load_fleet(PROJECT_ROOT / "inventory.py")
    assert image.releases(example) == (12, 13)
    assert {"postgresql", "redis-server"} <= set(image.deploy_packages(example, 13))
    # The running sandbox's Debian 12 machines stay on their image when the example comes up.
    assert image.image_dirs(example)[12] == image.image_dirs(production)[12]
