"""Settings and the sqlite store shared by the proposer (main) and the RPC API (app).

Env (case-insensitive, ./.env read too): CHAIN_ID, DB_PATH, PROPOSER_ID, BLOCK_TIME_SECONDS,
SYNC_INTERVAL_SECONDS, PEERS, ALLOW_ORIGINS, RPC_BIND_HOST, RPC_BIND_PORT.
"""

import json
import os
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

SERVICE = "blockchain-node"


def load_env() -> dict[str, str]:
    values: dict[str, str] = {}
    dotenv = Path(".env")
    if dotenv.is_file():
        for line in dotenv.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip().upper()] = value.strip().strip("'\"")
    values.update({k.upper(): v for k, v in os.environ.items()})
    return values


def split_list(raw: str) -> list[str]:
    """A comma list, or a JSON list as pydantic-settings accepts it."""
    raw = raw.strip()
    if raw.startswith("["):
        return [str(item).strip() for item in json.loads(raw)]
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class Settings:
    chain_id: str = "ait-devnet"
    db_path: Path = Path("./data/chain.db")
    proposer_id: str = field(default_factory=socket.gethostname)
    block_time_seconds: float = 2.0
    sync_interval_seconds: float = 10.0
    peers: tuple[str, ...] = ()
    allow_origins: frozenset[str] = frozenset()
    rpc_bind_host: str = "127.0.0.1"
    rpc_bind_port: int = 8081

    @classmethod
    def from_env(cls) -> "Settings":
        env = load_env()
        return cls(
            chain_id=env.get("CHAIN_ID") or cls.chain_id,
            db_path=Path(env.get("DB_PATH") or cls.db_path),
            proposer_id=env.get("PROPOSER_ID") or socket.gethostname(),
            block_time_seconds=float(env.get("BLOCK_TIME_SECONDS") or cls.block_time_seconds),
            sync_interval_seconds=float(
                env.get("SYNC_INTERVAL_SECONDS") or cls.sync_interval_seconds
            ),
            peers=tuple(p.rstrip("/") for p in split_list(env.get("PEERS", ""))),
            allow_origins=frozenset(split_list(env.get("ALLOW_ORIGINS", ""))),
            rpc_bind_host=env.get("RPC_BIND_HOST") or cls.rpc_bind_host,
            rpc_bind_port=int(env.get("RPC_BIND_PORT") or cls.rpc_bind_port),
        )


SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, hash TEXT NOT NULL, parent_hash TEXT NOT NULL,
    timestamp REAL NOT NULL, proposer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS peers (
    url TEXT PRIMARY KEY, height INTEGER, hash TEXT, node TEXT, chain_id TEXT,
    seen_at REAL, error TEXT);
"""


def connect(db_path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the chain database; WAL so the RPC reads while the node writes."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn
