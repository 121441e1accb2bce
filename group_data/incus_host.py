"""The incus host at1: TLS-terminating proxy for aitbc.bubuit.net and the host's own units.

The document: all four host units run as oib from the blockchain-node workspace and its .venv,
Restart=always with a 5 s delay. How the node and the GPU miner start is not written down;
the commands below are our decision: the node as the tree's own devnet script starts it, the
mock coordinator from the workspace's scripts/ (it imports aitbc_chain), and the GPU miner as
the tree's miner CLI (cli/miner.py) polling the mock coordinator.
"""

packages = ["nginx", "certbot", "sqlite3", "firehol", "iptables"]

users = [
    # A login user in production (the developer's account), created only where missing.
    {"name": "oib", "home": "/home/oib", "system": False},
]

apps = [
    {
        "name": "blockchain-node",
        "packages": ["apps/blockchain-node"],
        # The miner CLI's own dependency; the workspace venv carries it for the miner.
        "requirements": ["httpx"],
        "trees": ["apps/blockchain-node/scripts", "cli"],
        "user": "oib",
        "root": "/home/oib/windsurf/aitbc/apps/blockchain-node",
        "data_dirs": ["data"],
        "cors": True,
        "chain": True,
        # The node writes its chain database: never two at once (no candidate).
        "side_by_side": False,
        "env": {"DB_PATH": "{root}/data/chain.db", "PROPOSER_ID": "host-node"},
        # No `data`: a chain database is kept by its peers, not snapshotted (the aitbc
        # container's node 1 says why).
        "services": [
            {
                # The tree's init_db (SQLModel create_all) checks for a table, then creates it:
                # the node and its RPC opening a fresh database at once both create "block" and
                # one exits. Run once, before either starts.
                "unit": "aitbc-blockchain-schema",
                "description": "AITBC blockchain node database schema",
                "command": '-c "from aitbc_chain.database import init_db; init_db()"',
                "oneshot": True,
            },
            {
                "unit": "aitbc-blockchain-node",
                "description": "AITBC blockchain node (host)",
                "command": "-m aitbc_chain.main",
                "after": ["aitbc-blockchain-schema"],
            },
            {
                "unit": "aitbc-blockchain-rpc",
                "description": "AITBC blockchain RPC API (host)",
                "asgi": "aitbc_chain.app:app",
                "workers": 1,
                "port": 9080,
                "after": ["aitbc-blockchain-schema", "aitbc-blockchain-node"],
                "health": "/rpc/head",
            },
            {
                "unit": "aitbc-mock-coordinator",
                "description": "AITBC mock coordinator (development API)",
                "asgi": "mock_coordinator:app",
                "workdir": "apps/blockchain-node/scripts",
                "port": 8090,
                # The container's /v1/ route reaches it over the incus bridge.
                "bind": "bridge",
                "health": "/health",
            },
            {
                "unit": "aitbc-gpu-miner",
                "description": "AITBC GPU miner client",
                "command": "miner.py --url {url:aitbc-mock-coordinator} --miner-id host-gpu mine",
                "workdir": "cli",
                # The NVIDIA nodes CUDA opens; the unit's device policy allows these and no more.
                "devices": ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"],
            },
        ],
    },
]

nginx_sites = [
    {
        "config_name": "aitbc-proxy.conf",
        "server_name": "aitbc.bubuit.net",
        "tls": True,
        # all.py's security_headers, but the policy allows inline scripts and styles: the
        # trade exchange's page carries its own.
        "headers": {
            "Strict-Transport-Security": "max-age=63072000",
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                       "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                       "connect-src 'self'; object-src 'none'; base-uri 'self'; "
                                       "frame-ancestors 'self'; form-action 'self'",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        },
        "routes": [
            # Everything goes to the container's nginx, WebSocket upgrades included.
            {"location": "/", "type": "proxy", "node": "aitbc", "service": "nginx",
             "websocket": True},
        ],
    },
]

# The public face: SSH for the operator and the deploy, HTTP (ACME challenges, the redirect)
# and HTTPS, to any address. Nothing is forwarded: the container is reached only through this
# nginx (and over SSH through this host). Everything else is dropped, in and forward.
firewall = {
    "open": [
        {"port": 22, "name": "ssh", "allow": ["any"]},
        {"port": 80, "name": "http", "allow": ["any"]},
        {"port": 443, "name": "https", "allow": ["any"]},
    ],
}

# The incus side (aitbc-infra provision): at1's managed bridge, gateway and subnet from the
# inventory's bridge_address (10.1.223.1/24), NAT for the container's outbound traffic. The
# document does not name at1's bridge: incusbr0 (incus's default) is our decision.
incus = {"network": {"name": "incusbr0", "nat": True}}
