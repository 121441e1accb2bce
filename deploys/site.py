"""Entry point: `pyinfra INVENTORY deploys/site.py` converges each host to its plan.

Lock the host and read the state of every path of its plan (one round trip), decide from plan
and state what the run sets off (aitbc_infra/decision.py) and print it, one `owed:` line each
(and record it as data for `aitbc-infra deploy`: aitbc_infra/summary.py, `record`), then apply
the plan: each group of paths written, then what the decision owes for it (a journal
validated and loaded, an app's release proven and cut over). Roles hold only what is not a file:
packages and users, release builds, the first certificate. A host another deploy holds locked
gets a single failing operation that names the holder, and nothing else.
"""

import shlex

from pyinfra import host
from pyinfra.operations import server

from aitbc_infra.decision import Decision, decide
from aitbc_infra.drift import State
from aitbc_infra.host_names import DEPLOY_LOCK
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import TRUSTED_CAS, HostPlan
from aitbc_infra.summary import OWED, record
from deploys import apply, apps, base, firewall, global_args, lock, nginx, op_order, sshd, state, tls, website
from deploys.context import plan, this_host

op_order.install()  # before the first operation: cheap ordering for every one of them
global_args.install()  # and the global arguments' types read once, not per operation


def converge(spec: HostSpec, host_plan: HostPlan, host_state: State, decision: Decision) -> None:
    base.deploy(spec, host_plan, host_state)  # packages and users, before anything owned by them
    apply.directories(host_plan, host_state)
    apply.journal(host_plan, host_state, TRUSTED_CAS, decision)  # before certbot talks to ACME
    apply.unactivated(host_plan, host_state)
    apps.deploy(spec, host_plan, host_state, decision)
    website.deploy(spec, host_plan, host_state)
    tls.deploy(spec, host_plan, host_state, decision)  # before nginx loads a site needing it
    nginx.deploy(spec, host_plan, host_state, decision)
    firewall.deploy(spec, host_plan, host_state, decision)
    # Last: a host whose sshd rejects the drop-in fails here with the rest of it deployed, and
    # the session running this deploy is a child of sshd that a reload leaves alone.
    sshd.deploy(spec, host_plan, host_state, decision)


spec = this_host()
host_plan = plan(spec)  # computed before the lock: nothing in it comes from the host
lock_state = lock.acquire(then=state.command(host_plan))  # the state is read under the lock
if isinstance(lock_state, lock.Taken):
    host_state = state.parse(lock_state.output)
    # Decided once, from the state read before any change: each write of this run makes a path
    # what the plan says, so what the writes set off is known before the first of them.
    decision = decide(spec, host_plan, host_state, apps.releases(spec))
    for line in decision.lines():  # in --dry output too: `[HOST] owed: restart UNIT: why`
        host.log(f"{OWED}{line}")
    # The same as data, for `aitbc-infra deploy`: its --json document and its --dry exit status.
    record(host.name, node=spec.node, decision=decision.as_dict())
    converge(spec, host_plan, host_state, decision)
else:
    # A dry run never runs the failing operation below: the record is what fails the host there.
    record(host.name, node=spec.node, lock_holder=lock_state.holder)
    message = shlex.quote(f"another deploy holds {DEPLOY_LOCK}: {lock_state.holder}")
    server.shell(name=f"Deploy lock on {host.name}: held by {lock_state.holder}",
                 commands=[f"printf '%s\\n' {message} >&2; exit {lock.BUSY}"])
