"""The aitbc container (10.1.223.93): nginx routing 18 locations, the web root and the apps.

Users, unit names of the blockchain RPC processes, the trade exchange and wallet directories
are not in the document: each is our decision, made once here.
"""

packages = ["nginx", "sqlite3"]

users = [
    {"name": "aitbc-coordinator", "home": "/opt/coordinator-api"},
    {"name": "aitbc-chain", "home": "/opt/blockchain-node"},
    {"name": "aitbc-chain2", "home": "/opt/blockchain-node-2"},
    {"name": "aitbc-wallet", "home": "/opt/wallet-daemon"},
    {"name": "aitbc-trade", "home": "/opt/trade-exchange"},
    {"name": "aitbc-exchange", "home": "/opt/exchange"},
]

# Every path below is relative to the AITBC source tree (`app_sources`, or AITBC_SRC): the
# same data deploys the demo payload and a checkout of the real repository.
apps = [
    {
        "name": "coordinator-api",
        # A poetry project; its path dependency (packages/py/aitbc-crypto) is built with it.
        "packages": ["apps/coordinator-api"],
        # Imported by app/logging.py but not declared in its pyproject.
        "requirements": ["python-json-logger"],
        "user": "aitbc-coordinator",
        "root": "/opt/coordinator-api",
        "data_dirs": ["data"],
        "cors": True,
        # pydantic-settings: its database is `URL` (app/config.py's DatabaseConfig; nothing
        # reads DATABASE_URL), lists are JSON (list_format). A sqlite path is no secret; a
        # database URL with a password would move from env to secrets.
        "env": {"URL": "sqlite:///{root}/data/coordinator.db"},
        # Its jobs, receipts and users: snapshotted before each release goes live.
        "data": [{"name": "coordinator", "kind": "sqlite", "path": "{root}/data/coordinator.db"}],
        "secrets": ["JWT_SECRET"],
        "secret_lists": ["ADMIN_API_KEYS"],
        "auth": {"header": "X-Api-Key", "protected": ["/v1/admin/"]},
        "services": [
            {
                "unit": "coordinator-api",
                "description": "AITBC coordinator API",
                "asgi": "app.main:app",
                "port": 8000,
                "health": "/v1/health",
                # The explorer's transactions are the jobs table read back (no key needed):
                # a release that cannot read the existing database fails here.
                "data_probe": "/v1/explorer/transactions",
            },
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
        "env": {"DB_PATH": "{root}/data/chain.db", "PROPOSER_ID": "node-1"},
        # No `data`, for every chain node (here, node 2, node 3, at1's): the chain database is
        # the chain, held by its peers too, not state a release owns. Putting an older copy
        # back would rewind a proposer below heights its peers already hold and fork it; a node
        # that lost its database syncs from its peers. It also grows with every block and is
        # written every few seconds: a copy in each kept release would multiply it for nothing.
        # Node 1 follows node 3 through ns3's public RPC front.
        "peers": ["aitbc.keisanki.net"],
        # No sync_status: the tree's cross-site poller is not in git (24b3a37), so which heads a
        # node saw is not a promise of the apps; verify checks only what is declared.
        "services": [
            {
                # The tree's init_db (SQLModel create_all) checks for a table, then creates it:
                # the node and its RPC opening a fresh database at once both create "block" and
                # one exits. Run once, before either starts.
                "unit": "aitbc-blockchain-schema-1",
                "description": "AITBC blockchain node 1 database schema",
                "command": '-c "from aitbc_chain.database import init_db; init_db()"',
                "oneshot": True,
            },
            {
                "unit": "aitbc-blockchain-node-1",
                "description": "AITBC blockchain node 1 (PoA proposer)",
                "command": "-m aitbc_chain.main",
                "after": ["aitbc-blockchain-schema-1"],
            },
            {
                "unit": "aitbc-blockchain-rpc-1",
                "description": "AITBC blockchain node 1 RPC",
                # One worker only: the proposer must stay single.
                "asgi": "aitbc_chain.app:app",
                "workers": 1,
                "port": 8081,
                "after": ["aitbc-blockchain-schema-1", "aitbc-blockchain-node-1"],
                "health": "/rpc/head",
            },
        ],
    },
    {
        "name": "blockchain-node-2",
        "packages": ["apps/blockchain-node"],
        "user": "aitbc-chain2",
        "root": "/opt/blockchain-node-2",
        "data_dirs": ["data"],
        "cors": True,
        "chain": True,
        # The node writes its chain database: never two at once (no candidate).
        "side_by_side": False,
        "env": {"DB_PATH": "{root}/data/chain2.db", "PROPOSER_ID": "node-2"},
        "peers": ["aitbc-blockchain-rpc-1"],
        "services": [
            {
                # The tree's init_db (SQLModel create_all) checks for a table, then creates it:
                # the node and its RPC opening a fresh database at once both create "block" and
                # one exits. Run once, before either starts.
                "unit": "aitbc-blockchain-schema-2",
                "description": "AITBC blockchain node 2 database schema",
                "command": '-c "from aitbc_chain.database import init_db; init_db()"',
                "oneshot": True,
            },
            {
                "unit": "aitbc-blockchain-node-2",
                "description": "AITBC blockchain node 2 (PoA proposer)",
                "command": "-m aitbc_chain.main",
                "after": ["aitbc-blockchain-schema-2"],
            },
            {
                "unit": "aitbc-blockchain-rpc-2",
                "description": "AITBC blockchain node 2 RPC",
                # The document gives node 2 no port: 8082, the RPC port node 3 uses at ns3.
                "asgi": "aitbc_chain.app:app",
                "workers": 1,
                "port": 8082,
                "after": ["aitbc-blockchain-schema-2", "aitbc-blockchain-node-2"],
                "health": "/rpc/head",
            },
        ],
    },
    {
        "name": "wallet-daemon",
        # No pyproject: it runs from its source directory and imports the SDK (and, by name,
        # the crypto library), both built from packages/py/. The rest is what it imports.
        "trees": ["apps/wallet-daemon"],
        "packages": ["packages/py/aitbc-sdk", "packages/py/aitbc-crypto"],
        "requirements": ["fastapi", "uvicorn", "pydantic-settings", "pynacl", "argon2-cffi"],
        "user": "aitbc-wallet",
        "root": "/opt/wallet-daemon",
        "data_dirs": ["data"],
        # COORDINATOR_BASE_URL (app/settings.py): its default, localhost:8011, is where no
        # coordinator listens; receipts are fetched from this container's coordinator API.
        "env": {"LEDGER_DB_PATH": "{root}/data/wallet_ledger.db",
                "COORDINATOR_BASE_URL": "{url:coordinator-api}"},
        # The wallets' ledger. No data probe: the daemon has no health path to ask after.
        "data": [{"name": "wallet-ledger", "kind": "sqlite",
                  "path": "{root}/data/wallet_ledger.db"}],
        "services": [
            {
                "unit": "aitbc-wallet-daemon",
                "description": "AITBC wallet daemon",
                "asgi": "app.main:app",
                "workdir": "apps/wallet-daemon/src",
                "port": 8002,
                # No health endpoint: the gate requires the unit to stay active.
            },
        ],
    },
    {
        "name": "trade-exchange",
        # The stdlib server.py serves a directory (--dir): the release's static files, its
        # page, never its source tree. It has no --host flag: systemd holds its socket, on
        # loopback, where this container's nginx reaches it.
        "trees": ["apps/trade-exchange"],
        "static_files": ["apps/trade-exchange/index.html"],
        "user": "aitbc-trade",
        "root": "/opt/trade-exchange",
        "services": [
            {
                "unit": "aitbc-trade-exchange",
                "description": "AITBC trade exchange (server.py)",
                "command": "server.py --port {port} --dir {static}",
                "workdir": "apps/trade-exchange",
                "port": 3002,
                "health": "/",
            },
        ],
    },
    {
        "name": "exchange",
        # The tree runs the stdlib simple_exchange_api.py (its exchange_api.py does not compile
        # at 24b3a37), whose port is only an argument of run_server() and whose database is
        # exchange.db in the working directory: it runs in its data dir, the module from the
        # release. requirements.txt (an older pydantic than the other apps) is installed too,
        # resolved and pinned on its own.
        "trees": ["apps/trade-exchange"],
        # Its flat modules import each other (`from database import ...`): the tree is the
        # units' PYTHONPATH, in the release.
        "import_roots": ["apps/trade-exchange"],
        "requirement_files": ["apps/trade-exchange/requirements.txt"],
        "constraints": "constraints/exchange-py311.txt",
        "user": "aitbc-exchange",
        "root": "/opt/exchange",
        "data_dirs": ["data"],
        "cors": True,
        "env": {"DATABASE_URL": "sqlite:///{root}/data/exchange.db"},
        # Trades and orders. A release of another schema once met this file and passed its
        # health path, then failed every read: the data probe below reads it before cutover.
        "data": [{"name": "exchange", "kind": "sqlite", "path": "{root}/data/exchange.db"}],
        "secrets": ["SESSION_SECRET", "WALLET_ENCRYPTION_KEY"],
        "auth": {"session": "wallet address login", "expiry_hours": 24},
        "services": [
            {
                "unit": "aitbc-exchange-api",
                "description": "AITBC exchange API",
                "command": '-c "import simple_exchange_api as api; api.run_server(port={port})"',
                "workdir": "data",
                "port": 8085,
                "health": "/api/health",
                "data_probe": "/api/trades/recent",
            },
        ],
    },
]

# Built front-ends and static pages copied into the site's root (paths relative to it).
web_content = [
    {"source": "website", "path": ""},
    {"source": "apps/explorer-web/dist", "path": "explorer/", "build": "apps/explorer-web"},
    {"source": "apps/marketplace-web/dist", "path": "marketplace/", "build": "apps/marketplace-web"},
]

nginx_sites = [
    {
        "config_name": "aitbc.bubuit.net",
        "server_name": "aitbc.bubuit.net",
        "listen": 80,
        "root": "/var/www/aitbc.bubuit.net",
        "error_page_404": "/404.html",
        # The document's route table, row by row. `probe` is what a user opens under a prefix
        # that has no page of its own; every route answers it 200 (a redirect 301) unless
        # `expect` says otherwise.
        "routes": [
            {"location": "/", "type": "static"},
            {"location": "/explorer/", "type": "spa"},
            {"location": "/marketplace/", "type": "spa"},
            {"location": "/docs/", "type": "alias", "path": "docs/"},
            # server.py serves its page at its own root: "/Exchange" is "/" there.
            {"location": "/Exchange", "type": "proxy", "service": "aitbc-trade-exchange",
             "strip_prefix": True},
            {"location": "/exchange", "match": "exact", "type": "redirect", "to": "/Exchange"},
            {"location": "/api/", "type": "proxy", "service": "coordinator-api", "path": "/v1/",
             "probe": "/api/health", "rate_limit": "api"},
            {"location": "/api/explorer/", "type": "proxy", "service": "coordinator-api",
             "path": "/v1/explorer/", "probe": "/api/explorer/blocks", "rate_limit": "api"},
            # The coordinator's users router declares its routes under /users/ again
            # (/v1/users/users/me, .../{id}/balance, .../{id}/transactions): nothing answers
            # /v1/users/ itself. A user's history answers without a session.
            {"location": "/api/users/", "type": "proxy", "service": "coordinator-api",
             "path": "/v1/users/", "probe": "/api/users/users/1/transactions", "rate_limit": "api"},
            {"location": "/api/trades/recent", "type": "proxy", "service": "aitbc-exchange-api",
             "rate_limit": "api"},
            {"location": "/api/orders/orderbook", "type": "proxy", "service": "aitbc-exchange-api",
             "rate_limit": "api"},
            # Only with an admin key (X-Api-Key): a user without one gets 401.
            {"location": "/admin/", "type": "proxy", "service": "coordinator-api",
             "path": "/v1/admin/", "probe": "/admin/stats", "expect": 401, "rate_limit": "admin"},
            {"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc-1",
             "probe": "/rpc/head", "rate_limit": "rpc"},
            # The next two pass their path on as it is, to apps that serve nothing under it:
            # the wallet daemon serves /v1/... and /rpc, the mock coordinator /health,
            # /attest/receipt and /metrics. What a user gets is the app's own 404 (not nginx's
            # page: a stopped app gets 502), and that is what is held.
            {"location": "/wallet/", "type": "proxy", "service": "aitbc-wallet-daemon",
             "expect": 404, "rate_limit": "api"},
            {"location": "/v1/", "type": "proxy", "node": "at1", "service": "aitbc-mock-coordinator",
             "probe": "/v1/health", "expect": 404, "rate_limit": "api"},
            {"location": "/health", "match": "exact", "type": "status", "status": 200, "body": "OK"},
            {"location": "/Marketplace", "match": "exact", "type": "redirect", "to": "/marketplace/"},
            {"location": "/BrowserWallet", "match": "exact", "type": "redirect",
             "to": "/docs/browser-wallet.html"},
        ],
    },
]

# How provision creates the container on at1 (its address: bridge_address in inventory.py).
# Image and limits are not in the document: Debian 12 like every host, and limits that leave
# at1 room for its own units, our decision. sshd and root's key are what the deploy needs.
container = {
    "host": "at1",
    "image": "images:debian/12",
    "limits": {"cpu": 2, "memory": "4GiB"},
    "autostart": True,
    "ssh": {"authorized_key": "~/.ssh/id_ed25519.pub"},
}
