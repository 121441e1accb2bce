"""firehol on the ns3 host: apply the rules when their config changed, or when the live rules
drifted from what firehol last applied (someone added or removed a rule by hand)."""

from pyinfra import host
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import FIREHOL_CONF, RenderedFile
from deploys.facts import FileContent, LiveRulesDigest
from deploys.managed import PathState, upload

APPLIED_DIGEST = "/var/lib/aitbc/firehol-applied.sha256"


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState]) -> None:
    if spec.firewall is None:
        return
    changes = [upload(f, states) for f in rendered.values() if f.kind == "firehol"]
    drifted = host.get_fact(LiveRulesDigest) != host.get_fact(FileContent, path=APPLIED_DIGEST)
    apply_commands = [
        f"firehol {FIREHOL_CONF} start",
        f"mkdir -p {APPLIED_DIGEST.rsplit('/', 1)[0]}",
        f"{LiveRulesDigest.SHELL} > {APPLIED_DIGEST}",
        "systemctl enable firehol",
    ]
    if drifted:
        server.shell(name="Re-apply firehol rules (live rules drifted)", commands=apply_commands)
    else:
        server.shell(name="Apply firehol rules", commands=apply_commands, _if=any_changed(*changes))
