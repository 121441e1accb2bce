"""The production inventory's two sites, each with a pool hub container on Debian 13: an app on
PostgreSQL (its database and role from the data, the role's password a secret of each site)
and Redis, both on the container's loopback only.

The containers sit on their site's bridge beside the production container, reached through the
site's host (ProxyJump) as it is; nothing of the production hosts' data changes. Their group's
data is in group_data/ beside this file. `aitbc-infra sandbox deploy --inventory
examples/pool-hub/inventory.py` boots the two on a Debian 13 image beside the running four and
deploys all six.
"""

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import inventory_groups, validate_inventory

# The production sites, as inventory.py declares them.
_production = inventory_groups(PROJECT_ROOT / "inventory.py")
incus_host = _production["incus_host"]
aitbc_container = _production["aitbc_container"]
ns3_host = _production["ns3_host"]
ns3_container = _production["ns3_container"]

# A pool hub at each site: one at1's, one ns3's (its secrets are its site's).
pool_container = [
    ("at1-pool", {"ssh_hostname": "10.1.223.95", "bridge_address": "10.1.223.95"}),
    ("ns3-pool", {"ssh_hostname": "192.168.100.12", "bridge_address": "192.168.100.12"}),
]

validate_inventory(__file__)
