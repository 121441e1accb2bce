"""sshd: the drop-in as one journal, validated by `sshd -t` (the whole configuration, the new
drop-in in place) before `systemctl reload ssh`. A rejected drop-in is put back, so the running
sshd, a later restart and a reboot all keep the last accepted one. Nothing changed and nothing
pending: no operation, no reload (aitbc_infra/sshd.py says what the drop-in holds and why)."""

from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.sshd import SSHD
from deploys import apply


def deploy(_spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    apply.journal(plan, state, SSHD, decision)
