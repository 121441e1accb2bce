"""firehol on the ns3 host: a changed config is parsed by firehol (`debug` mode) before it is
started, and restored when either fails; firehol itself keeps the old rules when a start fails.
The rules are also re-applied when the live rules drifted from what firehol last applied, or
when firehol.service is not active and enabled.

The rules are applied through firehol.service, never by running `firehol start` beside it: the
package's own start (at install, before /etc/default/firehol enables it) fails, and only a start
through systemd clears that failure, so the host is `running`, not `degraded`, and systemd knows
the rules are loaded. The same unit loads them again at boot.
"""

from pyinfra import host
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import FIREHOL_CONF, RenderedFile
from deploys.facts import FirewallState, LiveRulesDigest
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
# An active unit is reloaded (ExecReload is `firehol start`): a failed start keeps the unit
# active with the rules firehol restored, where a restart would first run `firehol stop` and
# leave the host open. An inactive or failed unit is started. systemctl only points at the
# journal, so firehol's own words since the attempt are shown.
ACTIVATE = ('since=$(date +%s); systemctl reload-or-restart firehol.service || '
            '{ journalctl -u firehol.service --since "@$since" -o cat --no-pager >&2; exit 1; }; '
            f"{quoted('mkdir', '-p', '--', APPLIED_DIGEST.rsplit('/', 1)[0])} && "
            f"{LiveRulesDigest.SHELL} > {quoted(APPLIED_DIGEST)} && systemctl enable --quiet firehol")


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState]) -> None:
    if spec.firewall is None:
        return
    changes = [upload(f, states, journal=JOURNAL) for f in rendered.values() if f.kind == "firehol"]
    state = host.get_fact(FirewallState, applied=APPLIED_DIGEST)
    drifted = state.get("live") != state.get("applied")
    # A unit that is not active (failed since the package's install, stopped by hand) or not
    # enabled (no rules after a reboot) is owed a start through systemd even with the rules live.
    unit = (state.get("ActiveState"), state.get("UnitFileState"))
    unit_ok = unit == ("active", "enabled")
    reason = (" (live rules drifted)" if drifted else
              "" if unit_ok else f" (firehol.service {unit[0] or '?'}, {unit[1] or '?'})")
    owed = drifted or not unit_ok or pending(states, JOURNAL)
    commit(name="firehol: validate and apply the rules" + reason,
           journal=JOURNAL, validate=VALIDATE, activate=ACTIVATE,
           _if=None if owed else any_changed(*changes))
