"""PoA proposer: appends a block every BLOCK_TIME_SECONDS and polls PEERS' /rpc/head.

Run: python -m aitbc_chain.main (single process: the proposer must be unique per DB_PATH)
"""

import hashlib
import json
import logging
import signal
import threading
import time
import urllib.request

from aitbc_chain.config import Settings, connect

log = logging.getLogger("aitbc_chain.main")


def block_hash(chain_id: str, height: int, parent: str, ts: float, proposer: str) -> str:
    return hashlib.sha256(f"{chain_id}|{height}|{parent}|{ts:.6f}|{proposer}".encode()).hexdigest()


def propose(conn, settings: Settings) -> int:
    """Append one block on top of the current head; returns the new height."""
    head = conn.execute("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
    height, parent = (head["height"] + 1, head["hash"]) if head else (0, "0" * 64)
    ts = time.time()
    digest = block_hash(settings.chain_id, height, parent, ts, settings.proposer_id)
    conn.execute(
        "INSERT INTO blocks (height, hash, parent_hash, timestamp, proposer) VALUES (?,?,?,?,?)",
        (height, digest, parent, ts, settings.proposer_id),
    )
    return height


def poll_peer(conn, url: str) -> None:
    now = time.time()
    try:
        with urllib.request.urlopen(f"{url}/rpc/head", timeout=3) as resp:
            head = json.load(resp)
        conn.execute(
            "INSERT OR REPLACE INTO peers (url, height, hash, node, chain_id, seen_at, error)"
            " VALUES (?,?,?,?,?,?,NULL)",
            (
                url,
                head.get("height"),
                head.get("hash"),
                head.get("node"),
                head.get("chain_id"),
                now,
            ),
        )
    except Exception as exc:  # unreachable peer: keep its last good head, record the error
        conn.execute(
            "INSERT INTO peers (url, error) VALUES (?, ?) ON CONFLICT(url) DO UPDATE SET"
            " error = excluded.error",
            (url, f"{type(exc).__name__}: {exc}"),
        )
        log.warning("peer %s unreachable: %s", url, exc)


def sync_loop(settings: Settings, stop: threading.Event) -> None:
    conn = connect(settings.db_path)
    while not stop.is_set():
        for url in settings.peers:
            poll_peer(conn, url)
        stop.wait(settings.sync_interval_seconds)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    conn = connect(settings.db_path)
    log.info(
        "proposer %s on chain %s, db %s, block time %ss, peers %s",
        settings.proposer_id,
        settings.chain_id,
        settings.db_path,
        settings.block_time_seconds,
        ",".join(settings.peers) or "-",
    )
    if settings.peers:
        threading.Thread(target=sync_loop, args=(settings, stop), daemon=True).start()
    next_at = time.monotonic()
    while not stop.is_set():
        height = propose(conn, settings)
        if height % 30 == 0:
            log.info("proposed block %d", height)
        next_at += settings.block_time_seconds
        stop.wait(max(0.0, next_at - time.monotonic()))
    log.info("stopped")


if __name__ == "__main__":
    main()
