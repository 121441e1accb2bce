"""The demo payload for real: build the wheelhouse, install offline into a venv, run every app.

No mocks: each app runs as its own process (uvicorn, the proposer, the miner loop, the stdlib
trade exchange) on 127.0.0.1, exactly as the systemd units start them. Every process started
here is killed in teardown (by its own process group id).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aitbc_infra.wheelhouse import (
    app_release_id,
    build_wheelhouse,
    python_apps,
    read_manifest,
)

PAYLOAD = Path(__file__).resolve().parents[2] / "payload"
CONSTRAINTS = PAYLOAD / "constraints.txt"
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


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Response:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return Response(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
            )
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
        except (OSError, ValueError) as exc:  # not listening yet / partial JSON
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


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
    python: Path
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        # A clean environment: nothing from the caller's shell (e.g. a JWT_SECRET) leaks in.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1", **extra}

    def start(self, name: str, args: list[str], env: dict[str, str], port: int | None) -> Proc:
        cwd = self.workdir / name
        cwd.mkdir(parents=True, exist_ok=True)
        log = cwd / "output.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(self.python), *args],
                cwd=cwd,
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def uvicorn(self, name: str, target: str, **env: str) -> Proc:
        port = free_port()
        args = ["-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
        return self.start(name, [*args, "--workers", "1"], env, port)

    def run(self, args: list[str], timeout: float = 20, **env: str):
        return subprocess.run(
            [str(self.python), *args],
            cwd=self.workdir,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=5)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("wheelhouse")
    ids = build_wheelhouse(python_apps(PAYLOAD), out, constraints=CONSTRAINTS)
    return out, ids


@pytest.fixture(scope="module")
def venv_python(wheelhouse, tmp_path_factory) -> Path:
    """A fresh venv with every app installed offline from the wheelhouse only."""
    wh, _ = wheelhouse
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    reqs = [f"{a['project']}=={a['version']}" for a in read_manifest(wh)["apps"].values()]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--isolated",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wh),
            *reqs,
        ],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    return python


@pytest.fixture(scope="module")
def launcher(venv_python, tmp_path_factory):
    launch = Launcher(venv_python, tmp_path_factory.mktemp("run"))
    yield launch
    launch.stop_all()


@pytest.fixture(scope="module")
def stack(launcher, tmp_path_factory) -> dict[str, Proc]:
    """Every long-running app, started in parallel, then waited for."""
    data = tmp_path_factory.mktemp("data")
    s: dict[str, Proc] = {}
    s["coordinator"] = launcher.uvicorn(
        "coordinator",
        "app.main:app",
        JWT_SECRET="jwt-test-secret",
        DATABASE_URL=DB_URL,
        ADMIN_API_KEYS="key-one,key-two",
        ALLOW_ORIGINS=f"{ORIGIN_OK},http://localhost:8080",
    )
    # Settings are case-insensitive, like pydantic-settings.
    s["coordinator-lc"] = launcher.uvicorn(
        "coordinator-lc", "app.main:app", jwt_secret="x", admin_api_keys="lower-key"
    )
    chain = {"CHAIN_ID": "ait-testnet", "BLOCK_TIME_SECONDS": "0.5", "ALLOW_ORIGINS": ORIGIN_OK}
    node1 = {**chain, "DB_PATH": str(data / "node1" / "chain.db"), "PROPOSER_ID": "node-1"}
    s["node1"] = launcher.start("node1", ["-m", "aitbc_chain.main"], node1, None)
    s["node1-rpc"] = launcher.uvicorn("node1-rpc", "aitbc_chain.app:app", **node1)
    rpc2_port = free_port()
    node2 = {
        **chain,
        "DB_PATH": str(data / "node2" / "chain2.db"),
        "PROPOSER_ID": "node-2",
        "PEERS": s["node1-rpc"].url,
        "SYNC_INTERVAL_SECONDS": "1",
        "RPC_BIND_HOST": "127.0.0.1",
        "RPC_BIND_PORT": str(rpc2_port),
    }
    s["node2"] = launcher.start("node2", ["-m", "aitbc_chain.main"], node2, None)
    # Node 2's RPC is started from RPC_BIND_HOST/RPC_BIND_PORT alone.
    s["node2-rpc"] = launcher.start("node2-rpc", ["-m", "aitbc_chain.app"], node2, rpc2_port)
    s["wallet"] = launcher.uvicorn("wallet", "wallet_daemon.app:app", CHAIN_ID="ait-testnet")
    s["exchange-api"] = launcher.uvicorn(
        "exchange-api",
        "exchange_api.main:app",
        SESSION_SECRET="sess",
        WALLET_ENCRYPTION_KEY="wkey",
        ALLOW_ORIGINS=ORIGIN_OK,
    )
    s["mock"] = launcher.uvicorn("mock", "mock_coordinator.app:app")
    port = free_port()
    s["trade"] = launcher.start(
        "trade",
        ["-m", "trade_exchange.server", "--host", "127.0.0.1", "--port", str(port)],
        {},
        port,
    )
    s["miner"] = launcher.start(
        "miner",
        ["-m", "aitbc_miner"],
        {"COORDINATOR_URL": s["mock"].url, "MINER_POLL_SECONDS": "0.3", "MINER_ID": "gpu-test"},
        None,
    )
    health = {
        "coordinator": "/v1/health",
        "coordinator-lc": "/v1/health",
        "node1-rpc": "/rpc/head",
        "node2-rpc": "/rpc/head",
        "wallet": "/wallet/health",
        "exchange-api": "/health",
        "mock": "/v1/health",
        "trade": "/Exchange/health",
    }
    for name, path in health.items():
        proc = s[name]
        try:
            wait_until(lambda p=proc, h=path: get(p.url + h).status == 200, 20, f"{name} {path}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {name} output:\n{proc.output()}") from None
    for name, proc in s.items():
        assert proc.popen.poll() is None, f"{name} exited early:\n{proc.output()}"
    return s


# ---------------------------------------------------------------- wheelhouse


def test_wheelhouse_ids_deterministic_and_cached(wheelhouse, tmp_path):
    wh, ids = wheelhouse
    assert set(ids) == {p.name for p in python_apps(PAYLOAD)}
    assert all(len(v) == 16 and int(v, 16) >= 0 for v in ids.values())
    manifest = read_manifest(wh)
    for name, entry in manifest["apps"].items():
        assert (wh / entry["wheel"]).is_file()
        deps = [wh / w for w in entry["requires"]]
        assert ids[name] == app_release_id(PAYLOAD / name, deps)
    uvicorn_apps = {
        n
        for n, e in manifest["apps"].items()
        if any(w.startswith("uvicorn-") for w in e["requires"])
    }
    assert {"coordinator-api", "blockchain-node", "exchange-api"} <= uvicorn_apps
    assert manifest["apps"]["gpu-miner"]["requires"] == []
    # Unchanged inputs: no pip run at all, same ids, wheels untouched.
    mtimes = {p.name: p.stat().st_mtime_ns for p in wh.glob("*.whl")}
    started = time.monotonic()
    assert build_wheelhouse(python_apps(PAYLOAD), wh, constraints=CONSTRAINTS) == ids
    assert time.monotonic() - started < 2
    assert {p.name: p.stat().st_mtime_ns for p in wh.glob("*.whl")} == mtimes


def test_release_id_tracks_sources(tmp_path):
    app = tmp_path / "gpu-miner"
    shutil.copytree(PAYLOAD / "gpu-miner", app)
    before = app_release_id(app)
    assert app_release_id(app) == before
    (app / "src" / "aitbc_miner" / "__pycache__").mkdir(exist_ok=True)
    (app / "src" / "aitbc_miner" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (app / ".env").write_text("SECRET=1\n")
    assert app_release_id(app) == before, "caches and .env are not part of a release"
    (app / "src" / "aitbc_miner" / "__main__.py").write_text("print('changed')\n")
    assert app_release_id(app) != before


# ---------------------------------------------------------------- coordinator


def test_coordinator_routes(stack):
    url = stack["coordinator"].url
    health = get(url + "/v1/health")
    assert health.json() == {"service": "coordinator-api", "status": "ok", "database": "postgresql"}
    assert b"hunter2" not in health.body and b"aitbc:" not in health.body
    blocks = get(url + "/v1/explorer/blocks").json()
    assert blocks["service"] == "coordinator-api" and len(blocks["items"]) >= 1
    users = get(url + "/v1/users/").json()
    assert users["service"] == "coordinator-api" and isinstance(users["items"], list)
    assert get(url + "/v1/nope").status == 404


def test_coordinator_admin_requires_api_key(stack):
    url = stack["coordinator"].url + "/v1/admin/stats"
    assert get(url).status == 401
    assert get(url, {"X-Api-Key": "wrong"}).status == 401
    ok = get(url, {"X-Api-Key": "key-two"})
    assert ok.status == 200 and ok.json()["service"] == "coordinator-api"
    lc = stack["coordinator-lc"].url + "/v1/admin/x"
    assert get(lc, {"X-Api-Key": "lower-key"}).status == 200


def test_coordinator_cors(stack):
    url = stack["coordinator"].url + "/v1/health"
    assert get(url, {"Origin": ORIGIN_OK}).headers["access-control-allow-origin"] == ORIGIN_OK
    assert "access-control-allow-origin" not in get(url, {"Origin": ORIGIN_BAD}).headers
    pre = get(url, {"Origin": ORIGIN_OK, "Access-Control-Request-Method": "GET"}, "OPTIONS")
    assert pre.status == 200 and "GET" in pre.headers["access-control-allow-methods"]


@pytest.mark.parametrize("jwt", [None, "", "   "])
def test_coordinator_refuses_to_start_without_jwt_secret(launcher, jwt):
    env = {} if jwt is None else {"JWT_SECRET": jwt}
    res = launcher.run(["-m", "uvicorn", "app.main:app", "--port", str(free_port())], **env)
    assert res.returncode != 0
    assert "JWT_SECRET" in res.stderr


# ---------------------------------------------------------------- blockchain node


def test_node_height_advances(stack):
    url = stack["node1-rpc"].url + "/rpc/head"
    first = get(url).json()
    assert first["service"] == "blockchain-node"
    assert first["chain_id"] == "ait-testnet" and first["node"] == "node-1"
    assert len(first["hash"]) == 64
    later = wait_until(
        lambda: (h := get(url).json())["height"] >= first["height"] + 2 and h, 3, "new blocks"
    )
    assert later["hash"] != first["hash"]
    cors = get(url, {"Origin": ORIGIN_OK}).headers
    assert cors["access-control-allow-origin"] == ORIGIN_OK


def test_node_records_peer_heads(stack):
    peer = stack["node1-rpc"].url
    url = stack["node2-rpc"].url + "/rpc/peers"

    def peer_seen():
        peers = get(url).json()["peers"]
        return [p for p in peers if p["url"] == peer and p["height"] is not None]

    first = wait_until(peer_seen, 8, "node2 to record node1's head")[0]
    assert first["node"] == "node-1" and first["chain_id"] == "ait-testnet"
    # Re-polled every SYNC_INTERVAL_SECONDS=1: the recorded height moves on.
    wait_until(lambda: peer_seen()[0]["height"] > first["height"], 5, "a newer peer height")
    head2 = get(stack["node2-rpc"].url + "/rpc/head").json()
    assert head2["node"] == "node-2" and head2["service"] == "blockchain-node"


def test_node_proposer_stops_cleanly(launcher, tmp_path):
    env = {"DB_PATH": str(tmp_path / "c.db"), "BLOCK_TIME_SECONDS": "0.2"}
    proc = launcher.start("node-stop", ["-m", "aitbc_chain.main"], env, None)
    time.sleep(0.8)
    os.killpg(proc.popen.pid, signal.SIGTERM)
    assert proc.popen.wait(timeout=5) == 0, proc.output()


# ---------------------------------------------------------------- other apps


def test_wallet_daemon(stack):
    url = stack["wallet"].url
    assert get(url + "/wallet/health").json()["service"] == "wallet-daemon"
    body = get(url + "/wallet/").json()
    assert body["service"] == "wallet-daemon" and body["chain_id"] == "ait-testnet"


def test_exchange_api(stack):
    url = stack["exchange-api"].url
    assert get(url + "/health").json() == {"service": "exchange-api", "status": "ok"}
    trades = get(url + "/api/trades/recent", {"Origin": ORIGIN_OK})
    assert trades.json()["service"] == "exchange-api" and trades.json()["trades"]
    assert trades.headers["access-control-allow-origin"] == ORIGIN_OK
    book = get(url + "/api/orders/orderbook", {"Origin": ORIGIN_BAD})
    assert book.json()["bids"] and "access-control-allow-origin" not in book.headers


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, ["SESSION_SECRET", "WALLET_ENCRYPTION_KEY"]),
        ({"SESSION_SECRET": "s"}, ["WALLET_ENCRYPTION_KEY"]),
        ({"WALLET_ENCRYPTION_KEY": "k", "SESSION_SECRET": ""}, ["SESSION_SECRET"]),
    ],
)
def test_exchange_api_requires_secrets(launcher, env, missing):
    res = launcher.run(
        ["-m", "uvicorn", "exchange_api.main:app", "--port", str(free_port())], **env
    )
    assert res.returncode != 0
    for name in ("SESSION_SECRET", "WALLET_ENCRYPTION_KEY"):
        assert (name in res.stderr) == (name in missing), res.stderr


def test_mock_coordinator(stack):
    url = stack["mock"].url
    assert get(url + "/v1/health").json()["service"] == "mock-coordinator"
    anything = get(url + "/v1/jobs/42")
    assert anything.status == 200 and anything.json()["service"] == "mock-coordinator"


def test_trade_exchange(stack):
    url = stack["trade"].url
    page = get(url + "/Exchange")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert b"aitbc-marker: trade-exchange" in page.body
    assert get(url + "/Exchange/health").json() == {"service": "trade-exchange", "status": "ok"}


def test_gpu_miner_polls_coordinator(stack):
    miner = stack["miner"]
    lines = wait_until(
        lambda: (
            [ln for ln in miner.output().splitlines() if "coordinator=mock-coordinator" in ln]
            if miner.output().count("poll ") >= 3
            else None
        ),
        5,
        "three miner polls",
    )
    assert all(ln.startswith("gpu-miner: poll ") for ln in lines)


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
    ("app", "base"), [("explorer-web", "explorer"), ("marketplace-web", "marketplace")]
)
def test_spa_projects(app, base):
    root = PAYLOAD / app
    pkg = json.loads((root / "package.json").read_text())
    assert pkg["devDependencies"]["vite"].startswith("7.")
    lock = json.loads((root / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/vite"]["version"] == pkg["devDependencies"]["vite"]
    assert f"base: '/{base}/'" in (root / "vite.config.js").read_text()
    assert f"aitbc-marker: {base}" in (root / "index.html").read_text()
    for build_dir in ("dist", "node_modules"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(root / build_dir / "x")], cwd=PAYLOAD
        )
        assert ignored.returncode in (0, 128), build_dir  # 128: not a git checkout


def test_build_spas_script(tmp_path):
    """build-spas.sh on a copy of both SPAs: builds dist/ with the right base, then skips."""
    # No skips: `./dev test` installs node_modules first; without them this test is red, not gone.
    assert shutil.which("npm"), "npm is not installed (Node.js >= 20.19 is needed for the SPAs)"
    apps = []
    for app in ("explorer-web", "marketplace-web"):
        assert (PAYLOAD / app / "node_modules" / ".package-lock.json").is_file(), (
            f"run payload/build-spas.sh once first ({app}/node_modules missing)")
        # copy2 keeps mtimes, so the copied lockfile is not newer than the linked node_modules
        # and the script goes straight to `vite build`: no registry access in the unit tests.
        shutil.copytree(
            PAYLOAD / app, tmp_path / app, ignore=shutil.ignore_patterns("node_modules", "dist")
        )
        (tmp_path / app / "node_modules").symlink_to(PAYLOAD / app / "node_modules")
        apps.append(tmp_path / app)
    script = PAYLOAD / "build-spas.sh"
    first = subprocess.run([script, *apps], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count(": vite build") == 2 and "npm ci" not in first.stdout
    for app, base in zip(apps, ("explorer", "marketplace"), strict=True):
        html = (app / "dist" / "index.html").read_text()
        assert f"aitbc-marker: {base}" in html
        assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
        assert assets and all(a.startswith(f"/{base}/assets/") for a in assets), assets
        assert all((app / "dist" / a.removeprefix(f"/{base}/")).is_file() for a in assets)
    again = subprocess.run([script, *apps], capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and again.stdout.count("dist/ is up to date") == 2, again.stdout
