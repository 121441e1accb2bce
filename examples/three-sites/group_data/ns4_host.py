"""ns4-root: the third site's host. firehol forwards node 4's RPC port to its container and
nginx offers it at http://aitbc.ns4.example/rpc/, as ns3-root does for node 3."""

packages = ["nginx", "firehol", "iptables"]

firewall = {
    "open": [
        {"port": 22, "name": "ssh", "allow": ["any"]},
        {"port": 80, "name": "http", "allow": ["any"]},
    ],
    # Node 4's RPC, past nginx: for the peer sites only.
    "forwards": [{"port": 8082, "node": "ns4-aitbc", "allow": ["aitbc.bubuit.net", "ns3-root"]}],
}

nginx_sites = [
    {
        "config_name": "aitbc.ns4.example",
        "server_name": "aitbc.ns4.example",
        "listen": 80,
        "routes": [
            {"location": "/rpc/", "type": "proxy", "node": "ns4-aitbc",
             "service": "aitbc-blockchain-rpc-4"},
            {"location": "/health", "match": "exact", "type": "status", "status": 200, "body": "OK"},
        ],
    },
]
