"""The exchange's sqlite store (stdlib), at DATABASE_URL relative to the working directory."""

import os
import sqlite3

DATABASE_URL = os.environ.get("DATABASE_URL") or "sqlite:///./exchange.db"
SEED = [(120.0, 0.0125), (80.0, 0.0127), (45.5, 0.0126)]  # (amount, price)


def connect() -> sqlite3.Connection:
    """The database at DATABASE_URL (the API and migrate.py open the same file)."""
    if not DATABASE_URL.startswith("sqlite:///"):
        raise RuntimeError(f"only sqlite:/// URLs are supported, not {DATABASE_URL.split(':')[0]}")
    conn = sqlite3.connect(DATABASE_URL.removeprefix("sqlite:///"))
    conn.row_factory = sqlite3.Row
    return conn


def init_db() -> None:
    with connect() as conn:
        # The tree's own trades table: both read and write the same exchange.db in the data
        # directory, so a host switched from one to the other keeps a database both can read.
        conn.execute("CREATE TABLE IF NOT EXISTS trades (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " amount REAL NOT NULL, price REAL NOT NULL, total REAL NOT NULL,"
                     " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")
        # A few trades on first start, so the page and the order book are never empty.
        if conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 0:
            conn.executemany("INSERT INTO trades (amount, price, total, created_at)"
                             " VALUES (?, ?, ?, datetime('now', ?))",
                             [(amount, price, amount * price, f"-{i} seconds")
                              for i, (amount, price) in enumerate(SEED)])


def recent_trades(limit: int = 20) -> list[dict]:
    with connect() as conn:
        rows = conn.execute("SELECT * FROM trades ORDER BY created_at DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]


def orderbook() -> dict:
    last = recent_trades(1)
    mid = last[0]["price"] if last else 0.0125
    return {"bids": [{"price": round(mid * (1 - 0.01 * i), 6), "amount": 10.0 * i} for i in (1, 2, 3)],
            "asks": [{"price": round(mid * (1 + 0.01 * i), 6), "amount": 10.0 * i} for i in (1, 2, 3)]}
