"""The hub: the chain's proposer writing the shared chain directory, a services app of the
monorepo shapes reading it, gated by a migration step, and the pool hub on PostgreSQL and
Redis, behind nginx at http://hub.aitbc.bubuit.net/.

Each piece is an existing example's, taken from it: the chain app from twin_apps.py
(examples/aitbc-2026-08's, fitted to the payload), the services app from aitbc-2026-08's
SERVICES_APP with examples/monorepo's gateway as its service, the pool hub with its database
and Redis from examples/pool-hub, the site and firewall from aitbc-2026-08's hub.
"""

import runpy

from aitbc_infra import PROJECT_ROOT

# Dunder names are not group data (pyinfra leaves them out).
__examples = PROJECT_ROOT / "examples"
__twin = runpy.run_path(str(__examples / "hub-follower" / "twin_apps.py"))
__upstream_hub = __twin["UPSTREAM_HUB"]
__pool = runpy.run_path(str(__examples / "pool-hub" / "group_data" / "pool_container.py"))
__monorepo = runpy.run_path(str(__examples / "monorepo" / "group_data" / "aitbc_container.py"))
__gateway = next(a for a in __monorepo["apps"] if a["name"] == "api-gateway")

packages = [*__upstream_hub["packages"], *__pool["packages"]]
users = [*__upstream_hub["users"], *__pool["users"]]
postgresql = __pool["postgresql"]
redis = __pool["redis"]

apps = [
    {
        **__twin["CHAIN_APP"],
        "env": {**__twin["CHAIN_APP"]["env"], "BLOCKCHAIN_MODE": "hub", "PROPOSER_ID": "hub"},
        # The proposer starts the chain from the genesis file (block 0 as it gives it).
        "services": [__twin["SCHEMA_STEP"], __twin["NODE"], __twin["RPC"]],
    },
    {
        **__twin["UPSTREAM"]["SERVICES_APP"],
        "exclude": __twin["SERVICES_EXCLUDE"],
        "import_roots": __gateway["import_roots"],
        "env": {
            **__twin["UPSTREAM"]["SERVICES_APP"]["env"],
            # The gateway reads the chain where the chain app writes it (all.py: the shared
            # directory names this app among its readers), as upstream's coordinator does.
            "AITBC_CHAIN_DIR": __twin["CHAIN_DIR"],
            # The database the migration step brings up to date (migrate.py reads this).
            "DATABASE_URL": "sqlite:///{root}/data/data/exchange.db",
        },
        "services": __gateway["services"],
        # Upstream's services app would run its coordinator's `alembic upgrade head` here
        # (examples/aitbc-2026-08/README.md); the payload's migration is the exchange's. It
        # runs in each new release, before the gateway of that release goes live.
        "steps": [{"name": "migrate", "command": ["migrate.py"], "workdir": "apps/trade-exchange",
                   "timeout_seconds": 60}],
    },
    *__pool["apps"],
]

# aitbc-2026-08's hub site (its name, port, routes), with the routes of the services here: the
# chain's RPC, the gateway at its own root, and the pool hub at its own.
__site = __upstream_hub["nginx_sites"][0]
nginx_sites = [
    {
        "config_name": __site["config_name"],
        "server_name": __site["server_name"],
        "listen": __site["listen"],
        "routes": [
            *(r for r in __site["routes"] if r["location"] in ("/rpc/", "/api/")),
            {"location": "/pool/", "type": "proxy", "service": "aitbc-pool-hub", "path": "/",
             "probe": "/pool/health", "rate_limit": "api"},
        ],
    },
]

firewall = __upstream_hub["firewall"]
