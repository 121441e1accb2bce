"""PostgreSQL and Redis from Debian packages, configured from the data: examples/pool-hub/ (a
pool hub container at each site, Debian 13) deployed beside the running production sandbox.

Each pool hub reaches its own database as its role with its site's password (its health is a
real query, and a miner it registers is read back), the role logs in with that password only
(not the other site's, not a wrong one, never from another address, nor as the superuser over
TCP), PostgreSQL and Redis answer on 127.0.0.1 only (not on the container's bridge address, not
from its host), verify passes, and a second deploy changes nothing. A new password for one site
sets that role and restarts that site's pool hub alone, PostgreSQL and Redis left running, the
password shown nowhere in the run's output. Runs near the end (conftest.py): it reshapes the
fleet, and brings the production sandbox back.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from deploy_helpers import assert_noop, assert_verified, deploy

from aitbc_infra import PROJECT_ROOT, sandbox
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import fleet, ssh_run
from aitbc_infra.secrets import SecretStore, env_name

EXAMPLE = PROJECT_ROOT / "examples" / "pool-hub" / "inventory.py"
CLI = Path(sys.executable).with_name("aitbc-infra")
POOLS = {"at1-pool": "at1", "ns3-pool": "ns3-root"}  # container: its site
SECRET = "POOL_DB_PASSWORD"
ROLE = DATABASE = "aitbc_pool"
ENV_FILE = "/etc/aitbc/aitbc-pool-hub.env"
HUB = "aitbc-pool-hub"


@pytest.fixture(scope="module")
def pools(deployed_inventory):
    before = fleet.pids()
    run = subprocess.run([str(CLI), "sandbox", "deploy", "--inventory", str(EXAMPLE)],
                         capture_output=True, text=True, timeout=1800, cwd=PROJECT_ROOT)
    yield {"before": before, "run": run, "after": fleet.pids()}
    os.environ.pop(env_name(SECRET, "at1"), None)
    # The production sandbox again: the pool machines stop, and at1's and ns3-root's sshd
    # drop-ins (which named them as reached through their hosts) are the production ones.
    sandbox.ensure_up(progress=lambda _: None)
    back = deploy(deployed_inventory)
    assert back.returncode == 0, back.output[-4000:]


def _inventory() -> Path:
    return sandbox.paths().inventory


def _password(node: str) -> str:
    """The site's value of the secret, as the deploy reads it (environment, then the file)."""
    return SecretStore.for_fleet(load_fleet(_inventory())).lookup(node, SECRET)


def _root(node: str, command: str, **kwargs) -> str:
    return ssh_run(node, command, check=True, timeout=60, **kwargs).stdout.strip()


def _logs_in(node: str, password: str, *, user: str = ROLE, database: str = DATABASE,
             address: str = "127.0.0.1") -> subprocess.CompletedProcess:
    """psql over TCP as `user`, the password read from stdin (never a command line)."""
    script = ("IFS= read -r PGPASSWORD; export PGPASSWORD; "
              f"psql -X -w -A -t -h {address} -p 5432 -U {user} -d {database} "
              "-c 'SELECT current_user'")
    return ssh_run(node, script, input=password + "\n", timeout=60)


def _health(node: str) -> tuple[int, dict]:
    out = _root(node, "curl -s -m 10 -w '\\n%{http_code}' http://127.0.0.1:8210/health")
    body, _, status = out.rpartition("\n")
    return int(status), json.loads(body)


