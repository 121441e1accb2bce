"""The demo payload for real: install each app the way its shape demands, run every process.

No mocks: one venv per app shape (built with plain pip, in parallel), every long-running process
started with its documented command and working directory on 127.0.0.1, and killed in teardown by
its own process group id. The apps run from a copy of payload/, so nothing is written into the
checkout (setuptools build dirs, sqlite files).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PAYLOAD = Path(__file__).resolve().parents[2] / "payload"
ORIGIN_OK = "http://localhost:3000"
ORIGIN_BAD = "http://evil.example"
DB_URL = "postgresql://aitbc:hunter2@db.internal:5432/aitbc"


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET",
        data: bytes | None = None) -> Response:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError, KeyError, IndexError) as exc:  # not up yet / partial data
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def clean_env(**extra: str) -> dict[str, str]:
    # Nothing from the caller's shell (e.g. a JWT_SECRET) leaks in; no .pyc files in the sources.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1", **extra}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Launcher:
    logs: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, python: Path | str, args: list[str], cwd: Path,
              env: dict[str, str] | None = None, port: int | None = None) -> Proc:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([str(python), *args], cwd=cwd, env=clean_env(**(env or {})),
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def uvicorn(self, name: str, python: Path, target: str, cwd: Path, **env: str) -> Proc:
        port = free_port()
        args = ["-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
        return self.start(name, python, args, cwd, env, port)

    def stop(self, proc: Proc, timeout: float = 8) -> int:
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            return proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=5)
            raise

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired, ProcessLookupError):
                self.stop(proc)


def run(python: Path | str, args: list[str], cwd: Path, timeout: float = 30, **env: str):
    """A process expected to exit by itself (a refused start)."""
    return subprocess.run([str(python), *args], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def serve_args(target: str) -> list[str]:
    return ["-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(free_port())]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """A copy of payload/ without the SPAs' build state: pip builds and the apps write here."""
    root = tmp_path_factory.mktemp("payload") / "payload"
    shutil.copytree(PAYLOAD, root, ignore=shutil.ignore_patterns(
        "node_modules", "dist", "__pycache__", "*.egg-info", "build", "*.db", ".env"))
    return root


@dataclass
class Venvs:
    coordinator: Path
    node: Path
    wallet: Path
    exchange: Path
    pool: Path
    # `import app.main` in the coordinator venv before python-json-logger was added to it.
    coordinator_bare_import: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def venvs(src, tmp_path_factory) -> Venvs:
    base = tmp_path_factory.mktemp("venvs")

    def pip(python: Path, *args: str) -> None:
        res = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--quiet", *args], cwd=src, capture_output=True, text=True)
        assert res.returncode == 0, f"pip install {' '.join(args)}:\n{res.stdout}{res.stderr}"

    def venv(name: str, *args: str) -> Path:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / name)], check=True)
        python = base / name / "bin" / "python"
        pip(python, *args)
        return python

    def coordinator() -> tuple[Path, subprocess.CompletedProcess]:
        # The path dependency on aitbc-crypto is resolved by pip from the local directory.
        python = venv("coordinator", "./packages/py/aitbc-crypto", "./apps/coordinator-api")
        bare = run(python, ["-c", "import app.main"], base)
        pip(python, "python-json-logger")
        return python, bare

    with ThreadPoolExecutor(4) as pool:
        coord = pool.submit(coordinator)
        node = pool.submit(venv, "node", "./apps/blockchain-node")
        wallet = pool.submit(venv, "wallet", "./packages/py/aitbc-crypto", "./packages/py/aitbc-sdk",
                             "pydantic-settings", "uvicorn")
        exchange = pool.submit(venv, "exchange", "-r", "apps/trade-exchange/requirements.txt")
        hub = pool.submit(venv, "pool", "./apps/pool-hub")
        (coord_python, bare), *others = (coord.result(), node.result(), wallet.result(),
                                         exchange.result(), hub.result())
    return Venvs(coord_python, *others, coordinator_bare_import=bare)


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    launch = Launcher(tmp_path_factory.mktemp("logs"))
    yield launch
    launch.stop_all()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="module")
