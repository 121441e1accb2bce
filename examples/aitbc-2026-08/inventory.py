"""Upstream AITBC as its `main` runs it in August 2026 (commit c27c654): a hub and a follower.

The tree is one checkout, deployed from AITBC_SRC (an export of that commit: README.md beside
this file says how to make one). The hub produces the chain and runs the coordinator and the
services around it; the follower keeps a copy of the chain, synced from the hub's public RPC,
and runs the base services every upstream node runs. Each is a Debian 13 host of its own,
nginx in front of its services, as upstream's units and docs describe them (its unit files
in apps/*/ and scripts/, `scripts/deployment/setup.sh`, `docs/getting-started/`).

The groups' data is in group_data/ beside this file (pyinfra reads it after the project's
group_data/, whose hosts this inventory does not use); upstream_apps.py holds what both hosts
run. Addresses are from a documentation range; `aitbc-infra sandbox deploy --inventory
examples/aitbc-2026-08/inventory.py` lays the two hosts out on the sandbox's wan.
"""

import runpy
from pathlib import Path

from aitbc_infra.loader import validate_inventory

# hosts.py: written once for this example and its payload twin (examples/hub-follower/).
# Names with a leading underscore are no group to pyinfra.
_hosts = runpy.run_path(str(Path(__file__).with_name("hosts.py")))
hub = _hosts["HUB"]
follower = _hosts["FOLLOWER"]

validate_inventory(__file__)
