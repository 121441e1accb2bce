"""One catch-up of a follower, as upstream's sync job (aitbc_chain.sync_cli, run by its
`aitbc-blockchain-sync.timer`): every block DEFAULT_PEER_RPC_URL has beyond this node's,
copied into DB_PATH, then exit. Exit 1, naming the peer, when it cannot.

Run: python -m aitbc_chain.sync_cli
"""

import sys

from aitbc_chain.config import settings
from aitbc_chain.follow import ForkError, pull
from aitbc_chain.genesis import GenesisError
from aitbc_chain.storage import connect, head


def main() -> int:
    peer = settings.default_peer_rpc_url
    if not peer:
        print("sync: DEFAULT_PEER_RPC_URL is not set: no node to sync from", file=sys.stderr)
        return 2
    conn = connect(settings.db_path)
    try:
        copied = pull(conn, peer)
    except (OSError, ValueError, KeyError, ForkError, GenesisError) as exc:
        print(f"sync: from {peer}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        last = head(conn)
        conn.close()
    print(f"sync: {copied} block(s) from {peer}, head {last['height'] if last else None}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
