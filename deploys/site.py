"""Entry point: `pyinfra INVENTORY deploys/site.py` converges each host to its plan.

Lock the host and read the state of every path of its plan (one round trip), then apply the plan:
each group of paths written, then what its change sets off (a journal validated and loaded, an
app's release proven and cut over). Roles hold only what is not a file: packages and users,
release builds, the first certificate. A host another deploy holds locked gets a single failing
operation that names the holder, and nothing else.
"""

import shlex

from pyinfra import host
from pyinfra.operations import server

from aitbc_infra.host_names import DEPLOY_LOCK
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import TRUSTED_CAS, HostPlan
from deploys import apply, apps, base, firewall, global_args, lock, nginx, op_order, sshd, state, tls, website
from deploys.context import plan, this_host

op_order.install()  # before the first operation: cheap ordering for every one of them
global_args.install()  # and the global arguments' types read once, not per operation


def converge(spec: HostSpec, host_plan: HostPlan) -> None:
    base.deploy(spec, host_plan)  # packages and users, before anything is owned by them
    apply.directories(host_plan)
    apply.journal(host_plan, TRUSTED_CAS)  # before certbot talks to the ACME server
    apply.unactivated(host_plan)
    apps.deploy(spec, host_plan)
    website.deploy(spec, host_plan)
    tls.deploy(spec, host_plan)  # before nginx loads a site that needs the certificate
    nginx.deploy(spec, host_plan)
    firewall.deploy(spec, host_plan)
    # Last: a host whose sshd rejects the drop-in fails here with the rest of it deployed, and
    # the session running this deploy is a child of sshd that a reload leaves alone.
    sshd.deploy(spec, host_plan)


spec = this_host()
host_plan = plan(spec)  # computed before the lock: nothing in it comes from the host
lock_state = lock.acquire(then=state.command(host_plan))  # the state is read under the lock
if isinstance(lock_state, lock.Taken):
    state.record(host_plan, lock_state.output)
    converge(spec, host_plan)
else:
    message = shlex.quote(f"another deploy holds {DEPLOY_LOCK}: {lock_state.holder}")
    server.shell(name=f"Deploy lock on {host.name}: held by {lock_state.holder}",
                 commands=[f"printf '%s\\n' {message} >&2; exit {lock.BUSY}"])
