"""The aitbc container of the production data, plus the payload's API gateway: an app of the
monorepo layout (payload/README.md, "Monorepo shapes").

pyinfra reads this file after the project's group_data/aitbc_container.py, and a name given
here replaces that file's: `users` and `apps` are the production lists with the gateway added
(read from that file, never written twice); every other fact of the container is production's.
"""

import runpy

from aitbc_infra import PROJECT_ROOT

# Dunder names are not group data (pyinfra leaves them out).
__production = runpy.run_path(str(PROJECT_ROOT / "group_data" / "aitbc_container.py"))

# The checkout's place in the tree's own files: its requirements.txt names its local libraries
# as `-e file:///opt/aitbc/packages/...`, read as paths of the source tree.
editable_root = "/opt/aitbc"

users = [*__production["users"], {"name": "aitbc-gateway", "home": "/opt/api-gateway"}]

apps = [
    *__production["apps"],
    {
        "name": "api-gateway",
        # The whole checkout is its tree, as upstream deploys it, less what the gateway never
        # runs: the other apps, the libraries (installed as wheels from the editable line),
        # the web content and the files only a build reads. A change there is no new release.
        "trees": ["."],
        "exclude": ["apps/blockchain-node", "apps/coordinator-api", "apps/explorer-web",
                    "apps/marketplace-web", "apps/pool-hub", "apps/trade-exchange",
                    "apps/wallet-daemon", "cli", "packages", "website", ".gitignore", "*.md",
                    "*.toml", "*.txt"],
        # Upstream's unit: PYTHONPATH=/opt/aitbc/apps/api-gateway/src:/opt/aitbc, in the release.
        "import_roots": ["apps/api-gateway/src", "."],
        # The central dependency list: uvicorn, and aitbc-crypto by its editable line.
        "requirement_files": ["requirements.txt"],
        "user": "aitbc-gateway",
        "root": "/opt/api-gateway",
        "services": [
            {
                "unit": "aitbc-api-gateway",
                "description": "AITBC API gateway (monorepo layout)",
                "asgi": "api_gateway.main:app",
                "workdir": "apps/api-gateway",
                "port": 8201,
                "health": "/health",
            },
        ],
    },
]
