"""What the hub and the follower both run of upstream's tree (c27c654), written once for
group_data/hub.py and group_data/follower.py, which take these values and add their own.

Upstream deploys one checkout at /opt/aitbc with one venv, every unit running as `aitbc` with
PYTHONPATH set to the checkout's root (the root package `aitbc`) and app `src/` directories
(its unit files in apps/*/ and scripts/). Here that is two apps per host, each a release of
the whole tree (`"."`) with its own venv from the central requirements.txt:
- `blockchain-node` (user aitbc-chain): the chain's processes. It writes the chain database,
  so a release restarts it in place, never beside itself (`side_by_side: false`).
- `aitbc` (user aitbc): every other service, as upstream runs them, one venv for all: the
  requirements file is one list (168 pins), so a venv per service would be the same venv many
  times over.
Each app leaves out of its release what none of its services runs (`exclude`), so the
release is small and a change elsewhere in the tree is no new release of it.
"""

# Never run by a service: documentation, tests, tools, web content (served by nginx from its
# own copy), the ZK circuits and their artefacts (19 MB in two copies, among them
# pot12_final.ptau, which the stored mirror lacks: scripts/zk/build-circuits.sh alone reads
# them), and the tree's absolute symlinks into /opt/aitbc (health-check.sh,
# scripts/aitbc-miner; website/ and docs/ hold the other two). A pattern with `/` is anchored
# at the tree's root; one without names that name at any depth (excludes.py).
_NOT_RUN = [
    "docs/**", "tests", "website/**", "contracts/**", "cli/**", "dev/**", "examples/**",
    "plugins/**", "skills/**", "specs/**", ".gitea/**", ".github/**", ".devin/**",
    "zk-circuits", "*.ptau", "node_modules", "health-check.sh", "scripts/aitbc-miner",
    "requirements-optional/**", "packages/web/**", "packages/theme-provider/**",
    "packages/pnpm-*", "poetry.lock", "conftest.py", ".secrets.baseline",
]

# The operators' scripts, the largest of them: no service imports or runs one (the monitoring
# service's sources, under scripts/monitoring/, stay).
_SCRIPTS = [
    "scripts/*.py", "scripts/*.sh", "scripts/deployment/**", "scripts/utils/**",
    "scripts/workflow/**", "scripts/workflow-agent/**", "scripts/plan/**", "scripts/testing/**",
]

# Apps no service of this example runs (GPU, outside services, the shop role: README.md).
_NOT_DEPLOYED = [
    "apps/ai-engine/**", "apps/archive/**", "apps/edge/**", "apps/ffmpeg/**", "apps/gpu/**",
    "apps/ipfs/**", "apps/memory/**", "apps/miner/**", "apps/pool-hub/**", "apps/whisper/**",
    "apps/shared-core/**", "apps/shared-domain/**",
]

# The hub's services beyond the base set every node runs.
_HUB_ONLY = [
    "apps/coordinator-api/**", "apps/api-gateway/**", "apps/exchange/**", "apps/marketplace/**",
    "apps/blockchain-event-bridge/**", "apps/agent-coordinator/**", "apps/bridge-monitor/**",
]
_BASE = ["apps/blockchain-explorer/**", "apps/wallet/**", "apps/trading/**",
         "apps/governance/**"]

# The chain's release: the root package, the node's sources and the central requirements.
CHAIN_EXCLUDE = [*_NOT_RUN, *_NOT_DEPLOYED, *_HUB_ONLY, *_BASE, "scripts/**",
                 "packages/py/**"]
# The services' releases: on the hub the chain node's sources stay (its event bridge imports
# aitbc_chain); none of the follower's base services imports them (nor do upstream's units put
# them on those services' PYTHONPATH).
HUB_SERVICES_EXCLUDE = [*_NOT_RUN, *_NOT_DEPLOYED, *_SCRIPTS]
FOLLOWER_SERVICES_EXCLUDE = [*_NOT_RUN, *_NOT_DEPLOYED, *_SCRIPTS, *_HUB_ONLY,
                             "apps/blockchain-node/**"]

