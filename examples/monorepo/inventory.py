"""The production sites, with one app of today's monorepo layout added to the aitbc container.

Upstream AITBC is one checkout since 2026 (c27c654): a root package the apps import through
PYTHONPATH, app projects without dependencies, one central requirements file whose local
libraries are editable lines written for the checkout at /opt/aitbc. The payload reproduces
that in miniature (payload/README.md, "Monorepo shapes"); group_data/aitbc_container.py beside
this file adds its API gateway to the production apps, which keep deploying the February
layout unchanged. `aitbc-infra sandbox deploy --inventory examples/monorepo/inventory.py`
deploys it into the sandbox (the same four machines); tests/sandbox/test_monorepo.py does.
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

validate_inventory(__file__)
