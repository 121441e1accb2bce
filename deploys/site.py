"""Entry point: `pyinfra INVENTORY deploys/site.py` converges each host to what the model renders.

Every role reads the validated model; none repeats a fact. Roles a host has nothing for
(no apps, no sites, no firewall) add no operations.
"""

from deploys import apps, base, firewall, nginx, tls, trust, website
from deploys.context import rendered, this_host
from deploys.upload import current_state

spec = this_host()
files = rendered(spec)
# One round trip for the state of every managed file of this host.
existing = current_state(list(files.values()))

base.deploy(spec)
trust.deploy(spec)
apps.deploy(spec, files, existing)
website.deploy(spec)
tls.deploy(spec)
nginx.deploy(spec, files, existing)
firewall.deploy(spec, files, existing)
