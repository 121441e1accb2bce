"""nginx sites: files, links and provided certificates as one journal, validated by `nginx -t`
before the reload. A rejected change never reaches the running nginx, and its files are put
back as they were, so a later restart or reboot cannot load it either."""

from pyinfra.operations import server

from aitbc_infra.activation import NGINX
from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from deploys import apply


def deploy(spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    if not spec.nginx_sites:
        return
    apply.journal(plan, state, NGINX, decision)  # a reload is owed when nginx is not active too
    if state.unit("nginx")[1] != "enabled":
        server.shell(name="nginx: enable", commands=["systemctl enable nginx"])
