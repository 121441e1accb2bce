"""Whether the sandbox hosts' systemd is `running`: no unit failed, ours or a package's."""

from __future__ import annotations

from collections.abc import Iterable

from aitbc_infra.sandbox import ssh_run

# One round trip per host: the state, then the failed units (if any), one a line.
_QUERY = "systemctl is-system-running; systemctl list-units --failed --plain --no-legend"


def not_running(nodes: Iterable[str]) -> dict[str, str]:
    """{node: "STATE (failed: UNIT, ...)"} for every node whose systemd is not `running`."""
    bad = {}
    for node in nodes:
        state, *failed = ssh_run(node, _QUERY, timeout=30).stdout.splitlines() or ["unreachable"]
        if state != "running":
            units = ", ".join(line.split()[0] for line in failed if line.strip()) or "none"
            bad[node] = f"{state} (failed: {units})"
    return bad
