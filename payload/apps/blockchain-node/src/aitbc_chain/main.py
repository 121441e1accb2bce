"""PoA proposer: appends one block every BLOCK_TIME_SECONDS to the sqlite file at DB_PATH.

Run: python -m aitbc_chain.main (one per DB_PATH: it is the chain's only writer of blocks).
"""

import hashlib
import logging
import signal
import threading
import time

from aitbc_chain.config import settings
from aitbc_chain.storage import connect, head

log = logging.getLogger("aitbc_chain.main")


def propose(conn) -> int:
    last = head(conn)
    height, parent = (last["height"] + 1, last["hash"]) if last else (0, "0" * 64)
    ts = time.time()
    material = f"{settings.chain_id}|{height}|{parent}|{ts:.6f}|{settings.proposer_id}"
    conn.execute(
        "INSERT INTO blocks (height, hash, parent_hash, proposer, timestamp) VALUES (?,?,?,?,?)",
        (height, hashlib.sha256(material.encode()).hexdigest(), parent, settings.proposer_id, ts),
    )
    return height


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    # SIGTERM ends the loop between blocks, so `systemctl stop` exits 0 and never cuts a write.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    conn = connect(settings.db_path)
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
