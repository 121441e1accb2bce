"""The hub (BLOCKCHAIN_MODE=hub): it produces the chain and runs the coordinator and the
services around it, behind nginx at http://hub.aitbc.bubuit.net/.

Upstream's hub runs the base services every node runs (blockchain node and RPC, wallet,
trading, governance, monitoring) and the hub's (p2p relay, coordinator API, API gateway,
exchange, marketplace, blockchain event bridge, agent coordinator, explorer): setup.sh's
get_services_for_role. What is not here, and why, is in README.md beside this folder.
"""

import runpy

from aitbc_infra import PROJECT_ROOT

# Dunder names are not group data (pyinfra leaves them out).
__upstream = runpy.run_path(str(PROJECT_ROOT / "examples" / "aitbc-2026-08" / "upstream_apps.py"))

packages = __upstream["PACKAGES"]

users = __upstream["USERS"]

apps = [
    {
        **__upstream["chain_app"]("hub"),
        # The proposer's key and the address it controls, a pair from upstream's
        # apps/blockchain-node/scripts/keygen.py: the RPC refuses to start unless the key
        # derives to PROPOSER_ID (aitbc_chain/proposer_identity.py). README.md says how to
        # give the sandbox such a pair.
        "secrets": ["PROPOSER_KEY", "PROPOSER_ID"],
        "services": [
            __upstream["SCHEMA_STEP"],
            {
                **__upstream["RPC"],
                # Upstream's hub proposes in aitbc-blockchain-node (python -m aitbc_chain.main)
                # and turns production off in its RPC. That node does not start without Redis
                # (its hub start awaits the lease tracker's Redis ping, uncaught), which this
                # example cannot have yet: the RPC proposes meanwhile, the same PoA proposer
                # upstream's RPC runs when production is on for it (aitbc_chain/app.py). Once
                # Redis is in the model: add the node, and set this back to False.
                "env": {"ENABLE_BLOCK_PRODUCTION": True},
            },
            {
                # apps/blockchain-node/aitbc-blockchain-p2p.service: its wrapper execs
                # `python -m aitbc_chain.gossip.relay`, which builds the relay's Starlette app
                # with create_app() and serves it with uvicorn; here uvicorn serves the same
                # factory on the unit's socket. Upstream binds 0.0.0.0:7070 for the hub's own
                # gossip; nothing beyond this host speaks to it, so loopback.
                "unit": "aitbc-blockchain-p2p",
                "description": "AITBC blockchain p2p gossip relay",
                "command": "-m uvicorn aitbc_chain.gossip.relay:create_app --factory --fd 3",
                "workdir": ".",
                "port": 7070,
                # No health route (POST /gossip and a WebSocket): the gate needs it to stay up.
            },
        ],
    },
    {
        **__upstream["SERVICES_APP"],
        "exclude": __upstream["HUB_SERVICES_EXCLUDE"],
        # Each unit's PYTHONPATH of upstream, joined (the base services' and the hub's).
        "import_roots": [
            *__upstream["BASE_IMPORT_ROOTS"],
            "apps/coordinator-api/src", "apps/api-gateway/src", "apps/marketplace/src",
            "apps/blockchain-event-bridge/src", "apps/blockchain-node/src",
            "apps/agent-coordinator/src",
        ],
        # JWT_SECRET: the coordinator's (setup.sh writes it to its env file). SECRET_KEY and
        # COORDINATOR_API_KEY: upstream's blockchain-secrets.env, read by the wallet, the agent
        # coordinator (which refuses an empty SECRET_KEY) and the event bridge; the key is the
        # island's one (all.py: shared_secrets). API_GATEWAY_KEY and TRADING_API_KEY: without
        # them upstream's gateway answers 500 and trading 401 to everything but their health;
        # given, a client presenting them is served. Every service of the app sees them all.
        "secrets": ["JWT_SECRET", "SECRET_KEY", "COORDINATOR_API_KEY", "API_GATEWAY_KEY",
                    "TRADING_API_KEY"],
        "data": [
            *__upstream["BASE_DATA"],
            {"name": "coordinator", "kind": "sqlite", "path": "{root}/data/data/coordinator.db"},
            {"name": "marketplace", "kind": "sqlite",
             "path": "{root}/data/data/marketplace_service.db"},
            {"name": "exchange", "kind": "sqlite", "path": "{root}/data/data/exchange/exchange.db"},
            {"name": "agent-coordinator", "kind": "sqlite",
             "path": "{root}/data/data/agent_coordinator.db"},
            {"name": "agent-coin-requests", "kind": "sqlite",
             "path": "{root}/data/data/agent_coin_requests.db"},
        ],
        "services": [
            {
                # apps/coordinator-api/aitbc-coordinator-api.service. SQLite (no
                # DATABASE_ADAPTER): data/coordinator.db. Its tables are Alembic's
                # (`alembic upgrade head` in apps/coordinator-api), a release step this
                # example does not declare yet (README.md).
                "unit": "aitbc-coordinator-api",
                "description": "AITBC coordinator API",
                "asgi": "coordinator_api.main:app",
                "workers": 1,
                "workdir": "apps/coordinator-api/src",
                "port": 8203,
                "health": "/health",
                # Its key store: upstream REPO_DIR/data/keys, i.e. /opt/aitbc/data/keys.
                "env": {"KEY_STORAGE_DIR": "{root}/data/keys"},
            },
            {
                "unit": "aitbc-api-gateway",
                "description": "AITBC API gateway",
                "asgi": "api_gateway.main:app",
                "workers": 1,
                "workdir": "apps/api-gateway",
                "port": 8201,
                "health": "/health",
                # The services it fronts, on this host (its defaults are these ports on
                # localhost; GPU and FFmpeg are not deployed).
                "env": {
                    "COORDINATOR_API_URL": "{url:aitbc-coordinator-api}",
                    "TRADING_SERVICE_URL": "{url:aitbc-trading}",
                    "GOVERNANCE_SERVICE_URL": "{url:aitbc-governance}",
                    "EXCHANGE_SERVICE_URL": "{url:aitbc-exchange}",
                    "AGENT_COORDINATOR_URL": "{url:aitbc-agent-coordinator}",
                    "WALLET_SERVICE_URL": "{url:aitbc-wallet}",
                },
            },
            {
                # apps/exchange/aitbc-exchange.service runs `-m apps.exchange.simple_exchange.server`,
                # which serves this app with uvicorn. SQLite: data/exchange/exchange.db.
                "unit": "aitbc-exchange",
                "description": "AITBC trade exchange API",
                "asgi": "apps.exchange.simple_exchange.main:app",
                "workdir": "apps/exchange",
                "port": 8106,
                "health": "/health",
            },
            {
                "unit": "aitbc-marketplace",
                "description": "AITBC marketplace service",
                "asgi": "marketplace_service.main:app",
                "workdir": "apps/marketplace",
                "port": 8102,
                "health": "/health",
            },
            {
                "unit": "aitbc-blockchain-event-bridge",
                "description": "AITBC blockchain event bridge",
                "asgi": "blockchain_event_bridge.main:app",
                "workdir": "apps/blockchain-event-bridge",
                "port": 8205,
                "health": "/health",
                "env": {"COORDINATOR_API_URL": "{url:aitbc-coordinator-api}"},
            },
            {
                # Upstream's wrapper runs `python -m agent_app.main`, which serves this app
                # with uvicorn. Its Redis (db 1) is connected to lazily: without one it starts,
                # and what needs Redis fails per request (README.md).
                "unit": "aitbc-agent-coordinator",
                "description": "AITBC agent coordinator",
                "asgi": "agent_app.main:app",
                "workdir": ".",
                "port": 8107,
                "health": "/health",
                # Its coin-request store, upstream /var/lib/aitbc/data/agent_coin_requests.db.
                "env": {"AGENT_DB_PATH": "{root}/data/data/agent_coin_requests.db"},
            },
            __upstream["EXPLORER"],
            {**__upstream["WALLET"],
             "env": {**__upstream["WALLET"]["env"],
                     "COORDINATOR_BASE_URL": "{url:aitbc-coordinator-api}"}},
            __upstream["TRADING"],
            __upstream["GOVERNANCE"],
            __upstream["MONITORING"],
        ],
    },
]

