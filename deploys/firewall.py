"""firehol on the ns3 host: validate the new rules, then apply them only when they changed."""

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import FIREHOL_CONF, RenderedFile
from deploys.upload import put_rendered


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile]) -> None:
    if spec.firewall is None:
        return
    changes = [put_rendered(f) for f in rendered.values() if f.kind == "firehol"]
    server.shell(name="Apply firehol rules", commands=[f"firehol {FIREHOL_CONF} start"],
                 _if=any_changed(*changes))
    server.shell(name="firehol enabled at boot", commands=["systemctl enable firehol"],
                 _if=any_changed(*changes))