def dead_peer():
    """An address nothing answers on for the whole module: its port stays bound and never
    listens, so no server started later is given it (a freed port can be)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def stack(venvs, src, launcher, run_dir, dead_peer) -> dict[str, Proc]:
    """Every long-running process, started in parallel, then waited for."""
    s: dict[str, Proc] = {}
    # The default database URL is ../data/coordinator.db: relative to the working directory.
    (run_dir / "coord" / "app").mkdir(parents=True)
    (run_dir / "coord" / "data").mkdir()
    s["coordinator"] = launcher.uvicorn(
        "coordinator", venvs.coordinator, "app.main:app", run_dir / "coord" / "app",
        APP_ENV="production", JWT_SECRET="jwt-test-secret",
        ADMIN_API_KEYS='["key-one","key-two"]', ALLOW_ORIGINS=json.dumps([ORIGIN_OK]))
    # Setting names are case-insensitive; dev needs no JWT secret; only the URL's scheme shows.
    s["coordinator-lc"] = launcher.uvicorn(
        "coordinator-lc", venvs.coordinator, "app.main:app", run_dir, url=DB_URL,
        admin_api_keys='["lower-key"]')
    (run_dir / "elsewhere").mkdir()
    s["coordinator-url"] = launcher.uvicorn(
        "coordinator-url", venvs.coordinator, "app.main:app", run_dir,
        URL=f"sqlite:///{run_dir / 'elsewhere' / 'coord.db'}")

    chain = {"CHAIN_ID": "ait-testnet", "BLOCK_TIME_SECONDS": "0.3",
             "ALLOW_ORIGINS": json.dumps([ORIGIN_OK])}
    node1 = run_dir / "node1"  # default DB_PATH ./data/chain.db, shared by both processes
    node1.mkdir()
    s["node1"] = launcher.start("node1", venvs.node, ["-m", "aitbc_chain.main"], node1,
                                {**chain, "PROPOSER_ID": "node-1"})
    s["node1-rpc"] = launcher.uvicorn("node1-rpc", venvs.node, "aitbc_chain.app:app", node1,
                                      **chain, PROPOSER_ID="node-1")
    rpc2_port = free_port()
    node2 = {**chain, "DB_PATH": str(run_dir / "node2" / "chain2.db"), "PROPOSER_ID": "node-2",
             "PEERS": json.dumps([s["node1-rpc"].url, dead_peer]), "SYNC_INTERVAL_SECONDS": "0.5",
             "RPC_BIND_HOST": "127.0.0.1", "RPC_BIND_PORT": str(rpc2_port)}
    s["node2"] = launcher.start("node2", venvs.node, ["-m", "aitbc_chain.main"], run_dir, node2)
    s["node2-rpc"] = launcher.start("node2-rpc", venvs.node, ["-m", "aitbc_chain.app"], run_dir,
                                    node2, rpc2_port)
    s["mock"] = launcher.uvicorn("mock", venvs.node, "mock_coordinator:app",
                                 src / "apps" / "blockchain-node" / "scripts")

    wallet_src = src / "apps" / "wallet-daemon" / "src"
    (wallet_src / "data").mkdir()
    s["wallet"] = launcher.uvicorn("wallet", venvs.wallet, "app.main:app", wallet_src,
                                   COORDINATOR_BASE_URL="http://127.0.0.1:8011")
    exchange_dir = src / "apps" / "trade-exchange"
    s["exchange-api"] = launcher.uvicorn(
        "exchange-api", venvs.exchange, "exchange_api:app", exchange_dir,
        SESSION_SECRET="sess", WALLET_ENCRYPTION_KEY="wkey", ALLOW_ORIGINS=json.dumps([ORIGIN_OK]))
    trade_port = free_port()
    s["trade"] = launcher.start("trade", sys.executable, ["server.py", "--port", str(trade_port)],
                                exchange_dir, port=trade_port)
    miner = [str(src / "cli" / "miner.py"), "--miner-id", "gpu-test", "--interval", "0.3"]
    s["miner"] = launcher.start("miner", sys.executable, [*miner, "--url", s["mock"].url, "mine"],
                                run_dir)
    s["miner-down"] = launcher.start("miner-down", sys.executable,
                                     [*miner, "--url", dead_peer, "mine"], run_dir)
    health = {
        "coordinator": "/v1/health", "coordinator-lc": "/v1/health", "coordinator-url": "/v1/health",
        "node1-rpc": "/rpc/head", "node2-rpc": "/rpc/head", "mock": "/health",
        "wallet": "/v1/wallets", "exchange-api": "/api/health", "trade": "/index.html",
    }
    for name, path in health.items():
        proc = s[name]
        try:
            wait_until(lambda p=proc, h=path: get(p.url + h).status == 200, 30, f"{name} {path}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {name} output:\n{proc.output()}") from None
    for name, proc in s.items():
        assert proc.popen.poll() is None, f"{name} exited early:\n{proc.output()}"
    return s


# ---------------------------------------------------------------- layout and packaging


def test_layout():
    assert sorted(p.name for p in (PAYLOAD / "apps").iterdir()) == [
        "api-gateway", "blockchain-node", "coordinator-api", "explorer-web", "marketplace-web",
        "pool-hub", "trade-exchange", "wallet-daemon"]
    # Today's monorepo shapes: the root project, its package, the central dependency list.
    for path in ("pyproject.toml", "aitbc/__init__.py", "requirements.txt"):
        assert (PAYLOAD / path).is_file(), path
    assert sorted(p.name for p in (PAYLOAD / "packages" / "py").iterdir()) == ["aitbc-crypto", "aitbc-sdk"]
    for gone in ("coordinator-api", "gpu-miner", "exchange-api", "constraints.txt", "build-spas.sh"):
        assert not (PAYLOAD / gone).exists(), gone
    assert not (PAYLOAD / "apps" / "wallet-daemon" / "pyproject.toml").exists()
    assert (PAYLOAD / "cli" / "miner.py").is_file()


def test_python_projects():
    def toml(rel: str) -> dict:
        return tomllib.loads((PAYLOAD / rel / "pyproject.toml").read_text())

    coord = toml("apps/coordinator-api")
    assert coord["build-system"]["build-backend"] == "poetry.core.masonry.api"
    assert coord["tool"]["poetry"]["name"] == "aitbc-coordinator-api"
    assert coord["tool"]["poetry"]["packages"] == [{"include": "app", "from": "src"}]
    deps = coord["tool"]["poetry"]["dependencies"]
    assert deps["aitbc-crypto"] == {"path": "../../packages/py/aitbc-crypto"}
    assert (PAYLOAD / "apps/coordinator-api" / deps["aitbc-crypto"]["path"]).resolve() == (
        PAYLOAD / "packages/py/aitbc-crypto")
    node = toml("apps/blockchain-node")
    assert node["tool"]["poetry"]["name"] == "aitbc-blockchain-node"
    assert node["tool"]["poetry"]["packages"] == [{"include": "aitbc_chain", "from": "src"}]
    crypto, sdk = toml("packages/py/aitbc-crypto"), toml("packages/py/aitbc-sdk")
    assert crypto["build-system"]["build-backend"] == "setuptools.build_meta"
    assert crypto["project"]["dependencies"] == ["pynacl>=1.5.0"]
    assert sdk["project"]["dependencies"] == ["aitbc-crypto>=0.1.0"]  # by name, not by path
    pool = toml("apps/pool-hub")
    assert pool["build-system"]["build-backend"] == "setuptools.build_meta"
    assert pool["project"]["dependencies"] == ["pg8000>=1.30"]  # pure Python: any interpreter
    pins = (PAYLOAD / "apps/trade-exchange/requirements.txt").read_text().split()
    assert {"uvicorn==0.24.0", "pydantic==2.5.0"} <= set(pins)
    # The monorepo shapes: a root project whose dependencies are poetry's (a local library by
    # path), an app project declaring none, the local library an editable line of the central
    # list, written for the checkout at /opt/aitbc.
    root, gateway = toml("."), toml("apps/api-gateway")
    assert root["project"]["name"] == "aitbc" and root["project"]["dynamic"] == ["dependencies"]
    assert root["tool"]["poetry"]["dependencies"]["aitbc-crypto"]["path"] == "packages/py/aitbc-crypto"
    assert gateway["tool"]["poetry"]["dependencies"] == {"python": "^3.11"}
    central = (PAYLOAD / "requirements.txt").read_text().splitlines()
    assert '-e file:///opt/aitbc/packages/py/aitbc-crypto ; python_version >= "3.11"' in central


def test_scripts_are_not_packaged(venvs):
    """mock_coordinator.py runs from scripts/; it is not in the node's wheel."""
    res = run(venvs.node, ["-c", "import importlib.util as u; import aitbc_chain.metrics;"
                           " print(u.find_spec('mock_coordinator'))"], Path("/"))
    assert res.returncode == 0 and res.stdout.strip() == "None", res.stdout + res.stderr


