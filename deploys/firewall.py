"""firehol on the ns3 host: a changed config is parsed by firehol (`debug` mode) before it is
started, and restored when either fails; firehol itself keeps the old rules when a start fails.
The rules are also re-applied when the live rules drifted from what firehol last applied.
"""

from pyinfra import host
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import FIREHOL_CONF, RenderedFile
from deploys.facts import FileContent, LiveRulesDigest
from deploys.journal import commit, pending
from deploys.managed import PathState, upload
from deploys.shell import quoted

APPLIED_DIGEST = "/var/lib/aitbc/firehol-applied.sha256"
JOURNAL = "firehol"

# `firehol CONF debug` compiles the rules without loading them, exits 1 either way, and says
# "Processing file ... OK" only when every directive was understood.
VALIDATE = (f"out=$({quoted('firehol', FIREHOL_CONF, 'debug')} 2>&1); "
            "printf '%s\\n' \"$out\" | grep -q \"^FireHOL: Processing file .* OK\" && exit 0; "
            "printf '%s\\n' \"$out\" | grep -v '^\\(-A\\|:\\|\\*\\|#\\|COMMIT\\)' >&2; exit 1")
ACTIVATE = (f"{quoted('firehol', FIREHOL_CONF, 'start')} && "
            f"{quoted('mkdir', '-p', '--', APPLIED_DIGEST.rsplit('/', 1)[0])} && "
            f"{LiveRulesDigest.SHELL} > {quoted(APPLIED_DIGEST)} && systemctl enable firehol")


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState]) -> None:
    if spec.firewall is None:
        return
    changes = [upload(f, states, journal=JOURNAL) for f in rendered.values() if f.kind == "firehol"]
    drifted = host.get_fact(LiveRulesDigest) != host.get_fact(FileContent, path=APPLIED_DIGEST)
    owed = drifted or pending(states, JOURNAL)
    commit(name="firehol: validate and apply the rules" + (" (live rules drifted)" if drifted else ""),
           journal=JOURNAL, validate=VALIDATE, activate=ACTIVATE,
           _if=None if owed else any_changed(*changes))
