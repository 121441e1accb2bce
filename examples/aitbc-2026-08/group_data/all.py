"""Facts both hosts share: the public names, the chain, Debian 13, the checkout's place, the
chain's state under /var/lib/aitbc.

pyinfra merges group data key by key over the project's group_data/all.py: what is restated
here replaces production's; the rest (base packages, security headers, rate limits) is
production's and fits this tree as it is.
"""

# The units' env files, root's alone, outside /etc/aitbc: upstream's code looks into
# /etc/aitbc itself (the chain's settings read /etc/aitbc/blockchain.env, the shared config
# /etc/aitbc/.env), and on Python 3.13 pathlib lets a directory it may not enter raise
# PermissionError where a missing one reads as "no file". With no /etc/aitbc on the host,
# every such read finds nothing and the settings come from the unit's environment.
env_dir = "/etc/aitbc-infra"

# Upstream's hub answers at hub.aitbc.bubuit.net (its nginx example, the docs, and the sync
# wrapper's fallback); the follower's name is ours. Plain HTTP: upstream's hub nginx listens on
# 80 behind a TLS proxy of its host (its example trusts X-Real-IP from 192.168.100.1); here each
# host is its own front, as the three-sites example's ns4. A follower's Python reaches the hub
# over that same URL (httpx would not trust a sandbox CA: it reads certifi, not the system's).
sites = {
    "hub.aitbc.bubuit.net": {"scheme": "http"},
    "follower.aitbc.example": {"scheme": "http"},
}

# The chain id of upstream's live hub: its coordinator and explorer read that chain's database
# at /var/lib/aitbc/data/ait-hub.aitbc.bubuit.net/chain.db (hard-coded), and it is the
# explorer's default CHAIN_ID. Blocks every 10 s (the node's default); a follower pulls every
# 30 s (PERIODIC_SYNC_INTERVAL, upstream's default) besides its subscription to the hub.
chain = {"chain_id": "ait-hub.aitbc.bubuit.net", "block_time_seconds": 10,
         "sync_interval_seconds": 30}

# Origins a browser may call the coordinator and the other services from: the hub's own pages.
cors_origins = ["http://hub.aitbc.bubuit.net"]

# Upstream targets Debian 13 (trixie): python3 is CPython 3.13.5, exactly its
# requires-python floor (">=3.13.5,!=3.14.1,<3.15"). No constraints file: requirements.txt
# pins every distribution itself. Three of its pins have no wheel on the index at all, only
# sdists of pure Python (python-baseconv, varint, click-completion): built on the control
# machine into wheels, each named because its build runs its setup.py there.
debian = 13
python = {"executable": "/usr/bin/python3",
          "build_from_source": ["python-baseconv", "varint", "click-completion"]}

# Where the tree's own files place its checkout: requirements.txt's first line is
# `-e file:///opt/aitbc/packages/aitbc-shared ; ...`, read as packages/aitbc-shared.
editable_root = "/opt/aitbc"

# The services import the whole monorepo (web3, pandas, sqlalchemy, ...) before they answer:
# on a busy host a first start takes far longer than the production apps' 20 s.
rollout = {"keep_releases": 3, "health_timeout_seconds": 90, "history_lines": 1000}

# COORDINATOR_API_KEY is one value for the whole island: upstream hands
# /etc/aitbc/blockchain-secrets.env to every node out of band, and a follower's wallet
# authenticates to the hub's coordinator with it. Every other secret is each site's own.
shared_secrets = ["COORDINATOR_API_KEY"]

# The chain's state, where the node, its RPC and the sync job write it and where upstream's
# code looks for it (paths hard-coded under /var/lib/aitbc/data/<chain_id>/): its database
# and its genesis file. The services app reads the database directly, as upstream's
# coordinator and explorer do (the explorer's first source, the RPC only when the file is not
# there).
_chain_dir = f"/var/lib/aitbc/data/{chain['chain_id']}"

unix_groups = [{"name": "aitbc-chain-readers"}]

shared_dirs = [
    {"path": _chain_dir, "owner": "aitbc-chain", "group": "aitbc-chain-readers", "mode": "2750",
     "writers": ["blockchain-node"], "readers": ["aitbc"]},
]

generated_files = [
    {
        # Block 0, the same on both hosts: the hub's node builds it from this file, a follower
        # from the hub's RPC (`/rpc/genesis_allocations`) or, failing that, from this file.
        # The hash is upstream's rule, sha256("<chain_id>|0|0x00|<timestamp>|")
        # (scripts/ops/create-genesis-block.py); the state root of no account is 32 zero bytes.
        "path": f"{_chain_dir}/genesis.json",
        "group": "aitbc-chain-readers",
        "mode": "0640",
        "template": "aitbc-genesis.json.j2",
        "values": {
            "timestamp": "2026-08-22T00:00:00+00:00",
            "genesis_hash": "0xbf3e5bc6f096f3442a01d2f8745b9cc7f3ee955cf367b6d5bc45344780b6d81d",
            "state_root": "0x" + "00" * 32,
        },
        "used_by": ["blockchain-node"],
    },
]
