"""ns3-root: the remote site's host. firehol forwards four ports to its container.

What serves http://aitbc.keisanki.net/rpc/ is not in the document: our decision is nginx on
ns3-root proxying /rpc/ to node 3's RPC in the container, over HTTPS (an ACME certificate, as
at1's), plain HTTP only redirecting there.
"""

packages = ["nginx", "certbot", "firehol", "iptables"]

# The document's forwards stay, each open to the peer site only: "aitbc.bubuit.net" is the
# public address of the host serving it (at1). The coordinator (with its admin API) and the
# chain RPCs answer there in plain HTTP, past nginx: never to the world.
_peer_site = ["aitbc.bubuit.net"]

firewall = {
    "open": [
        {"port": 22, "name": "ssh", "allow": ["any"]},
        {"port": 80, "name": "http", "allow": ["any"]},
        {"port": 443, "name": "https", "allow": ["any"]},
    ],
    # "firehol (8000, 8081, 8082, 9080 → 192.168.100.10)"
    "forwards": [
        {"port": 8000, "node": "ns3-aitbc", "allow": _peer_site},
        {"port": 8081, "node": "ns3-aitbc", "allow": _peer_site},
        {"port": 8082, "node": "ns3-aitbc", "allow": _peer_site},
        {"port": 9080, "node": "ns3-aitbc", "allow": _peer_site},
    ],
}

nginx_sites = [
    {
        "config_name": "aitbc.keisanki.net",
        "server_name": "aitbc.keisanki.net",
        "tls": True,
        "routes": [
            {"location": "/rpc/", "type": "proxy", "node": "ns3-aitbc",
             "service": "aitbc-blockchain-rpc-3", "probe": "/rpc/head", "rate_limit": "rpc"},
            {"location": "/health", "match": "exact", "type": "status", "status": 200, "body": "OK"},
        ],
    },
]

# The incus side (aitbc-infra provision): incusbr0, 192.168.100.1/24 (bridge_address), NAT.
incus = {"network": {"name": "incusbr0", "nat": True}}
