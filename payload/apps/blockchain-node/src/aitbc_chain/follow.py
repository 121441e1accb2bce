"""A follower's copy of its peer's chain: the peer's blocks, exactly as the peer holds them,
appended to this node's database after the last block it has.

Two writers may copy at once (the follower node's loop and the sync job, sync_cli.py): each
appends in one transaction that re-reads the head first, so a block is written once, and a
block that does not continue the chain held here (another parent, another block 0 than the
genesis file's) is refused, never written.
"""

import json
import urllib.request

from aitbc_chain.genesis import genesis_block
from aitbc_chain.storage import head

BATCH = 1000  # the most blocks the RPC's /rpc/blocks-range answers at once


class ForkError(RuntimeError):
    """The peer's chain is not a continuation of the one held here."""


def fetch_blocks(peer: str, start: int) -> list[dict]:
    url = f"{peer.rstrip('/')}/rpc/blocks-range?start={start}&end={start + BATCH - 1}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["blocks"]


def append(conn, blocks: list[dict]) -> int:
    """Append the blocks that continue this node's chain; the number appended."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = head(conn)
        added = 0
        for block in blocks:
            if last is not None and block["height"] <= last["height"]:
                continue  # written meanwhile by the other writer
            expected = last["height"] + 1 if last else 0
            if block["height"] != expected:
                raise ForkError(f"peer's block {block['height']} where {expected} was due")
            if last is None:
                genesis = genesis_block()
                if genesis is not None and block["hash"] != genesis["hash"]:
                    raise ForkError(f"peer's block 0 {block['hash']} is not the genesis file's "
                                    f"{genesis['hash']}")
            elif block["parent_hash"] != last["hash"]:
                raise ForkError(f"peer's block {block['height']} does not follow ours "
                                f"({last['hash']})")
            conn.execute("INSERT INTO blocks (height, hash, parent_hash, proposer, timestamp) "
                         "VALUES (?,?,?,?,?)", (block["height"], block["hash"],
                                                block["parent_hash"], block["proposer"],
                                                block["timestamp"]))
            last, added = block, added + 1
        conn.execute("COMMIT")
        return added
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def pull(conn, peer: str) -> int:
    """Copy every block the peer has beyond ours; the number copied."""
    copied = 0
    while True:
        last = head(conn)
        blocks = fetch_blocks(peer, last["height"] + 1 if last else 0)
        copied += append(conn, blocks)
        if len(blocks) < BATCH:
            return copied