# ---------------------------------------------------------------- coordinator


def test_coordinator_routes(stack):
    url = stack["coordinator"].url
    health = get(url + "/v1/health").json()
    signer = health.pop("signer")
    assert health == {"service": "coordinator-api", "status": "ok", "database": "sqlite"}
    assert re.fullmatch(r"[0-9a-f]{64}", signer)
    assert get(url + "/openapi.json").json()["info"]["title"] == "AITBC Coordinator API"
    blocks = get(url + "/v1/explorer/blocks").json()
    assert blocks["service"] == "coordinator-api" and len(blocks["items"]) >= 1
    # The users router's own paths (under /v1/users/users/): a user without history.
    history = get(url + "/v1/users/users/u-1/transactions").json()
    assert history == {"service": "coordinator-api", "user_id": "u-1", "transactions": [],
                       "total": 0}
    assert get(url + "/v1/users/").status == 404
    missing = get(url + "/v1/nope")
    assert missing.status == 404 and missing.json()["service"] == "coordinator-api"
    lc = get(stack["coordinator-lc"].url + "/v1/health")
    assert lc.json()["database"] == "postgresql"
    assert b"hunter2" not in lc.body and b"aitbc:" not in lc.body


def test_coordinator_reads_its_jobs_back_or_says_it_cannot(stack, run_dir):
    """/v1/explorer/transactions is the jobs table read back (the coordinator's data probe):
    rows written to the database show, and a table of another shape is a 500, not a 200."""
    url = stack["coordinator-url"].url
    database = run_dir / "elsewhere" / "coord.db"
    with sqlite3.connect(database) as conn:
        conn.execute("INSERT INTO jobs (state) VALUES ('queued')")
    items = get(url + "/v1/explorer/transactions").json()["items"]
    assert items[0]["state"] == "queued"
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE jobs RENAME COLUMN state TO status")
    try:
        broken = get(url + "/v1/explorer/transactions")
        assert broken.status == 500 and broken.json()["error"] == "database unreadable"
    finally:
        with sqlite3.connect(database) as conn:
            conn.execute("ALTER TABLE jobs RENAME COLUMN status TO state")


def test_coordinator_logs_json(stack):
    lines = [ln for ln in stack["coordinator"].output().splitlines() if ln.startswith("{")]
    records = [json.loads(ln) for ln in lines]
    assert any(r["message"] == "started" and r["database"] == "sqlite" for r in records), lines


