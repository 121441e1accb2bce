"""Entry point: `pyinfra INVENTORY deploys/site.py` converges each host to what the model renders.

Every role reads the validated model; none repeats a fact. Roles a host has nothing for
(no apps, no sites, no firewall) add no operations. A host another deploy holds locked gets a
single failing operation that names the holder, and nothing else.
"""

import shlex

from pyinfra import host
from pyinfra.operations import server

from deploys import apps, base, firewall, lock, nginx, tls, trust, website
from deploys.context import rendered, this_host
from deploys.journal import PENDING_DIR
from deploys.managed import PathStates


def converge() -> None:
    spec = this_host()
    files = rendered(spec)
    # One round trip for the state of every managed file and directory of this host.
    states = host.get_fact(
        PathStates,
        paths=sorted({*files, *(d[0] for d in base.directories(spec)),
                      *(apps.release_marker(spec, a) for a in spec.apps), *(a.venv for a in spec.apps),
                      *tls.certificate_paths(spec), *trust.trusted(spec),
                      *nginx.enabled_links(spec)}),
        trees=sorted({PENDING_DIR, *website.web_trees(spec),
                      *([apps.WHEELHOUSE_REMOTE] if spec.apps else [])}),
    )
    base.deploy(spec, states)
    trust.deploy(spec, states)
    apps.deploy(spec, files, states)
    website.deploy(spec, states)
    certificate_changes = tls.deploy(spec, states)
    nginx.deploy(spec, files, states, certificate_changes)
    firewall.deploy(spec, files, states)


holder = lock.acquire()
if holder is None:
    converge()
else:
    message = shlex.quote(f"another deploy holds {lock.LOCK_FILE}: {holder}")
    server.shell(name=f"Deploy lock on {host.name}: held by {holder}",
                 commands=[f"printf '%s\\n' {message} >&2; exit {lock.BUSY}"])
