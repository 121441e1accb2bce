"""The state of every unit of the host (services, their sockets, nginx), read in one round trip
once per run; restarts are the release activation's (deploys/scripts/activate-release.sh) and
reloads a journal commit's (deploys/journal.py)."""

from __future__ import annotations

from pyinfra import host

from aitbc_infra.model import HostSpec
from deploys.facts import UnitStates

_read: dict[str, dict[str, tuple[str, str]]] = {}  # host name -> its units' states, this run


def host_units(spec: HostSpec) -> list[str]:
    units = [u for _, svc in spec.services
             for u in (svc.unit, *([f"{svc.unit}.socket"] if svc.port else []))]
    return units + (["nginx"] if spec.nginx_sites else [])


def unit_state(spec: HostSpec, unit: str) -> tuple[str, str]:
    """(ActiveState, UnitFileState) of one of the host's units; ("", "") when unknown."""
    if host.name not in _read:
        units = host_units(spec)
        _read[host.name] = host.get_fact(UnitStates, units=sorted(units)) if units else {}
    return _read[host.name].get(unit) or ("", "")