def test_coordinator_admin_requires_api_key(stack):
    url = stack["coordinator"].url + "/v1/admin/stats"
    assert get(url).status == 401
    assert get(url, {"X-Api-Key": "wrong"}).status == 401
    ok = get(url, {"X-Api-Key": "key-two"})
    assert ok.status == 200 and ok.json()["service"] == "coordinator-api"
    assert get(stack["coordinator-lc"].url + "/v1/admin/x", {"X-Api-Key": "lower-key"}).status == 200


def test_coordinator_cors(stack):
    url = stack["coordinator"].url + "/v1/health"
    assert get(url, {"Origin": ORIGIN_OK}).headers["access-control-allow-origin"] == ORIGIN_OK
    assert "access-control-allow-origin" not in get(url, {"Origin": ORIGIN_BAD}).headers
    pre = get(url, {"Origin": ORIGIN_OK, "Access-Control-Request-Method": "GET"}, "OPTIONS")
    assert pre.status == 200 and "GET" in pre.headers["access-control-allow-methods"]
    bad = get(url, {"Origin": ORIGIN_BAD, "Access-Control-Request-Method": "GET"}, "OPTIONS")
    assert bad.status == 400


def test_coordinator_database_location_follows_url(stack, run_dir):
    # Default ../data/coordinator.db, from the working directory coord/app; or wherever URL says.
    assert (run_dir / "coord/data/coordinator.db").is_file()
    assert not list((run_dir / "coord/app").iterdir())
    assert (run_dir / "elsewhere/coord.db").is_file()


def test_coordinator_needs_its_database_directory(venvs, tmp_path):
    res = run(venvs.coordinator, serve_args("app.main:app"), tmp_path)  # no ../data here
    assert res.returncode != 0
    assert "does not exist" in res.stderr and "data" in res.stderr, res.stderr


def test_coordinator_python_json_logger_is_undeclared(venvs):
    bare = venvs.coordinator_bare_import
    assert bare.returncode != 0
    assert "ModuleNotFoundError: No module named 'pythonjsonlogger'" in bare.stderr, bare.stderr
    res = run(venvs.coordinator, ["-c", "import importlib.metadata as m, json;"
                                  " print(json.dumps(m.requires('aitbc-coordinator-api')))"], Path("/"))
    requires = json.loads(res.stdout)
    assert any(r.startswith("aitbc-crypto @ file:") for r in requires), requires
    assert not [r for r in requires if "json-logger" in r or "json_logger" in r], requires


@pytest.mark.parametrize("jwt", [None, "", "   "])
def test_coordinator_production_requires_jwt_secret(venvs, tmp_path, jwt):
    env = {"APP_ENV": "production"} | ({} if jwt is None else {"JWT_SECRET": jwt})
    res = run(venvs.coordinator, serve_args("app.main:app"), tmp_path, **env)
    assert res.returncode != 0
    assert "JWT_SECRET" in res.stderr


def test_coordinator_dev_needs_no_jwt_secret(stack):
    # coordinator-lc runs with APP_ENV unset (dev) and no JWT_SECRET.
    assert get(stack["coordinator-lc"].url + "/v1/health").json()["status"] == "ok"


def test_coordinator_list_settings_must_be_json(venvs, tmp_path):
    """Why the deployer writes lists as JSON: pydantic-settings rejects a comma string."""
    res = run(venvs.coordinator, serve_args("app.main:app"), tmp_path, ADMIN_API_KEYS="k1,k2")
    assert res.returncode != 0
    assert "SettingsError" in res.stderr and '"admin_api_keys"' in res.stderr, res.stderr


# ---------------------------------------------------------------- blockchain node


def test_node_height_advances(stack):
    url = stack["node1-rpc"].url
    first = get(url + "/rpc/head").json()
    assert first["service"] == "blockchain-node" and first["chain_id"] == "ait-testnet"
    assert first["proposer"] == "node-1" and len(first["hash"]) == 64
    later = wait_until(lambda: (h := get(url + "/rpc/head").json())["height"] >= first["height"] + 2
                       and h, 5, "new blocks")
    assert later["hash"] != first["hash"]
    blocks = get(f"{url}/rpc/blocks-range?start=0&end=2").json()["blocks"]
    assert [b["height"] for b in blocks] == [0, 1, 2]
    assert blocks[1]["parent_hash"] == blocks[0]["hash"]
    assert get(url + "/rpc/head", {"Origin": ORIGIN_OK}).headers["access-control-allow-origin"] == ORIGIN_OK
    assert get(url + "/rpc/head", {"Origin": ORIGIN_BAD, "Access-Control-Request-Method": "GET"},
               "OPTIONS").status == 400


def test_node_database_locations(stack, run_dir):
    # Node 1's two processes meet in the default ./data/chain.db of their shared working directory.
    assert (run_dir / "node1/data/chain.db").is_file()
    assert (run_dir / "node2/chain2.db").is_file()  # created with its parent directory


def test_node_sync_status_reports_peers(stack):
    peer = stack["node1-rpc"].url
    url = stack["node2-rpc"].url + "/rpc/syncStatus"

    def peer_entry() -> dict | None:
        peers = {p["url"]: p for p in get(url).json()["peers"]}
        return peers[peer] if peers[peer]["height"] is not None else None

    first = wait_until(peer_entry, 8, "node2's RPC to see node1's head")
    assert first["error"] is None
    wait_until(lambda: peer_entry()["height"] > first["height"], 5, "a newer peer height")
    status = get(url).json()
    assert status["service"] == "blockchain-node" and status["height"] >= 0
    dead = [p for p in status["peers"] if p["url"] != peer]
    assert len(dead) == 1 and dead[0]["height"] is None and dead[0]["error"]
    assert get(stack["node2-rpc"].url + "/rpc/head").json()["proposer"] == "node-2"


