"""The sqlite chain store shared by the proposer (writer) and the RPC process (reader)."""

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, hash TEXT NOT NULL, parent_hash TEXT NOT NULL,
    proposer TEXT NOT NULL, timestamp REAL NOT NULL);
CREATE TABLE IF NOT EXISTS imported_blocks (
    hash TEXT PRIMARY KEY, height INTEGER NOT NULL, body TEXT NOT NULL);
"""


def connect(db_path: Path) -> sqlite3.Connection:
    # Either process may start first, so both create the directory and the schema.
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    # WAL: the RPC reads while the proposer writes, without either holding a lock for long.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def head(conn: sqlite3.Connection) -> dict | None:
    row = conn.execute("SELECT * FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def blocks_range(conn: sqlite3.Connection, start: int, end: int) -> list[dict]:
    rows = conn.execute(
        "SELECT * FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height", (start, end)
    )
    return [dict(r) for r in rows]
