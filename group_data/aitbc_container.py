"""The aitbc container (10.1.223.93): nginx routing 18 locations, the web root and the apps.

Users, unit names of the blockchain RPC processes, the trade exchange and wallet directories
are not in the document: each is our decision, made once here.
"""

packages = ["nginx", "python3-venv", "sqlite3"]

users = [
    {"name": "aitbc-coordinator", "home": "/opt/coordinator-api"},
    {"name": "aitbc-chain", "home": "/opt/blockchain-node"},
    {"name": "aitbc-chain2", "home": "/opt/blockchain-node-2"},
    {"name": "aitbc-wallet", "home": "/opt/wallet-daemon"},
    {"name": "aitbc-trade", "home": "/opt/trade-exchange"},
    {"name": "aitbc-exchange", "home": "/opt/exchange"},
]

apps = [
    {
        "name": "coordinator-api",
        "packages": ["coordinator-api"],
        "user": "aitbc-coordinator",
        "root": "/opt/coordinator-api",
        "data_dirs": ["src"],  # src/coordinator.db
        "cors": True,
        "secrets": ["JWT_SECRET", "DATABASE_URL", "ADMIN_API_KEYS"],
        "auth": {"header": "X-Api-Key", "protected": ["/v1/admin/"]},
        "services": [
            {
                "unit": "coordinator-api",
                "description": "AITBC coordinator API",
                "asgi": "app.main:app",
                "port": 8000,
                "health": "/v1/health",
            },
        ],
    },
    {
        "name": "blockchain-node",
        "packages": ["blockchain-node"],
        "user": "aitbc-chain",
        "root": "/opt/blockchain-node",
        "data_dirs": ["data"],
        "cors": True,
        "env": {"DB_PATH": "{root}/data/chain.db", "PROPOSER_ID": "node-1"},
        # Node 1 follows node 3 through ns3's public RPC front.
        "peers": ["aitbc.keisanki.net"],
        "services": [
            {
                "unit": "aitbc-blockchain-node-1",
                "description": "AITBC blockchain node 1 (PoA proposer)",
                "command": "-m aitbc_chain.main",
            },
            {
                "unit": "aitbc-blockchain-rpc-1",
                "description": "AITBC blockchain node 1 RPC",
                # One worker only: the proposer must stay single.
                "asgi": "aitbc_chain.app:app",
                "workers": 1,
                "port": 8081,
                "after": ["aitbc-blockchain-node-1"],
                "health": "/rpc/head",
            },
        ],
    },
    {
        "name": "blockchain-node-2",
        "packages": ["blockchain-node"],
        "user": "aitbc-chain2",
        "root": "/opt/blockchain-node-2",
        "data_dirs": ["data"],
        "cors": True,
        "env": {"DB_PATH": "{root}/data/chain2.db", "PROPOSER_ID": "node-2"},
        "peers": ["aitbc-blockchain-rpc-1"],
        "services": [
            {
                "unit": "aitbc-blockchain-node-2",
                "description": "AITBC blockchain node 2 (PoA proposer)",
                "command": "-m aitbc_chain.main",
            },
            {
                "unit": "aitbc-blockchain-rpc-2",
                "description": "AITBC blockchain node 2 RPC",
                # The document gives node 2 no port: 8082, the RPC port node 3 uses at ns3.
                "asgi": "aitbc_chain.app:app",
                "workers": 1,
                "port": 8082,
                "after": ["aitbc-blockchain-node-2"],
                "health": "/rpc/head",
            },
        ],
    },
    {
        "name": "wallet-daemon",
        "packages": ["wallet-daemon"],
        "user": "aitbc-wallet",
        "root": "/opt/wallet-daemon",
        "data_dirs": ["data"],
        "services": [
            {
                "unit": "aitbc-wallet-daemon",
                "description": "AITBC wallet daemon",
                "asgi": "wallet_daemon.app:app",
                "port": 8002,
                "health": "/wallet/health",
            },
        ],
    },
    {
        "name": "trade-exchange",
        "packages": ["trade-exchange"],
        "user": "aitbc-trade",
        "root": "/opt/trade-exchange",
        "services": [
            {
                "unit": "aitbc-trade-exchange",
                "description": "AITBC trade exchange (server.py)",
                "command": "-m trade_exchange.server --host {host} --port {port}",
                "port": 3002,
                "health": "/Exchange/health",
            },
        ],
    },
    {
        "name": "exchange",
        "packages": ["exchange-api"],
        "user": "aitbc-exchange",
        "root": "/opt/exchange",
        "data_dirs": ["data"],
        "cors": True,
        "secrets": ["SESSION_SECRET", "WALLET_ENCRYPTION_KEY"],
        "auth": {"session": "wallet address login", "expiry_hours": 24},
        "services": [
            {
                "unit": "aitbc-exchange-api",
                "description": "AITBC exchange API",
                "asgi": "exchange_api.main:app",
                "port": 8085,
                "health": "/health",
            },
        ],
    },
]

# Built front-ends and static pages copied into the site's root (paths relative to it).
web_content = [
    {"source": "website", "path": ""},
    {"source": "explorer-web/dist", "path": "explorer/"},
    {"source": "marketplace-web/dist", "path": "marketplace/"},
]

nginx_sites = [
    {
        "config_name": "aitbc.bubuit.net",
        "server_name": "aitbc.bubuit.net",
        "listen": 80,
        "root": "/var/www/aitbc.bubuit.net",
        "error_page_404": "/404.html",
        # The document's route table, row by row.
        "routes": [
            {"location": "/", "type": "static"},
            {"location": "/explorer/", "type": "spa"},
            {"location": "/marketplace/", "type": "spa"},
            {"location": "/docs/", "type": "alias", "path": "docs/"},
            {"location": "/Exchange", "type": "proxy", "service": "aitbc-trade-exchange"},
            {"location": "/exchange", "match": "exact", "type": "redirect", "to": "/Exchange"},
            {"location": "/api/", "type": "proxy", "service": "coordinator-api", "path": "/v1/"},
            {"location": "/api/explorer/", "type": "proxy", "service": "coordinator-api",
             "path": "/v1/explorer/"},
            {"location": "/api/users/", "type": "proxy", "service": "coordinator-api",
             "path": "/v1/users/"},
            {"location": "/api/trades/recent", "type": "proxy", "service": "aitbc-exchange-api"},
            {"location": "/api/orders/orderbook", "type": "proxy", "service": "aitbc-exchange-api"},
            {"location": "/admin/", "type": "proxy", "service": "coordinator-api",
             "path": "/v1/admin/"},
            {"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc-1"},
            {"location": "/wallet/", "type": "proxy", "service": "aitbc-wallet-daemon"},
            {"location": "/v1/", "type": "proxy", "node": "at1", "service": "aitbc-mock-coordinator"},
            {"location": "/health", "match": "exact", "type": "status", "status": 200, "body": "OK"},
            {"location": "/Marketplace", "match": "exact", "type": "redirect", "to": "/marketplace/"},
            {"location": "/BrowserWallet", "match": "exact", "type": "redirect",
             "to": "/docs/browser-wallet.html"},
        ],
    },
]