def test_node_import_block(stack):
    url = stack["node1-rpc"].url + "/rpc/importBlock"
    block = {"height": 7, "hash": "ab" * 32, "parent_hash": "00" * 32, "proposer": "node-9"}
    ok = get(url, {"Content-Type": "application/json"}, "POST", json.dumps(block).encode())
    assert ok.status == 200 and ok.json()["accepted"] is True
    assert get(url, {}, "POST", b'{"hash": 1}').status == 400


def test_node_proposer_stops_cleanly(venvs, launcher, tmp_path):
    proc = launcher.start("node-stop", venvs.node, ["-m", "aitbc_chain.main"], tmp_path,
                          {"DB_PATH": "deep/dir/c.db", "BLOCK_TIME_SECONDS": "0.2"})
    wait_until(lambda: (tmp_path / "deep/dir/c.db").is_file(), 10, "the proposer's database")
    time.sleep(0.5)
    assert launcher.stop(proc) == 0, proc.output()
    assert "stopped" in proc.output()


GENESIS = {"chain_id": "ait-testnet",
           "block": {"height": 0, "hash": "0x" + "ab" * 32, "parent_hash": "0x00",
                     "proposer": "genesis", "timestamp": "2026-08-22T00:00:00+00:00"},
           "allocations": []}


def chain_blocks(db: Path) -> list[tuple]:
    """The blocks of a node's database, read-only; none while the node has not made it yet."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT height, hash, parent_hash, proposer, timestamp "
                                "FROM blocks ORDER BY height").fetchall()
    except sqlite3.OperationalError as exc:
        if "unable to open" in str(exc) or "no such table" in str(exc):
            return []
        raise


def test_node_starts_its_chain_from_the_genesis_file(venvs, launcher, tmp_path):
    # Today's upstream layout: genesis.json in the chain's directory, beside the database.
    (tmp_path / "genesis.json").write_text(json.dumps(GENESIS))
    env = {"CHAIN_ID": "ait-testnet", "DB_PATH": str(tmp_path / "chain.db"),
           "BLOCK_TIME_SECONDS": "0.2", "PROPOSER_ID": "hub"}
    proc = launcher.start("node-genesis", venvs.node, ["-m", "aitbc_chain.main"], tmp_path, env)
    wait_until(lambda: len(chain_blocks(tmp_path / "chain.db")) >= 3, 10, "three blocks")
    launcher.stop(proc)
    first, second = chain_blocks(tmp_path / "chain.db")[:2]
    assert first == (0, "0x" + "ab" * 32, "0x00", "genesis", 1787356800.0)
    assert (second[0], second[2], second[3]) == (1, first[1], "hub")
    # A genesis file of another chain: the node does not start one.
    other = tmp_path / "other"
    other.mkdir()
    (other / "genesis.json").write_text(json.dumps({**GENESIS, "chain_id": "ait-elsewhere"}))
    res = run(venvs.node, ["-m", "aitbc_chain.main"], other, timeout=10,
              **{**env, "DB_PATH": str(other / "chain.db")})
    assert res.returncode == 1 and "chain 'ait-elsewhere'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_follower_copies_its_peers_chain_by_its_node_and_by_the_sync_job(stack, venvs, launcher,
                                                                        tmp_path):
    peer = stack["node1-rpc"].url
    follower = {"CHAIN_ID": "ait-testnet", "BLOCKCHAIN_MODE": "follower",
                "DEFAULT_PEER_RPC_URL": peer, "PERIODIC_SYNC_INTERVAL": "0.3",
                "DB_PATH": str(tmp_path / "node" / "chain.db")}
    # Without a peer, a follower does not start.
    res = run(venvs.node, ["-m", "aitbc_chain.main"], tmp_path, timeout=10,
              **{**follower, "DEFAULT_PEER_RPC_URL": ""})
    assert res.returncode == 2 and "needs DEFAULT_PEER_RPC_URL" in res.stderr, res.stderr

    proc = launcher.start("follower", venvs.node, ["-m", "aitbc_chain.main"], tmp_path, follower)

    def caught_up() -> bool:
        peer_head = get(peer + "/rpc/head").json()
        ours = chain_blocks(tmp_path / "node" / "chain.db")
        return bool(ours) and ours[-1][0] >= peer_head["height"] - 1
    wait_until(caught_up, 10, "the follower to catch up", interval=0.3)
    first = len(chain_blocks(tmp_path / "node" / "chain.db"))
    wait_until(lambda: len(chain_blocks(tmp_path / "node" / "chain.db")) > first + 2, 10,
               "the follower to keep copying (PERIODIC_SYNC_INTERVAL, upstream's name)")
    launcher.stop(proc)
    ours = chain_blocks(tmp_path / "node" / "chain.db")
    theirs = get(f"{peer}/rpc/blocks-range?start=0&end={ours[-1][0]}").json()["blocks"]
    assert ours == [(b["height"], b["hash"], b["parent_hash"], b["proposer"], b["timestamp"])
                    for b in theirs]

    # The sync job: one catch-up, then exit 0 saying how many blocks it copied.
    job = run(venvs.node, ["-m", "aitbc_chain.sync_cli"], tmp_path, **follower)
    assert job.returncode == 0, job.stderr
    copied = int(re.fullmatch(rf"sync: (\d+) block\(s\) from {re.escape(peer)}, head \d+\n",
                              job.stdout)[1])
    assert copied >= 1 and len(chain_blocks(tmp_path / "node" / "chain.db")) == len(ours) + copied
    # The RPC of a follower reports its peer's head under DEFAULT_PEER_RPC_URL.
    rpc = launcher.uvicorn("follower-rpc", venvs.node, "aitbc_chain.app:app", tmp_path,
                           **follower)
    seen = wait_until(lambda: get(rpc.url + "/rpc/syncStatus").json()["peers"][0]["height"]
                      is not None and get(rpc.url + "/rpc/syncStatus").json(), 10, "peer head")
    assert [p["url"] for p in seen["peers"]] == [peer]
    launcher.stop(rpc)
    # A peer on another chain: a genesis file here that its block 0 is not. Nothing written.
    other = tmp_path / "other"
    other.mkdir()
    (other / "genesis.json").write_text(json.dumps({**GENESIS, "chain_id": "ait-testnet"}))
    refused = run(venvs.node, ["-m", "aitbc_chain.sync_cli"], tmp_path,
                  **{**follower, "DB_PATH": str(other / "chain.db")})
    assert refused.returncode == 1 and "is not the genesis file's" in refused.stderr, refused.stderr
    assert chain_blocks(other / "chain.db") == []
    unreachable = run(venvs.node, ["-m", "aitbc_chain.sync_cli"], tmp_path,
                      **{**follower, "DEFAULT_PEER_RPC_URL": "http://127.0.0.1:9"})
    assert unreachable.returncode == 1 and "from http://127.0.0.1:9: " in unreachable.stderr


def test_mock_coordinator(stack):
    url = stack["mock"].url
    assert get(url + "/health").json() == {"service": "mock-coordinator", "status": "ok"}
    # Nothing under /v1/, like the real mock: its own 404, not a proxy's.
    for method in ("GET", "POST"):
        res = get(url + "/v1/jobs/42", method=method, data=b"{}" if method == "POST" else None)
        assert res.status == 404 and res.json()["path"] == "/v1/jobs/42"
        assert res.json()["service"] == "mock-coordinator" and res.json()["count"] >= 1


# ---------------------------------------------------------------- wallet, exchange, miner


def test_wallet_daemon(stack, src):
    url = stack["wallet"].url
    body = get(url + "/v1/receipts/job-7").json()
    assert body["service"] == "wallet-daemon" and body["sdk"] == "0.1.0"
    assert body["receipt_check"] is True and body["coordinator"] == "http://127.0.0.1:8011"
    assert get(url + "/v1/wallets").json()["items"] == []
    # Its routes are under /v1/ only: the site's /wallet/ passes its path on and gets a 404.
    for path in ("/wallet/", "/wallet/info"):
        missing = get(url + path)
        assert missing.status == 404 and missing.json()["service"] == "wallet-daemon"
    assert get(url + "/health").status == 404  # no health route, like the real daemon
    assert (src / "apps/wallet-daemon/src/data/wallet_ledger.db").is_file()


def test_wallet_daemon_needs_its_ledger_directory(venvs, src):
    res = run(venvs.wallet, serve_args("app.main:app"), src / "apps/wallet-daemon/src",
              LEDGER_DB_PATH="./missing/ledger.db")
    assert res.returncode != 0 and "does not exist" in res.stderr, res.stderr


def test_exchange_api(stack, src):
    url = stack["exchange-api"].url
    assert get(url + "/api/health").json() == {"service": "exchange-api", "status": "ok"}
    trades = get(url + "/api/trades/recent", {"Origin": ORIGIN_OK})
    assert trades.json()["service"] == "exchange-api" and trades.json()["trades"]
    assert set(trades.json()["trades"][0]) == {"id", "amount", "price", "total", "created_at"}
    assert trades.headers["access-control-allow-origin"] == ORIGIN_OK
    book = get(url + "/api/orders/orderbook", {"Origin": ORIGIN_BAD})
    assert book.json()["bids"] and "access-control-allow-origin" not in book.headers
    assert (src / "apps/trade-exchange/exchange.db").is_file()  # DATABASE_URL default: the cwd
    # The tree's simple_exchange_api.py reads the same exchange.db with this query: a data
    # directory the payload wrote stays readable when the host switches to the real tree.
    with sqlite3.connect(src / "apps/trade-exchange/exchange.db") as db:
        assert db.execute("SELECT id, amount, price, total, created_at FROM trades").fetchall()


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, ["SESSION_SECRET", "WALLET_ENCRYPTION_KEY"]),
        ({"SESSION_SECRET": "s"}, ["WALLET_ENCRYPTION_KEY"]),
        ({"WALLET_ENCRYPTION_KEY": "k", "SESSION_SECRET": ""}, ["SESSION_SECRET"]),
    ],
)
def test_exchange_api_requires_secrets(venvs, src, env, missing):
    res = run(venvs.exchange, serve_args("exchange_api:app"), src / "apps/trade-exchange", **env)
    assert res.returncode == 2
    for name in ("SESSION_SECRET", "WALLET_ENCRYPTION_KEY"):
        assert (name in res.stderr) == (name in missing), res.stderr


def test_exchange_api_imports_only_from_its_directory(venvs, tmp_path):
    res = run(venvs.exchange, serve_args("exchange_api:app"), tmp_path,
              SESSION_SECRET="s", WALLET_ENCRYPTION_KEY="k")
    assert res.returncode != 0 and "exchange_api" in res.stderr, res.stderr


def test_api_gateway_imports_the_root_package_through_its_import_roots(venvs, src, launcher):
    # The coordinator's venv holds what the central requirements.txt installs (uvicorn and
    # aitbc-crypto); neither the gateway nor the root package `aitbc` is installed anywhere.
    app_dir = src / "apps" / "api-gateway"
    proc = launcher.uvicorn("gateway", venvs.coordinator, "api_gateway.main:app", app_dir,
                            PYTHONPATH=f"{app_dir / 'src'}:{src}")
    wait_until(lambda: get(proc.url + "/health").status == 200, 30, "gateway /health")
    health = get(proc.url + "/health").json()
    assert (health["service"], health["status"], health["aitbc"]) == ("api-gateway", "ok", "0.1.0")
    modules = get(proc.url + "/imports").json()["modules"]
    assert modules["aitbc"] == str(src / "aitbc" / "__init__.py")
    assert modules["api_gateway"] == str(app_dir / "src" / "api_gateway" / "main.py")
    assert "/site-packages/aitbc_crypto/" in modules["aitbc_crypto"]
    missing = get(proc.url + "/nope")
    assert missing.status == 404 and missing.json()["service"] == "api-gateway"
    launcher.stop(proc)
    # Without its import roots it does not start: it imports from nowhere else.
    res = run(venvs.coordinator, serve_args("api_gateway.main:app"), app_dir)
    assert res.returncode != 0 and "No module named 'api_gateway'" in res.stderr, res.stderr


def test_api_gateway_reads_the_chain_directory_read_only(venvs, src, launcher, tmp_path):
    app_dir = src / "apps" / "api-gateway"
    env = {"PYTHONPATH": f"{app_dir / 'src'}:{src}"}
    bare = launcher.uvicorn("gateway-bare", venvs.coordinator, "api_gateway.main:app", app_dir,
                            **env)
    wait_until(lambda: get(bare.url + "/health").status == 200, 30, "gateway /health")
    assert get(bare.url + "/chain").status == 404  # no chain directory given
    launcher.stop(bare)
    chain = tmp_path / "chain"
    chain.mkdir()
    (chain / "genesis.json").write_text(json.dumps(GENESIS))
    with contextlib.closing(sqlite3.connect(chain / "chain.db")) as conn:
        conn.execute("CREATE TABLE blocks (height INTEGER PRIMARY KEY, hash TEXT NOT NULL)")
        conn.executemany("INSERT INTO blocks VALUES (?, ?)", [(0, "g"), (1, "b1")])
        conn.commit()
    proc = launcher.uvicorn("gateway-chain", venvs.coordinator, "api_gateway.main:app", app_dir,
                            AITBC_CHAIN_DIR=str(chain), **env)
    wait_until(lambda: get(proc.url + "/health").status == 200, 30, "gateway /health")
    view = get(proc.url + "/chain")
    assert view.status == 200, view.body
    assert view.json() == {"service": "api-gateway", "chain_id": "ait-testnet",
                           "genesis_hash": "0x" + "ab" * 32, "height": 1, "hash": "b1"}
    (chain / "genesis.json").unlink()
    gone = get(proc.url + "/chain")
    assert gone.status == 503 and gone.json()["error"].startswith("FileNotFoundError"), gone.body
    launcher.stop(proc)


def test_trade_exchange_serves_its_directory_on_every_address(stack):
    proc = stack["trade"]
    page = get(proc.url + "/index.html")
    assert page.status == 200 and b"aitbc-marker: trade-exchange" in page.body
    assert page.headers["access-control-allow-origin"] == "*"
    # 127.0.0.2 only answers when the server is bound to every address, not to 127.0.0.1.
    assert get(f"http://127.0.0.2:{proc.port}/").status == 200


def test_trade_exchange_has_no_host_option(src):
    res = run(sys.executable, ["server.py", "--host", "127.0.0.1", "--port", str(free_port())],
              src / "apps/trade-exchange", timeout=10)
    assert res.returncode == 2 and "unrecognized arguments: --host" in res.stderr, res.stderr


def test_pool_hub_without_its_database_answers_503_and_never_its_password(venvs, launcher,
                                                                        dead_peer):
    # Its health is a real query: no database, no 200. The reason names what failed, the
    # server's words or the connection's; the URL, which holds the password, shows nowhere.
    port = free_port()
    dead = urllib.parse.urlsplit(dead_peer).port
    proc = launcher.start("pool-hub", venvs.pool, ["-m", "pool_hub", "--port", str(port)],
                          launcher.logs, {"DATABASE_URL": f"postgresql://aitbc_pool:"
                                          f"hunter2%2Fsecret@127.0.0.1:{dead}/aitbc_pool"}, port)
    health = wait_until(lambda: get(proc.url + "/health"), 15, "pool hub health")
    assert health.status == 503, health.body
    body = health.json()
    assert body["service"] == "pool-hub" and body["status"] == "unavailable"
    assert body["error"].startswith("database: ")
    assert get(proc.url + "/v1/miners").status == 503
    for shown in (health.body.decode(), proc.output()):
        assert "hunter2" not in shown and "secret" not in shown


def test_pool_hub_takes_a_postgresql_url_only(venvs, launcher):
    port = free_port()
    proc = launcher.start("pool-hub-sqlite", venvs.pool, ["-m", "pool_hub", "--port", str(port)],
                          launcher.logs, {"DATABASE_URL": "sqlite:///pool.db"}, port)
    health = wait_until(lambda: get(proc.url + "/health"), 15, "pool hub health")
    assert (health.status, health.json()["error"]) == (503, "DATABASE_URL is not a postgresql:// URL")


def test_miner_heartbeats_reach_the_mock_coordinator(stack):
    # They arrive and get the mock's 404 (it serves nothing under /v1/); the miner polls on.
    miner, mock = stack["miner"], stack["mock"]
    wait_until(lambda: miner.output().count("error HTTPError: HTTP Error 404") >= 3, 10,
               "three heartbeats answered 404")
    assert 'POST /v1/miners/heartbeat?miner_id=gpu-test HTTP/1.1" 404' in mock.output()
    assert miner.popen.poll() is None


def test_miner_survives_an_unreachable_coordinator(stack):
    down = stack["miner-down"]
    wait_until(lambda: down.output().count(": poll ") >= 3, 10, "three failed polls")
    assert "error URLError" in down.output() and down.popen.poll() is None


# ---------------------------------------------------------------- static site and SPAs

WEBSITE_MARKERS = {
    "index.html": "website",
    "404.html": "website-404",
    "docs/index.html": "docs",
    "docs/clients.html": "docs-clients",
    "docs/miners.html": "docs-miners",
    "docs/developers.html": "docs-developers",
    "docs/browser-wallet.html": "docs-browser-wallet",
    "wallet/index.html": "wallet",
    "firefox-wallet/index.html": "firefox-wallet",
    "docs/css/docs.css": "docs-css",
    "docs/js/theme.js": "docs-js",
    "font-awesome-local.css": "font-awesome-local",
    "favicon.svg": "favicon",
}


def test_website_files_and_markers():
    root = PAYLOAD / "website"
    for rel, marker in WEBSITE_MARKERS.items():
        assert marker in re.findall(r"aitbc-marker: ([\w-]+)", (root / rel).read_text()), rel
    ico = (root / "favicon.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, 1)
    _, _, _, _, _, _, size, offset = struct.unpack("<BBBBHHII", ico[6:22])
    assert offset + size == len(ico)


@pytest.mark.parametrize(
    ("app", "base", "lockfile"),
    [("explorer-web", "explorer", True), ("marketplace-web", "marketplace", False)],
)
def test_spa_projects(app, base, lockfile):
    root = PAYLOAD / "apps" / app
    pkg = json.loads((root / "package.json").read_text())
    assert pkg["scripts"]["build"] == "vite build"
    assert pkg["devDependencies"]["vite"] == "7.3.8"
    assert f"base: '/{base}/'" in (root / "vite.config.js").read_text()
    assert f"aitbc-marker: {base}" in (root / "index.html").read_text()
    lock = root / "package-lock.json"
    if lockfile:
        packages = json.loads(lock.read_text())["packages"]
        assert packages["node_modules/vite"]["version"] == pkg["devDependencies"]["vite"]
    else:
        assert not lock.exists() or _git_ignored(lock), "marketplace-web keeps no lockfile"
        assert "package-lock.json" in (root / ".gitignore").read_text().split()
    for build_dir in ("dist", "node_modules"):
        assert _git_ignored(root / build_dir / "x") in (True, None), build_dir


def _git_ignored(path: Path) -> bool | None:
    res = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=PAYLOAD)
    return {0: True, 1: False}.get(res.returncode)  # None: not a git checkout


# ---------------------------------------------------------------- last: stopping


UVICORN = {"coordinator", "coordinator-lc", "coordinator-url", "node1-rpc", "node2-rpc", "mock",
           "wallet", "exchange-api"}


def test_every_process_stops_cleanly_on_sigterm(stack, launcher):
    """The stdlib processes exit 0. uvicorn >= 0.29 re-raises the signal after its graceful
    shutdown, so its processes end "killed by SIGTERM", which systemd counts as a clean stop."""
    codes = {name: launcher.stop(proc) for name, proc in stack.items()}
    assert set(stack) - UVICORN == {"node1", "node2", "trade", "miner", "miner-down"}
    for name, code in codes.items():
        output = stack[name].output()
        if name in UVICORN:
            assert code in (0, -signal.SIGTERM) and "Finished server process" in output, (name, output)
        else:
            assert code == 0, (name, output)
