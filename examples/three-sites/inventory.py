"""Three sites: the production inventory's two, plus a third (ns4) added by data alone.

ns4 is shaped like ns3: a host whose firehol forwards the node's RPC port to its incus
container, where blockchain node 4 runs and follows node 1 through the public site. Its groups'
data is in group_data/ beside this file (pyinfra reads it after the project's group_data/).
Addresses are from documentation ranges; `aitbc-infra sandbox deploy --inventory
examples/three-sites/inventory.py` lays them out in the sandbox and deploys all three sites.
"""

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import inventory_groups, validate_inventory

# The production sites, as inventory.py declares them.
_production = inventory_groups(PROJECT_ROOT / "inventory.py")
incus_host = _production["incus_host"]
aitbc_container = _production["aitbc_container"]
ns3_host = _production["ns3_host"]
ns3_container = _production["ns3_container"]

# The third site.
ns4_host = [
    ("ns4-root", {"ssh_hostname": "203.0.113.40", "public_address": "203.0.113.40",
                  "bridge_address": "192.168.104.1", "wan_interface": "eth0",
                  "bridge_interface": "incusbr0"}),
]
ns4_container = [
    # Reached with ProxyJump ns4-root, as ns3's container is.
    ("ns4-aitbc", {"ssh_hostname": "192.168.104.10", "bridge_address": "192.168.104.10"}),
]

validate_inventory(__file__)
