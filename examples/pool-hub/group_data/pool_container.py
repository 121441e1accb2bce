"""A pool hub container (Debian 13): the pool hub's miner registry in a PostgreSQL database of
its own, its counters in Redis, both from Debian's packages and listening on 127.0.0.1 only.

The database and its owner role are data; the role logs in with POOL_DB_PASSWORD, a secret of
the container's site (at1's and ns3's differ), which reaches the app only inside its
DATABASE_URL (`{postgresql:aitbc_pool}`, in its env file, never in a command line or a diff).
"""

debian = 13

# What runs the services below: the data names every package a host installs.
packages = ["postgresql", "redis-server"]

users = [{"name": "aitbc-pool", "home": "/opt/pool-hub"}]

postgresql = {
    "databases": [
        {"name": "aitbc_pool", "owner": "aitbc_pool", "password_secret": "POOL_DB_PASSWORD"},
    ],
}

redis = {"maxmemory_mb": 64, "maxmemory_policy": "allkeys-lru"}

apps = [
    {
        "name": "pool-hub",
        "packages": ["apps/pool-hub"],
        "constraints": "constraints/pool-hub.txt",
        "user": "aitbc-pool",
        "root": "/opt/pool-hub",
        # Its registry in its database; a counter in Redis's database 1.
        "env": {"DATABASE_URL": "{postgresql:aitbc_pool}", "REDIS_URL": "{redis:1}"},
        "services": [
            {"unit": "aitbc-pool-hub", "description": "AITBC pool hub",
             "command": "-m pool_hub --host {host} --port {port}", "port": 8210,
             # A real round trip: a query as its role, a Redis PING.
             "health": "/health"},
        ],
    },
]
