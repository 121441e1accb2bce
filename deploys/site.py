"""Entry point: `pyinfra INVENTORY deploys/site.py` converges each host to its plan.

Lock the host and read the state of every path of its plan (one round trip), decide from plan
and state what the run sets off (aitbc_infra/decision.py) and print it, one `owed:` line each
(and record it as data for `aitbc-infra deploy`: aitbc_infra/summary.py, `record`), then apply
the plan: each group of paths written, then what the decision owes for it (a journal
validated and loaded, an app's release proven and cut over; an app a rollback put on a kept
release gets the data's release back, or with AITBC_KEEP_ROLLBACKS=1 is left on it).
Roles hold only what is not a file: packages and users, PostgreSQL's roles and databases,
release builds, the first certificate. A host another deploy holds locked gets a single failing
operation that names the holder (its operator, message and since when), and nothing else. A
run leaves a line in each host's deploy history (deploys/history.py), sent over the lock's own
channel.
"""

import os
import shlex
import time

from pyinfra import host
from pyinfra.operations import server

from aitbc_infra.decision import KEEP_ROLLBACKS_ENV, Decision, decide, rollbacks
from aitbc_infra.drift import State
from aitbc_infra.history import describe_holder, holder
from aitbc_infra.host_names import DEPLOY_LOCK
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import TRUSTED_CAS, HostPlan
from aitbc_infra.summary import NOTE, OWED, record
from deploys import (
    apply,
    apps,
    base,
    firewall,
    global_args,
    history,
    lock,
    nginx,
    op_order,
    packaged,
    sshd,
    state,
    tls,
    website,
)
from deploys.context import plan, this_host

op_order.install()  # before the first operation: cheap ordering for every one of them
global_args.install()  # and the global arguments' types read once, not per operation


def converge(spec: HostSpec, host_plan: HostPlan, host_state: State, decision: Decision) -> None:
    base.deploy(spec, host_plan, host_state)  # packages and users, before anything owned by them
    apply.directories(host_plan, host_state)
    apply.journal(host_plan, host_state, TRUSTED_CAS, decision)  # before certbot talks to ACME
    apply.unactivated(host_plan, host_state)
    apply.read_by_apps(host_plan, host_state)  # restarted by the apps' activations next
    # PostgreSQL and Redis configured, the roles and databases made: before an app starts
    # with their URLs (a changed password is set before its readers restart with it).
    packaged.deploy(spec, host_plan, host_state, decision)
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
started = time.monotonic()
# The state is read under the lock; the history line is appended as the lock is let go.
lock_state = lock.acquire(holder(history.start()), then=state.command(host_plan),
                          after=history.append_command(spec))
if isinstance(lock_state, lock.Taken):
    host_state = state.parse(lock_state.output)
    # Decided once, from the state read before any change: each write of this run makes a path
    # what the plan says, so what the writes set off is known before the first of them.
    releases = apps.releases(spec)
    # An app a rollback put on a kept release: drift, put back unless told to keep it there
    # (then it stays on that release, nothing built for it).
    rolled_back = rollbacks(spec, host_state, releases,
                            keep=os.environ.get(KEEP_ROLLBACKS_ENV) == "1")
    releases = {**releases, **{app: r.live for app, r in rolled_back.items() if r.kept}}
    decision = decide(spec, host_plan, host_state, releases, rolled_back)
    for line in decision.lines():  # in --dry output too: `[HOST] owed: restart UNIT: why`
        host.log(f"{OWED}{line}")
    for line in decision.notes():  # what is left as it is on purpose: no drift
        host.log(f"{NOTE}{line}")
    # The same as data, for `aitbc-infra deploy`: its --json document and its --dry exit status.
    record(host.name, node=spec.node, decision=decision.as_dict())
    history.begin(spec, host_state, decision, releases, started)
    converge(spec, host_plan, host_state, decision)
else:
    held_by = describe_holder(lock_state.holder)  # OPERATOR (pid N, since TIME): "MESSAGE"
    # A dry run never runs the failing operation below: the record is what fails the host there.
    record(host.name, node=spec.node, lock_holder=held_by)
    message = shlex.quote(f"another deploy holds {DEPLOY_LOCK}: {held_by}")
    server.shell(name=f"Deploy lock on {host.name}: held by {held_by}",
                 commands=[f"printf '%s\\n' {message} >&2; exit {lock.BUSY}"])
