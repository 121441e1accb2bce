"""The follower (BLOCKCHAIN_MODE=follower): a copy of the hub's chain and the base services,
behind nginx at http://follower.aitbc.example/.

Upstream's follower runs the base services every node runs (blockchain node and RPC, wallet,
trading, governance, monitoring), the explorer, and the bulk catch-up job with its 5-minute
timer (setup.sh's get_services_for_role: follower). Its node follows the hub as
`setup.sh --open-island <hub-url>` sets it up: DEFAULT_PEER_RPC_URL the hub's base URL,
block production off.
"""

import runpy

from aitbc_infra import PROJECT_ROOT

# Dunder names are not group data (pyinfra leaves them out).
__upstream = runpy.run_path(str(PROJECT_ROOT / "examples" / "aitbc-2026-08" / "upstream_apps.py"))

# The hub this node follows: its public site (all.py's `sites`), the one peer of the chain
# app. The sync job names the same URL as its source (below): the model gives the peer to the
# app under one name only, DEFAULT_PEER_RPC_URL, which is the node's.
__hub = "hub.aitbc.bubuit.net"
__hub_url = f"http://{__hub}"

packages = __upstream["PACKAGES"]

users = __upstream["USERS"]

apps = [
    {
        **__upstream["chain_app"]("follower", ENABLE_BLOCK_PRODUCTION=False, AUTO_SYNC_ENABLED=True),
        "peers": [__hub],
        "services": [
            __upstream["SCHEMA_STEP"],
            {
                # apps/blockchain-node/aitbc-blockchain-node.service. A follower's start needs
                # no Redis: it builds block 0 from the hub's RPC (or genesis.json), subscribes
                # to the hub (POST /rpc/subscribe, then a WebSocket), and pulls every
                # PERIODIC_SYNC_INTERVAL seconds.
                "unit": "aitbc-blockchain-node",
                "description": "AITBC blockchain node (follower)",
                "command": "-m aitbc_chain.main",
                "workdir": ".",
                "after": ["aitbc-blockchain-schema"],
            },
            {**__upstream["RPC"], "after": ["aitbc-blockchain-schema", "aitbc-blockchain-node"]},
            {
                # apps/blockchain-node/aitbc-blockchain-sync.service and .timer (5 minutes):
                # the bulk catch-up, importing straight into the local chain database. Its
                # wrapper execs this module with PYTHONPATH forced to /opt/aitbc paths, which a
                # release does not have: the module is run as the wrapper runs it, with the
                # source the wrapper would pick (AITBC_SYNC_SOURCE, else the node's peer).
                "unit": "aitbc-blockchain-sync",
                "description": "AITBC blockchain sync (bulk catch-up)",
                "command": "-m aitbc_chain.sync_cli --import-url {url:aitbc-blockchain-rpc}",
                "workdir": ".",
                "env": {"AITBC_SYNC_SOURCE": __hub_url},
                "schedule": {"every_seconds": 300},
            },
        ],
    },
    {
        **__upstream["SERVICES_APP"],
        "exclude": __upstream["FOLLOWER_SERVICES_EXCLUDE"],
        "import_roots": __upstream["BASE_IMPORT_ROOTS"],
        # The wallet's COORDINATOR_API_KEY (upstream's blockchain-secrets.env): the island's
        # key, which the hub's coordinator takes (all.py: shared_secrets). TRADING_API_KEY as
        # on the hub.
        "secrets": ["COORDINATOR_API_KEY", "TRADING_API_KEY"],
        "steps": [__upstream["TRADING_MIGRATION"]],
        "data": __upstream["BASE_DATA"],
        "services": [
            __upstream["EXPLORER"],
            # No coordinator here: the wallet fetches receipts from the hub's, through its
            # public /c/ route.
            {**__upstream["WALLET"],
             "env": {**__upstream["WALLET"]["env"], "COORDINATOR_BASE_URL": f"{__hub_url}/c"}},
            __upstream["TRADING"],
            __upstream["GOVERNANCE"],
            __upstream["MONITORING"],
        ],
    },
]

# The follower's public face: its chain's RPC (another node may sync from it), the explorer
# and the wallet's exchange API, as on the hub; a plain status for load balancers.
nginx_sites = [
    {
        "config_name": "follower.aitbc.example",
        "server_name": "follower.aitbc.example",
        "listen": 80,
        "routes": [
            {"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc",
             "websocket": True, "probe": "/rpc/head", "rate_limit": "rpc"},
            {"location": "/explorer-api/", "type": "proxy", "service": "aitbc-blockchain-explorer",
             "path": "/", "probe": "/explorer-api/health", "rate_limit": "api"},
            {"location": "/v1/exchange/", "type": "proxy", "service": "aitbc-wallet",
             "probe": "/v1/exchange/status", "rate_limit": "api"},
            {"location": "/health", "match": "exact", "type": "status", "status": 200, "body": "OK"},
        ],
    },
]

firewall = {
    "open": [
        {"port": 22, "name": "ssh", "allow": ["any"]},
        {"port": 80, "name": "http", "allow": ["any"]},
    ],
}
