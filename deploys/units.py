"""Units: start what is not running, restart only what changed; state read in one round trip."""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from deploys.facts import UnitStates


def unit_states(units: list[str]) -> dict[str, tuple[str, str]]:
    return host.get_fact(UnitStates, units=sorted(units)) if units else {}


def converge(unit: str, state: tuple[str, str] | None, changed: list, *, reload: bool = False):
    """Enable and start `unit` if it is not; otherwise restart (or reload) it when `changed` did.

    A unit started here already runs its new files, so it is not restarted again. The state was
    read before this run's operations: a package install may have started the unit since, so an
    inactive one is (re)started or reloaded rather than merely started.
    """
    active, enabled = state or ("", "")
    if active != "active":
        start = "reload-or-restart" if reload else "restart"
        return server.shell(name=f"{unit}: enable and start",
                            commands=[f"systemctl enable {unit}", f"systemctl {start} {unit}"])
    if enabled != "enabled":
        server.shell(name=f"{unit}: enable", commands=[f"systemctl enable {unit}"])
    verb = "reload" if reload else "restart"
    if changed:
        return server.shell(name=f"{unit}: {verb} (changed)", commands=[f"systemctl {verb} {unit}"],
                            _if=any_changed(*changed))
    return None
