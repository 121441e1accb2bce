"""The payload's twin of examples/aitbc-2026-08: upstream AITBC c27c654's hub and follower, each
a Debian 13 host behind its own nginx on plain HTTP, running the payload's miniatures of
upstream's shapes instead of the real tree (AITBC_SRC unset: payload/ is the source).

The hub produces the chain into a shared directory beside its generated genesis file, runs a
services app of the monorepo shapes reading that directory, gated by a migration step, and the
pool hub on PostgreSQL and Redis; the follower copies the hub's chain through the hub's public
RPC, by its node and by a sync timer. README.md beside this file says what is whose;
group_data/ holds the groups' data, twin_apps.py what both group files take.
`aitbc-infra sandbox deploy --inventory examples/hub-follower/inventory.py` lays the two hosts
out on the sandbox's wan; tests/sandbox/test_hub_follower.py does.
"""

import runpy

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import validate_inventory

# The hosts of examples/aitbc-2026-08/, read from where that example writes them. Names with a
# leading underscore are no group to pyinfra.
_hosts = runpy.run_path(str(PROJECT_ROOT / "examples" / "aitbc-2026-08" / "hosts.py"))
hub = _hosts["HUB"]
follower = _hosts["FOLLOWER"]

validate_inventory(__file__)