# Upstream's requirements.txt, as `poetry export` writes it: 168 pins for CPython
# >=3.13.5, and its own library as `-e file:///opt/aitbc/packages/aitbc-shared` (the host's
# editable_root reads it as packages/aitbc-shared, built into each release as a wheel).
_REQUIREMENTS = ["requirements.txt"]

CHAIN_APP = {
    "name": "blockchain-node",
    "trees": ["."],
    "exclude": CHAIN_EXCLUDE,
    # Upstream's units: PYTHONPATH=/opt/aitbc:/opt/aitbc/apps/blockchain-node/src.
    "import_roots": [".", "apps/blockchain-node/src"],
    "requirement_files": _REQUIREMENTS,
    "user": "aitbc-chain",
    "root": "/opt/aitbc-chain",
    # The chain's settings (CHAIN_ID, BLOCK_TIME_SECONDS) under the names the node reads; the
    # peers (a follower's hub) as DEFAULT_PEER_RPC_URL, the hub's base URL without /rpc (the
    # node appends /rpc/...), and the sync interval as the follower's periodic pull.
    "chain": True,
    "env_names": {"peers": "DEFAULT_PEER_RPC_URL", "sync_interval_seconds": "PERIODIC_SYNC_INTERVAL"},
    # DEFAULT_PEER_RPC_URL is one URL, not a list: with a single peer the comma format writes
    # it bare. No `cors`: the node decodes CORS_ORIGINS as JSON, which this format cannot give
    # (its default, localhost:3000, stays; nginx is what browsers reach).
    "list_format": "comma",
    # It writes the chain database: never two at once (no candidate).
    "side_by_side": False,
    "env": {
        # No Redis here yet (README.md): gossip between the processes stays in each process,
        # and so does the mempool (upstream's is PostgreSQL when MEMPOOL_DB_URL is set).
        "GOSSIP_BACKEND": "memory",
        "MEMPOOL_BACKEND": "memory",
    },
}


def chain_app(mode: str, **env) -> dict:
    """CHAIN_APP on a node in `mode` (upstream's BLOCKCHAIN_MODE: hub or follower), which is
    also its NODE_ID, with `env` besides."""
    return {**CHAIN_APP, "env": {**CHAIN_APP["env"], "BLOCKCHAIN_MODE": mode, "NODE_ID": mode, **env}}


# The chain's init_db (create_all) checks for each table, then creates it: processes opening a
# fresh database at once race to create the same table, and all but one exit. Created once,
# before any of them starts, as for the February tree's nodes.
SCHEMA_STEP = {
    "unit": "aitbc-blockchain-schema",
    "description": "AITBC blockchain database schema",
    "command": '-c "from aitbc_chain.database import init_db; init_db()"',
    "workdir": ".",
    "oneshot": True,
}

# apps/blockchain-node/aitbc-blockchain-rpc.service: uvicorn aitbc_chain.app:app on
# 127.0.0.1:8202, one worker, from the checkout's root.
RPC = {
    "unit": "aitbc-blockchain-rpc",
    "description": "AITBC blockchain RPC API",
    "asgi": "aitbc_chain.app:app",
    "workers": 1,
    "workdir": ".",
    "port": 8202,
    "after": ["aitbc-blockchain-schema"],
    "health": "/health",
}

SERVICES_APP = {
    "name": "aitbc",
    "trees": ["."],
    "requirement_files": _REQUIREMENTS,
    "user": "aitbc",
    "root": "/opt/aitbc",
    # Upstream's /var/lib/aitbc for this app's own files: AITBC_DATA_DIR is `data`, and the
    # services keep their SQLite databases in its `data/` (DATA_DIR/data/<service>.db, as
    # upstream does); `logs` is AITBC_LOG_DIR (the coordinator's audit log).
    # `bridge` is the wallet's view of /var/lib/aitbc (WALLET below).
    "data_dirs": ["data", "data/data", "data/bridge", "logs"],
    "cors": True,
    "env": {
        "AITBC_DATA_DIR": "{root}/data",
        "AITBC_LOG_DIR": "{root}/logs",
        # aitbc.auth's key store (upstream /var/lib/aitbc/api_keys.json), shared by every
        # service importing it (coordinator, marketplace, trading): one app, one data dir.
        "API_KEY_STORAGE_PATH": "{root}/data/api_keys.json",
        "BLOCKCHAIN_RPC_URL": "{url:aitbc-blockchain-rpc}",
    },
}