# The hub's public site: upstream's examples/nginx/nginx-aitbc.conf.example, route by route,
# for the services deployed here (its ollama, whisper, ffmpeg and peertube routes front
# services this example leaves out). `probe`: what a user opens under a prefix that has no page
# of its own, answered 200.
web_content = [{"source": "website", "path": "", "exclude": ["favicon.svg"]}]

nginx_sites = [
    {
        "config_name": "hub.aitbc.bubuit.net",
        "server_name": "hub.aitbc.bubuit.net",
        "listen": 80,
        "root": "/var/www/hub.aitbc.bubuit.net",
        "routes": [
            {"location": "/", "type": "static"},
            # The agent API, machine-readable for autonomous agents.
            {"location": "/health", "match": "exact", "type": "proxy",
             "service": "aitbc-agent-coordinator"},
            {"location": "/openapi.json", "match": "exact", "type": "proxy",
             "service": "aitbc-agent-coordinator"},
            {"location": "/agent/openapi.json", "match": "exact", "type": "proxy",
             "service": "aitbc-agent-coordinator", "path": "/openapi.json"},
            {"location": "/v1/", "type": "proxy", "service": "aitbc-agent-coordinator",
             "probe": "/v1/metrics", "rate_limit": "api"},
            # The agents' real-time streams (WebSocket only: a plain GET is no route there).
            {"location": "/agent/api/v1/agent/messages/stream", "type": "proxy",
             "service": "aitbc-agent-coordinator", "path": "/api/v1/agent/messages/stream",
             "websocket": True, "expect": 404},
            {"location": "/agent/api/v1/agent/presence/stream", "type": "proxy",
             "service": "aitbc-agent-coordinator", "path": "/api/v1/agent/presence/stream",
             "websocket": True, "expect": 404},
            # The API gateway, at its own root.
            {"location": "/api/", "type": "proxy", "service": "aitbc-api-gateway", "path": "/",
             "probe": "/api/health", "rate_limit": "api"},
            # The chain's RPC, WebSocket upgrades included (a follower's subscription on
            # /rpc/subscribe/ws, block and transaction streams): what followers sync from.
            {"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc",
             "websocket": True, "probe": "/rpc/head", "rate_limit": "rpc"},
            # The coordinator API, at its own root (upstream's "legacy failover").
            {"location": "/c/", "type": "proxy", "service": "aitbc-coordinator-api", "path": "/",
             "probe": "/c/health", "rate_limit": "api"},
            {"location": "/v1/exchange/", "type": "proxy", "service": "aitbc-wallet",
             "probe": "/v1/exchange/status", "rate_limit": "api"},
            {"location": "/explorer-api/", "type": "proxy", "service": "aitbc-blockchain-explorer",
             "path": "/", "probe": "/explorer-api/health", "rate_limit": "api"},
            {"location": "/v1/marketplace/", "type": "proxy", "service": "aitbc-marketplace",
             "probe": "/v1/marketplace/status", "rate_limit": "api"},
            {"location": "/v1/bridge/", "type": "proxy", "service": "aitbc-exchange",
             "probe": "/v1/bridge/status", "rate_limit": "api"},
        ],
    },
]

# SSH for the operator and the deploy, HTTP for everyone (followers sync through /rpc/).
firewall = {
    "open": [
        {"port": 22, "name": "ssh", "allow": ["any"]},
        {"port": 80, "name": "http", "allow": ["any"]},
    ],
}
