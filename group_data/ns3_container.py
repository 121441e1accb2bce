"""The ns3 container (192.168.100.10): blockchain node 3, RPC on 8082.

ns3-root forwards 8000, 8081, 8082 and 9080 here. The document names only node 3 (8082);
our decision: a coordinator API answers on 8000 and node 3's RPC is also offered on 8081
and 9080, the ports peers use for node 1 and the host RPC, so every forward reaches a listener.
"""

packages = ["sqlite3"]

users = [
    {"name": "aitbc-coordinator", "home": "/opt/coordinator-api"},
    {"name": "aitbc-chain", "home": "/opt/blockchain-node"},
]

_node3_rpc = {"asgi": "aitbc_chain.app:app", "workers": 1, "bind": "bridge",
              "after": ["aitbc-blockchain-schema-3", "aitbc-blockchain-node-3"], "health": "/rpc/head"}

apps = [
    {
        "name": "coordinator-api",
        "packages": ["apps/coordinator-api"],
        "requirements": ["python-json-logger"],
        "user": "aitbc-coordinator",
        "root": "/opt/coordinator-api",
        "data_dirs": ["data"],
        "cors": True,
        # Its database is `URL`, as at the aitbc container (no DATABASE_URL is read).
        "env": {"URL": "sqlite:///{root}/data/coordinator.db"},
        "data": [{"name": "coordinator", "kind": "sqlite", "path": "{root}/data/coordinator.db"}],
        "secrets": ["JWT_SECRET"],
        "secret_lists": ["ADMIN_API_KEYS"],
        "auth": {"header": "X-Api-Key", "protected": ["/v1/admin/"]},
        "services": [
            {"unit": "coordinator-api", "description": "AITBC coordinator API (ns3)",
             "asgi": "app.main:app", "port": 8000, "bind": "bridge", "health": "/v1/health",
             "data_probe": "/v1/explorer/transactions"},
        ],
    },
    {
        "name": "blockchain-node",
        "packages": ["apps/blockchain-node"],
        "user": "aitbc-chain",
        "root": "/opt/blockchain-node",
        "data_dirs": ["data"],
        "cors": True,
        "chain": True,
        # The node writes its chain database: never two at once (no candidate).
        "side_by_side": False,
        "env": {"DB_PATH": "{root}/data/chain.db", "PROPOSER_ID": "node-3"},
        # No `data`: a chain database is kept by its peers, not snapshotted (the aitbc
        # container's node 1 says why).
        # Node 3 follows node 1 through the public site.
        "peers": ["aitbc.bubuit.net"],
        "services": [
            # The tree's init_db (SQLModel create_all) checks for a table, then creates it: the
            # node and its RPCs opening a fresh database at once all create "block" and all but
            # one exit. Run once, before any of them starts.
            {"unit": "aitbc-blockchain-schema-3", "description": "AITBC blockchain node 3 database schema",
             "command": '-c "from aitbc_chain.database import init_db; init_db()"', "oneshot": True},
            {"unit": "aitbc-blockchain-node-3", "description": "AITBC blockchain node 3 (PoA proposer)",
             "command": "-m aitbc_chain.main", "after": ["aitbc-blockchain-schema-3"]},
            {"unit": "aitbc-blockchain-rpc-3", "description": "AITBC blockchain node 3 RPC",
             "port": 8082, **_node3_rpc},
            {"unit": "aitbc-blockchain-rpc-3-8081", "description": "AITBC node 3 RPC on node 1's port",
             "port": 8081, **_node3_rpc},
            {"unit": "aitbc-blockchain-rpc-3-9080", "description": "AITBC node 3 RPC on the host RPC port",
             "port": 9080, **_node3_rpc},
        ],
    },
]

# How provision creates the container on ns3-root (its address: bridge_address in inventory.py);
# image and limits are our decision, as for the aitbc container.
container = {
    "host": "ns3-root",
    "image": "images:debian/12",
    "limits": {"cpu": 1, "memory": "2GiB"},
    "autostart": True,
    "ssh": {"authorized_key": "~/.ssh/id_ed25519.pub"},
}
