"""The ns4 container: blockchain node 4, RPC on 8082, following node 1 through the public site."""

packages = ["sqlite3"]

users = [{"name": "aitbc-chain", "home": "/opt/blockchain-node"}]

apps = [
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
        "env": {"DB_PATH": "{root}/data/chain.db", "PROPOSER_ID": "node-4"},
        "peers": ["aitbc.bubuit.net"],
        "services": [
            {"unit": "aitbc-blockchain-node-4", "description": "AITBC blockchain node 4",
             "command": "-m aitbc_chain.main"},
            {"unit": "aitbc-blockchain-rpc-4", "description": "AITBC blockchain node 4 RPC",
             "asgi": "aitbc_chain.app:app", "workers": 1, "port": 8082, "bind": "bridge",
             "after": ["aitbc-blockchain-node-4"], "health": "/rpc/head"},
        ],
    },
]
