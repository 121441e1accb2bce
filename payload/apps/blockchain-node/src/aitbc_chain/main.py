"""PoA proposer: appends one block every BLOCK_TIME_SECONDS to the sqlite file at DB_PATH.
Block 0 is the genesis file's when there is one beside DB_PATH (genesis.py).

With BLOCKCHAIN_MODE=follower it proposes nothing: every SYNC_INTERVAL_SECONDS it copies the
blocks of the node at DEFAULT_PEER_RPC_URL (follow.py), as today's upstream follower does.

Run: python -m aitbc_chain.main (one per DB_PATH: it is the chain's only writer of blocks).
"""

import hashlib
import logging
import signal
import sys
import threading
import time

from aitbc_chain.config import settings
from aitbc_chain.follow import ForkError, pull
from aitbc_chain.genesis import GenesisError, genesis_block
from aitbc_chain.storage import connect, head

log = logging.getLogger("aitbc_chain.main")


def propose(conn) -> int:
    last = head(conn)
    genesis = genesis_block() if last is None else None
    if genesis is not None:
        conn.execute("INSERT INTO blocks (height, hash, parent_hash, proposer, timestamp) "
                     "VALUES (:height, :hash, :parent_hash, :proposer, :timestamp)", genesis)
        return 0
    height, parent = (last["height"] + 1, last["hash"]) if last else (0, "0" * 64)
    ts = time.time()
    material = f"{settings.chain_id}|{height}|{parent}|{ts:.6f}|{settings.proposer_id}"
    conn.execute(
        "INSERT INTO blocks (height, hash, parent_hash, proposer, timestamp) VALUES (?,?,?,?,?)",
        (height, hashlib.sha256(material.encode()).hexdigest(), parent, settings.proposer_id, ts),
    )
    return height


def follow(conn, stop: threading.Event) -> None:
    """Copy the peer's new blocks every sync interval; a peer out of reach is retried."""
    peer = settings.default_peer_rpc_url
    log.info("follower on %s, db %s, following %s every %ss", settings.chain_id,
             settings.db_path.resolve(), peer, settings.sync_interval_seconds)
    while not stop.is_set():
        try:
            copied = pull(conn, peer)
            if copied:
                log.info("copied %d block(s) from %s, head %d", copied, peer, head(conn)["height"])
        except (ForkError, GenesisError) as exc:  # nothing written: said, and tried again
            log.error("refused the chain of %s: %s", peer, exc)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("peer %s: %s: %s", peer, type(exc).__name__, exc)
        stop.wait(settings.sync_interval_seconds)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    # SIGTERM ends the loop between blocks, so `systemctl stop` exits 0 and never cuts a write.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if settings.blockchain_mode == "follower" and not settings.default_peer_rpc_url:
        log.error("BLOCKCHAIN_MODE=follower needs DEFAULT_PEER_RPC_URL: the node to follow")
        sys.exit(2)
    try:
        genesis_block()  # a genesis file that cannot start this chain stops the node here
    except GenesisError as exc:
        log.error("%s", exc)
        sys.exit(1)
    conn = connect(settings.db_path)
    if settings.blockchain_mode == "follower":
        follow(conn, stop)
        conn.close()
        log.info("stopped")
        return
    log.info("proposer %s on %s, db %s, one block every %ss", settings.proposer_id,
             settings.chain_id, settings.db_path.resolve(), settings.block_time_seconds)
    next_at = time.monotonic()
    while not stop.is_set():
        height = propose(conn)
        if height % 30 == 0:
            log.info("proposed block %d", height)
        next_at += settings.block_time_seconds
        stop.wait(max(0.0, next_at - time.monotonic()))
    conn.close()
    log.info("stopped")


if __name__ == "__main__":
    main()
