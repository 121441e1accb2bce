"""The follower: a copy of the hub's chain, by its node (a pull every sync interval) and by
upstream's sync job on its timer, behind nginx at http://follower.aitbc.example/.

Its chain app is the hub's (twin_apps.py) in follower mode: its peer is the hub's public site,
given as DEFAULT_PEER_RPC_URL (the app's `env_names`, upstream's name), as
examples/aitbc-2026-08/group_data/follower.py gives it; packages, site and firewall are that
file's too.
"""

import runpy

from aitbc_infra import PROJECT_ROOT

# Dunder names are not group data (pyinfra leaves them out).
__twin = runpy.run_path(str(PROJECT_ROOT / "examples" / "hub-follower" / "twin_apps.py"))
__upstream_follower = __twin["UPSTREAM_FOLLOWER"]
__chain = __twin["CHAIN_APP"]

packages = __upstream_follower["packages"]
users = [u for u in __upstream_follower["users"] if u["name"] == __chain["user"]]

# The chain's directory, written by the chain app alone: no services app here reads it.
shared_dirs = [{**d, "readers": []} for d in __twin["UPSTREAM_ALL"]["shared_dirs"]]

apps = [
    {
        **__chain,
        "env": {**__chain["env"], "BLOCKCHAIN_MODE": "follower"},
        "peers": next(a["peers"] for a in __upstream_follower["apps"]
                      if a["name"] == __chain["name"]),
        "services": [
            __twin["SCHEMA_STEP"],
            {**__twin["NODE"], "description": "AITBC blockchain node (follower)"},
            # Its head is none until the first copy, which waits for the hub: the sync status
            # answers from the start.
            {**__twin["RPC"], "health": "/rpc/syncStatus"},
            {
                # Upstream's aitbc-blockchain-sync.service and .timer (every 300 s there): one
                # catch-up into the node's database, then exit. Every 10 s, so a test sees it run.
                "unit": "aitbc-blockchain-sync",
                "description": "AITBC blockchain sync (bulk catch-up)",
                "command": "-m aitbc_chain.sync_cli",
                "workdir": ".",
                "schedule": {"every_seconds": 10},
            },
        ],
    },
]

# aitbc-2026-08's follower site, with the routes of the services here: the chain's RPC, the
# status for load balancers.
nginx_sites = [
    {**site, "routes": [r for r in site["routes"] if r["location"] in ("/rpc/", "/health")]}
    for site in __upstream_follower["nginx_sites"]
]

firewall = __upstream_follower["firewall"]
