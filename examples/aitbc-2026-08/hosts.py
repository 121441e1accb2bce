"""The island's two hosts, addresses from a documentation range: laid out by inventory.py beside
this file and by examples/hub-follower/inventory.py, the payload's twin of this example."""

HUB = [
    ("hub", {"ssh_hostname": "198.51.100.10", "public_address": "198.51.100.10"}),
]
FOLLOWER = [
    ("follower", {"ssh_hostname": "198.51.100.20", "public_address": "198.51.100.20"}),
]
