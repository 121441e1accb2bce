"""The production inventory's two sites, each with a pool hub container on Debian 13: an app on
PostgreSQL (its database and role from the data, the role's password a secret of each site)
and Redis, both on the container's loopback only.

The containers sit on their site's bridge beside the production container, reached through the
site's host (ProxyJump) as it is; nothing of the production hosts' data changes. Their group's
data is in group_data/ beside this file. `aitbc-infra sandbox deploy --inventory
examples/pool-hub/inventory.py` boots the two on a Debian 13 image beside the running four and
deploys all six.
"""

from aitbc_infra.loader import validate_inventory

# The production sites, as in inventory.py.
incus_host = [
    ("at1", {"node": "at1", "ssh_hostname": "localhost", "public_address": "127.0.0.1",
             "bridge_address": "10.1.223.1"}),
]
aitbc_container = [
    ("aitbc", {"ssh_hostname": "10.1.223.93", "bridge_address": "10.1.223.93"}),
]
ns3_host = [
    ("ns3-root", {"ssh_hostname": "95.216.198.140", "public_address": "95.216.198.140",
                  "bridge_address": "192.168.100.1", "wan_interface": "eth0",
                  "bridge_interface": "incusbr0"}),
]
ns3_container = [
    ("ns3-aitbc", {"ssh_hostname": "192.168.100.10", "bridge_address": "192.168.100.10"}),
]

# A pool hub at each site: one at1's, one ns3's (its secrets are its site's).
pool_container = [
    ("at1-pool", {"ssh_hostname": "10.1.223.95", "bridge_address": "10.1.223.95"}),
    ("ns3-pool", {"ssh_hostname": "192.168.100.12", "bridge_address": "192.168.100.12"}),
]

validate_inventory(__file__)