def test_the_pool_hubs_come_up_on_debian_13_beside_the_running_four(pools):
    run = pools["run"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    before, after = pools["before"], pools["after"]
    for name, pid in before.items():
        assert after[name] == pid, f"{name} was restarted"
    for node in POOLS:
        assert after[node], after
        release = _root(node, ". /etc/os-release; echo $VERSION_ID")
        assert release == "13", (node, release)
    assert not any(_password(node) in run.stdout + run.stderr for node in POOLS)


def test_each_pool_hub_reaches_its_database_with_its_sites_password(pools):
    assert pools["run"].returncode == 0
    values = {node: _password(node) for node in POOLS}
    assert len(set(values.values())) == 2, "each site holds its own password"
    for node, value in values.items():
        status, body = _health(node)
        assert status == 200, body
        assert (body["database"], body["role"], body["redis"]) == (DATABASE, ROLE, "PONG")
        # Its URL holds its own site's password, percent-encoded, in a root-only env file.
        env = _root(node, f"stat -c '%U %a' {ENV_FILE}; grep ^DATABASE_URL= {ENV_FILE}")
        owner_mode, _, line = env.partition("\n")
        assert owner_mode == "root 600"
        url = urlsplit(line.split("=", 1)[1].strip('"'))
        assert (url.username, url.hostname, url.port) == (ROLE, "127.0.0.1", 5432)
        assert unquote(url.password) == value
        # A write, read back through the app.
        miner = f"miner-{secrets.token_hex(3)}"
        _root(node, f"curl -sf -m 10 -X POST http://127.0.0.1:8210/v1/miners/{miner}")
        listed = json.loads(_root(node, "curl -sf -m 10 http://127.0.0.1:8210/v1/miners"))
        assert miner in listed["miners"]


def test_the_role_logs_in_with_its_sites_password_only(pools):
    assert pools["run"].returncode == 0
    own, other = (_password(node) for node in POOLS)
    node = "at1-pool"
    ok = _logs_in(node, own)
    assert (ok.returncode, ok.stdout.strip()) == (0, ROLE), ok.stderr
    for wrong in (other, own + "x"):  # the other site's, and a wrong one
        refused = _logs_in(node, wrong)
        assert refused.returncode != 0, refused.stdout
        assert "password authentication failed" in refused.stderr, refused.stderr
    # pg_hba.conf admits the owner to its own database only, and the superuser by peer alone.
    elsewhere = _logs_in(node, own, database="postgres")
    assert elsewhere.returncode != 0 and "no pg_hba.conf entry" in elsewhere.stderr
    superuser = _logs_in(node, own, user="postgres")
    assert superuser.returncode != 0 and "no pg_hba.conf entry" in superuser.stderr


def test_postgresql_and_redis_answer_on_loopback_only(pools):
    assert pools["run"].returncode == 0
    hosts = load_fleet(_inventory()).hosts
    for node, site in POOLS.items():
        address = str(hosts[node].bridge_address)
        listening = _root(node, "ss -H --numeric --listening --tcp")
        for port in (5432, 6379):
            local = sorted(line.split()[3] for line in listening.splitlines()
                           if line.split()[3].rsplit(":", 1)[1] == str(port))
            assert local == [f"127.0.0.1:{port}"], (node, local)
            probe = f"timeout 3 bash -c '</dev/tcp/{address}/{port}' 2>/dev/null && echo open || echo closed"
            # Neither from the container's own bridge address nor from its site's host.
            assert _root(node, probe) == "closed", (node, port)
            assert _root(site, probe) == "closed", (site, node, port)
        assert _root(node, "redis-cli -h 127.0.0.1 -p 6379 PING") == "PONG"
        assert _root(node, "redis-cli -h 127.0.0.1 -p 6379 CONFIG GET protected-mode | tail -1") \
            == "yes"


def test_verify_passes_with_the_databases_checked(pools, tmp_path):
    assert pools["run"].returncode == 0
    assert_verified(_inventory(), tmp_path / "verify.xml",
                    "at1-pool: postgresql roles and databases as planned",
                    "ns3-pool: postgresql roles and databases as planned",
                    "at1-pool: postgresql listens on 127.0.0.1:5432 only",
                    "ns3-pool: redis listens on 127.0.0.1:6379 only",
                    "at1-pool answers only what it declares beyond loopback",
                    "at1-pool: aitbc-pool-hub health /health")


def test_a_second_deploy_changes_nothing(pools):
    assert pools["run"].returncode == 0
    assert_noop(_inventory())


def _started(node: str) -> dict[str, str]:
    units = (HUB, "postgresql@17-main", "redis-server")
    out = _root(node, "; ".join(f"systemctl show -p ActiveEnterTimestamp --value {u}" for u in units))
    return dict(zip(units, out.splitlines(), strict=True))


def test_a_new_password_sets_the_role_and_restarts_that_sites_pool_hub_alone(pools):
    assert pools["run"].returncode == 0
    old = _password("at1-pool")
    new = f"new {secrets.token_urlsafe(12)}/%'\""  # what a URL and SQL could misread
    before = {node: _started(node) for node in POOLS}
    os.environ[env_name(SECRET, "at1")] = new  # the environment wins over the secrets file
    try:
        run = deploy(_inventory())
        assert run.returncode == 0, run.output[-3000:]
        owed = run.results.get("owed", {})
        assert sorted(owed) == ["at1-pool"], owed
        assert owed["at1-pool"] == [
            f"set role {ROLE}: its password is not the value of {SECRET}",
            f"restart {HUB}: {ENV_FILE} changed"]
        assert new not in run.output and old not in run.output
        after = {node: _started(node) for node in POOLS}
        assert after["ns3-pool"] == before["ns3-pool"]  # the other site: nothing restarted
        changed = {u for u, t in after["at1-pool"].items() if t != before["at1-pool"][u]}
        assert changed == {HUB}, changed  # PostgreSQL and Redis kept running
        assert _health("at1-pool")[0] == 200
        assert _logs_in("at1-pool", new).returncode == 0
        assert _logs_in("at1-pool", old).returncode != 0
        assert_noop(_inventory())
    finally:
        os.environ.pop(env_name(SECRET, "at1"), None)
    back = deploy(_inventory())  # the secrets file's value again
    assert back.returncode == 0, back.output[-3000:]
    assert _logs_in("at1-pool", old).returncode == 0 and _health("at1-pool")[0] == 200
