"""firehol on the ns3 host: a changed config is parsed by firehol (`debug` mode) before it is
applied, and restored when either fails; firehol itself keeps the old rules when a start fails.
The rules are also re-applied when the live rules drifted from what firehol last applied, or
when firehol.service is not active and enabled (deploys/scripts/firehol-*.sh say how).
"""

from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.render import FIREHOL
from deploys import apply
from deploys import state as plan_state


def deploy(spec: HostSpec, plan: HostPlan) -> None:
    if spec.firewall is None:
        return
    rules = plan_state.read(plan).firewall  # read with the rest of the host's state
    drifted = rules.get("live") != rules.get("applied")
    # A unit that is not active (failed since the package's install, stopped by hand) or not
    # enabled (no rules after a reboot) is owed a start through systemd even with the rules live.
    unit = plan_state.unit(plan, "firehol")
    unit_ok = unit == ("active", "enabled")
    why = (" (live rules drifted)" if drifted else
           "" if unit_ok else f" (firehol.service {unit[0] or '?'}, {unit[1] or '?'})")
    apply.journal(plan, FIREHOL, owed=drifted or not unit_ok, why=why)
