"""Entry point: `pyinfra INVENTORY deploys/site.py` converges each host to what the model renders.

Every role reads the validated model; none repeats a fact. Roles a host has nothing for
(no apps, no sites, no firewall) add no operations.
"""

from deploys import apps, base, firewall, nginx, tls, trust, website
from deploys.context import rendered, this_host

spec = this_host()
files = rendered(spec)

base.deploy(spec)
trust.deploy(spec)
apps.deploy(spec, files)
website.deploy(spec)
tls.deploy(spec)
nginx.deploy(spec, files)
firewall.deploy(spec, files)
