"""Block 0 from the chain's genesis file, as today's upstream node takes it (c27c654: a
`genesis.json` in the chain's data directory, /var/lib/aitbc/data/<chain_id>/): here the file
beside DB_PATH. Its block is taken as given (hash, time, proposer); nothing is recomputed.
"""

import json
from datetime import datetime

from aitbc_chain.config import settings


class GenesisError(RuntimeError):
    """The genesis file is there but unusable, or names another chain."""


def genesis_path():
    return settings.db_path.parent / "genesis.json"


def genesis_block() -> dict | None:
    """Block 0 as the genesis file gives it, in the blocks table's columns; None without a file."""
    path = genesis_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        block = data["block"]
        row = {"height": 0, "hash": block["hash"], "parent_hash": block["parent_hash"],
               "proposer": block["proposer"],
               "timestamp": datetime.fromisoformat(block["timestamp"]).timestamp()}
    except (ValueError, KeyError, TypeError) as exc:
        raise GenesisError(f"{path}: not a genesis file ({type(exc).__name__}: {exc})") from None
    if data.get("chain_id") != settings.chain_id:
        raise GenesisError(f"{path}: chain {data.get('chain_id')!r}, this node's is "
                           f"{settings.chain_id!r}")
    return row
