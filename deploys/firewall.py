"""firehol on a firewall host: a changed config is parsed by firehol (`debug` mode) before it
is applied, and restored when either fails; firehol itself keeps the old rules when a start
fails. The rules are also re-applied when the live rules drifted from what firehol last
applied, or when firehol.service is not active (failed since the package's install, stopped by
hand) or not enabled (no rules after a reboot): aitbc_infra/decision.py decides it,
deploys/scripts/firehol-*.sh say how.
"""

from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.render import FIREHOL
from deploys import apply


def deploy(spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    if spec.firewall is not None:
        apply.journal(plan, state, FIREHOL, decision)