# Trading does not create its schema at its start: Alembic's, as upstream's
# scripts/deployment/run-migrations.sh upgrades it, run in each new release before it goes
# live. It reads the service's env (AITBC_DATA_DIR: the database the service opens) and runs
# where its alembic.ini is. (The coordinator's, the other, is left out: README.md.)
TRADING_MIGRATION = {"name": "migrate_trading", "command": ["-m", "alembic", "upgrade", "head"],
                     "service": "aitbc-trading", "workdir": "apps/trading"}

# Each base service's database, snapshotted before a release of the app goes live.
BASE_DATA = [
    {"name": "trading", "kind": "sqlite", "path": "{root}/data/data/trading_service.db"},
    {"name": "governance", "kind": "sqlite", "path": "{root}/data/data/governance_service.db"},
    {"name": "wallet-ledger", "kind": "sqlite", "path": "{root}/data/data/wallet_ledger.db"},
    # The wallet's keystore (encrypted private keys), beside its ledger.
    {"name": "wallet-keystore", "kind": "sqlite", "path": "{root}/data/data/keystore.db"},
]

# The base services every node runs (setup.sh's get_services_for_role: base), each as its
# unit runs it. Every one binds loopback: nginx is what the world reaches.
EXPLORER = {
    # apps/blockchain-explorer/main.py, a script importing its neighbours (chain_client,
    # routers): run from its directory, whence uvicorn imports them as the script would.
    "unit": "aitbc-blockchain-explorer",
    "description": "AITBC blockchain explorer API",
    "asgi": "main:app",
    "workdir": "apps/blockchain-explorer",
    "port": 8100,
    "health": "/health",
}
WALLET = {
    # Its keystore must lie under its working directory (or /var/lib/aitbc): it runs in the
    # data directory holding it, not in the tree as upstream's unit (WorkingDirectory=/opt/aitbc).
    "unit": "aitbc-wallet",
    "description": "AITBC wallet daemon",
    "asgi": "wallet_app.main:app",
    "workdir": "data",
    "port": 8108,
    "health": "/health",
    "env": {"WALLET_DIR": "{root}/data/wallets"},
    # Its bridge database is /var/lib/aitbc/bridge_deposits.db, hard-coded
    # (wallet_app/bridge/bridge_db.py), and its start fails without it. /var/lib/aitbc is the
    # deployer's own directory on the host: the wallet alone sees its data dir there.
    "bind_paths": {"/var/lib/aitbc": "data/bridge"},
}
TRADING = {
    "unit": "aitbc-trading",
    "description": "AITBC trading service",
    "asgi": "trading_service.main:app",
    "workdir": "apps/trading",
    "port": 8104,
    "health": "/health",
}
GOVERNANCE = {
    "unit": "aitbc-governance",
    "description": "AITBC governance service",
    "asgi": "governance_service.main:app",
    "workdir": "apps/governance",
    "port": 8105,
    "health": "/health",
}
MONITORING = {
    # scripts/monitoring/aitbc-monitoring.service, without its LOG_DIR=/var/log/aitbc: with it
    # the service writes a log file of its own; here it logs to the journal as the others do.
    "unit": "aitbc-monitoring",
    "description": "AITBC monitoring service",
    "asgi": "monitoring_service.main:app",
    "workdir": ".",
    "port": 8002,
    "health": "/health",
}

# The import roots of the base services (their units' PYTHONPATH, joined): the root package,
# each app's src/, and the local libraries upstream puts on PYTHONPATH or installs editable
# (update.sh: packages/py/*; the coordinator and trading import aitbc_agent_core).
BASE_IMPORT_ROOTS = [
    ".", "apps/wallet/src", "apps/trading/src", "apps/governance/src",
    "scripts/monitoring/examples/monitoring-service/src", "packages/py/aitbc-sdk/src",
    "packages/py/aitbc-crypto/src", "packages/py/aitbc-agent-core/src",
]

# What each host installs, and its users: the two apps', each at home in its app's root.
PACKAGES = ["nginx", "firehol", "iptables", "python3"]
USERS = [{"name": app["user"], "home": app["root"]} for app in (CHAIN_APP, SERVICES_APP)]
