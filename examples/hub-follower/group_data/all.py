"""Facts both hosts share, examples/aitbc-2026-08/group_data/all.py's (read from there, never
written twice): the public names on plain HTTP, Debian 13, the env files' place, the checkout's
place for the editable line, the chain's shared directory and its generated genesis file. The
chain runs faster than upstream's, so that a test sees a follower catch up within seconds.

Not restated, hence production's (the project's group_data/all.py): `python` (its pins, the
payload's), `rollout` (the payload's apps start within its 20 s), `shared_secrets` (none: no
app here holds the island's key).
"""

import runpy

from aitbc_infra import PROJECT_ROOT

# Dunder names are not group data (pyinfra leaves them out).
__twin = runpy.run_path(str(PROJECT_ROOT / "examples" / "hub-follower" / "twin_apps.py"))
__upstream = __twin["UPSTREAM_ALL"]

sites = __upstream["sites"]
cors_origins = __upstream["cors_origins"]
debian = __upstream["debian"]
env_dir = __upstream["env_dir"]
editable_root = __upstream["editable_root"]
unix_groups = __upstream["unix_groups"]
shared_dirs = __upstream["shared_dirs"]
generated_files = __upstream["generated_files"]

# A block every 2 s, a follower's pull every 2 s (upstream: 10 s and 30 s).
chain = {**__upstream["chain"], "block_time_seconds": 2, "sync_interval_seconds": 2}
