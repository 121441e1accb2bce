"""The production sites, with one app of today's monorepo layout added to the aitbc container.

Upstream AITBC is one checkout since 2026 (c27c654): a root package the apps import through
PYTHONPATH, app projects without dependencies, one central requirements file whose local
libraries are editable lines written for the checkout at /opt/aitbc. The payload reproduces
that in miniature (payload/README.md, "Monorepo shapes"); group_data/aitbc_container.py beside
this file adds its API gateway to the production apps, which keep deploying the February
layout unchanged. `aitbc-infra sandbox deploy --inventory examples/monorepo/inventory.py`
deploys it into the sandbox (the same four machines); tests/sandbox/test_monorepo.py does.
"""

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import inventory_groups, validate_inventory

# The production sites, as inventory.py declares them.
_production = inventory_groups(PROJECT_ROOT / "inventory.py")
incus_host = _production["incus_host"]
aitbc_container = _production["aitbc_container"]
ns3_host = _production["ns3_host"]
ns3_container = _production["ns3_container"]

validate_inventory(__file__)
