#!/usr/bin/env python3
"""Brings the exchange database's schema up to date. Deployers run it as a release step
(`python migrate.py` from this directory, with the API's environment) before a release goes
live, the way upstream runs `alembic upgrade head` for its coordinator.

Its schema version is SQLite's `user_version`, the number of migrations applied so far. Each
migration runs in one transaction with the version it brings, schema changes included:
one that fails leaves the database as it was and exits 1. Run again, it applies nothing. A
database newer than this release's migrations is left alone: a migration only adds, so an
older release still reads it.
"""

import sys

from database import connect

# MIGRATIONS[N] brings version N to N + 1, one statement after another.
MIGRATIONS = [
    # 1: the trades table as the API's init_db makes it. A database init_db made first is
    # already like that, and only its version moves.
    ["CREATE TABLE IF NOT EXISTS trades (id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " amount REAL NOT NULL, price REAL NOT NULL, total REAL NOT NULL,"
     " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"],
]


def main() -> int:
    conn = connect()
    conn.isolation_level = None  # the transactions are these BEGINs and COMMITs, DDL included
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            print(f"exchange schema: migration {number} failed, none of it applied: {exc}",
                  file=sys.stderr)
            return 1
        print(f"exchange schema: migration {number} applied")
    if version > len(MIGRATIONS):
        print(f"exchange schema at version {version}, newer than this release's "
              f"{len(MIGRATIONS)} migrations: left as it is")
    elif version == len(MIGRATIONS):
        print(f"exchange schema at version {version}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
