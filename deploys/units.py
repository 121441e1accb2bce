"""Unit states (active, enabled), read in one round trip; restarts are the release activation's
(deploys/scripts/activate-release.sh) and reloads the journal commit's (deploys/journal.py)."""

from __future__ import annotations

from pyinfra import host

from deploys.facts import UnitStates


def unit_states(units: list[str]) -> dict[str, tuple[str, str]]:
    return host.get_fact(UnitStates, units=sorted(units)) if units else {}
