"""Facts shared by every host: sites, chain settings and the Security section's rules."""

# Public sites. The TLS certificate is named after the document's "bubuit.net" lineage; the
# document serves aitbc.keisanki.net over plain HTTP: ours is HTTPS too, its own lineage.
sites = {
    "aitbc.bubuit.net": {"scheme": "https", "certificate": "bubuit.net"},
    "aitbc.keisanki.net": {"scheme": "https", "certificate": "keisanki.net"},
}

# Cross-Site Synchronization: RPC polling every 10 s, PoA blocks every 2 s.
# chain_id: the document names none; "ait-devnet" is our decision, kept here only.
chain = {"chain_id": "ait-devnet", "block_time_seconds": 2, "sync_interval_seconds": 10}

# CORS: "localhost origins only (3000, 8080, 8000, 8011)" for coordinator, exchange and node.
cors_origins = [
    "http://localhost:3000",
    "http://localhost:8080",
    "http://localhost:8000",
    "http://localhost:8011",
]

# Packages every host gets; role groups add their own. openssh-server: every host is reached
# over SSH and its sshd drop-in is checked with `sshd -t` (src/aitbc_infra/sshd.py); declared,
# verify checks it is installed. The deploy only ever installs packages, it removes none.
base_packages = ["ca-certificates", "curl", "openssh-server"]

# The interpreter release venvs are built with (its version, unless given, is the python3 of
# the host's `debian` release: 12, CPython 3.11.2), and the pins every wheelhouse build takes
# unless an app names its own; both are part of each release id. The venvs are made by the uv
# binary the deploy uploads, so no host needs python3-venv or pip.
python = {"executable": "/usr/bin/python3", "constraints": "constraints/aitbc-py311.txt"}

# Where rendered env files live on every host (root-owned, 0600).
env_dir = "/etc/aitbc"

# Releases: a restarted service must answer its health path within this time, else the previous
# release comes back. Three releases stay on disk: the active one and two to roll back to.
# Each host's deploy history keeps the last 1,000 runs (a line each, a few KiB at most).
rollout = {"keep_releases": 3, "health_timeout_seconds": 20, "history_lines": 1000}

# Response headers of every TLS site (a site listing its own `headers` sends those instead).
# The policy allows only the site's own scripts, styles and connections; a site whose pages
# need more says so in its own `headers`.
security_headers = {
    "Strict-Transport-Security": "max-age=63072000",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'self'; frame-ancestors 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}

# Requests per client address and route (nginx limit_req; 429 beyond). The document sets
# none: ours. Admin routes take few guesses at a key; API and RPC routes room for a busy page
# or a syncing peer.
rate_limits = {
    "admin": {"rate": 10, "per": "s", "burst": 20},
    "api": {"rate": 50, "per": "s", "burst": 100},
    "rpc": {"rate": 50, "per": "s", "burst": 100},
}

# Secrets are per site (a wan-facing host and its containers: at1 + aitbc, ns3-root +
# ns3-aitbc), and two sites holding one value of a secret is refused, unless the secret is
# named here. None is: each site has its own JWT_SECRET, ADMIN_API_KEYS, ...
shared_secrets = []
