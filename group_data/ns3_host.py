"""ns3-root: the remote site's host. firehol forwards four ports to its container.

What serves http://aitbc.keisanki.net/rpc/ is not in the document: our decision is nginx on
ns3-root proxying /rpc/ to node 3's RPC in the container.
"""

packages = ["nginx", "firehol", "iptables"]

firewall = {
    # Services the host itself offers on its public interface.
    "host_services": ["ssh", "http"],
    # "firehol (8000, 8081, 8082, 9080 → 192.168.100.10)"
    "forwards": [
        {"port": 8000, "node": "ns3-aitbc"},
        {"port": 8081, "node": "ns3-aitbc"},
        {"port": 8082, "node": "ns3-aitbc"},
        {"port": 9080, "node": "ns3-aitbc"},
    ],
}

nginx_sites = [
    {
        "config_name": "aitbc.keisanki.net",
        "server_name": "aitbc.keisanki.net",
        "listen": 80,
        "routes": [
            {"location": "/rpc/", "type": "proxy", "node": "ns3-aitbc",
             "service": "aitbc-blockchain-rpc-3"},
            {"location": "/health", "match": "exact", "type": "status", "status": 200, "body": "OK"},
        ],
    },
]

# The incus side (aitbc-infra provision): incusbr0, 192.168.100.1/24 (bridge_address), NAT.
incus = {"network": {"name": "incusbr0", "nat": True}}
