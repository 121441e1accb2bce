"""Production inventory: the hosts of the AITBC infrastructure document, one group per role.

Only connection facts and addresses live here; everything else is in group_data/.
This file is rendered and checked offline in tests: nothing here connects by itself.
"""

from aitbc_infra.loader import validate_inventory

# at1 is "localhost" in the document: run pyinfra on at1 itself ("local") or reach it over SSH.
AT1_CONNECTION = "ssh"

_at1_data = {
    "node": "at1",
    "public_address": "127.0.0.1",  # the document calls at1 "localhost"
    "bridge_address": "10.1.223.1",  # incusbr gateway; the container reaches the mock coordinator here
}

incus_host = [
    ("@local", _at1_data)
    if AT1_CONNECTION == "local"
    else ("at1", {**_at1_data, "ssh_hostname": "localhost"}),
]

aitbc_container = [
    # `ssh aitbc-cascade` in the document: the container's own sshd, reached from at1.
    ("aitbc", {"ssh_hostname": "10.1.223.93", "bridge_address": "10.1.223.93"}),
]

ns3_host = [
    ("ns3-root", {
        "ssh_hostname": "95.216.198.140",
        "public_address": "95.216.198.140",
        "bridge_address": "192.168.100.1",
        "wan_interface": "eth0",
        "bridge_interface": "incusbr0",
    }),
]

ns3_container = [
    # No public SSH: the operator's ~/.ssh/config reaches 192.168.100.10 with ProxyJump ns3-root.
    ("ns3-aitbc", {"ssh_hostname": "192.168.100.10", "bridge_address": "192.168.100.10"}),
]

# Validate the whole model before pyinfra opens a single connection.
validate_inventory(__file__)
