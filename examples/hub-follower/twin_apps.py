"""What the hub and the follower of the twin both run (read by group_data/hub.py and
group_data/follower.py): upstream's chain app and its processes as examples/aitbc-2026-08/
upstream_apps.py declares them, fitted to the payload, and what each release leaves out.

The apps are that example's: the chain app a release of the whole tree (`"."`) from the
central requirements.txt, importing through upstream's import roots, its peer under upstream's
name DEFAULT_PEER_RPC_URL (`env_names`, `list_format: comma`), restarted in place
(`side_by_side: false`); the same unit names and ports. Only what the payload is not has
changed: its paths to leave out, the chain node's one dependency the central list lacks, the
chain database's place (the payload reads DB_PATH; upstream's code hard-codes that directory).
"""

import runpy

from aitbc_infra import PROJECT_ROOT

_EXAMPLE = PROJECT_ROOT / "examples" / "aitbc-2026-08"
UPSTREAM = runpy.run_path(str(_EXAMPLE / "upstream_apps.py"))
# That example's shared facts: its sites, the chain's shared directory and genesis file.
UPSTREAM_ALL = runpy.run_path(str(_EXAMPLE / "group_data" / "all.py"))
UPSTREAM_HUB = runpy.run_path(str(_EXAMPLE / "group_data" / "hub.py"))
UPSTREAM_FOLLOWER = runpy.run_path(str(_EXAMPLE / "group_data" / "follower.py"))

# /var/lib/aitbc/data/<chain_id>/: the chain app writes it, the hub's services app reads it.
CHAIN_DIR = UPSTREAM_ALL["shared_dirs"][0]["path"]

# The payload's apps (payload/apps/), each left out of the releases that run none of it.
_APPS = ["apps/api-gateway", "apps/blockchain-node", "apps/coordinator-api", "apps/explorer-web",
         "apps/marketplace-web", "apps/pool-hub", "apps/trade-exchange", "apps/wallet-daemon"]
# Never run from a release: the libraries (installed as wheels from the editable line), the
# miner, the web content, the files only a build or a reader reads.
_NOT_RUN = ["cli", "packages", "website", ".gitignore", "*.md", "*.toml", "*.txt"]


def _apps_but(*kept: str) -> list[str]:
    return [app for app in _APPS if app not in kept]


# The chain's release: the root package and the node's sources (not its scripts/).
CHAIN_EXCLUDE = [*_apps_but("apps/blockchain-node"), *_NOT_RUN, "apps/blockchain-node/scripts"]
# The services' release: the gateway, and the exchange's migration with the module it imports.
SERVICES_EXCLUDE = [*_apps_but("apps/api-gateway", "apps/trade-exchange"), *_NOT_RUN,
                    "apps/trade-exchange/server.py", "apps/trade-exchange/*_api.py",
                    "apps/trade-exchange/index.html"]

CHAIN_APP = {
    **UPSTREAM["CHAIN_APP"],
    "exclude": CHAIN_EXCLUDE,
    # The payload's node reads its settings with pydantic-settings, which the central list
    # (uvicorn and the editable aitbc-crypto) does not name: pinned by the host's constraints.
    "requirements": ["pydantic-settings"],
    # Upstream's node keeps its gossip and mempool backends here; the payload's has none.
    "env": {"DB_PATH": f"{CHAIN_DIR}/chain.db"},
}

SCHEMA_STEP = UPSTREAM["SCHEMA_STEP"]

# apps/blockchain-node/aitbc-blockchain-node.service: the hub's proposer (which the 2026-08
# example leaves out until Redis: the payload's needs none), or a follower's copier.
NODE = {
    "unit": "aitbc-blockchain-node",
    "description": "AITBC blockchain node",
    "command": "-m aitbc_chain.main",
    "workdir": ".",
    "after": [SCHEMA_STEP["unit"]],
}

# The RPC on upstream's port, after the node; the payload's answers no /health: its head is
# its health (503 until the node has a block).
RPC = {**UPSTREAM["RPC"], "health": "/rpc/head", "after": [SCHEMA_STEP["unit"], NODE["unit"]]}
