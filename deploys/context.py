"""What every role needs for the host being deployed: its spec, the fleet, its rendered files.

The fleet and the secrets are those the inventory's own validation built as pyinfra loaded it
(`aitbc_infra.loader.validated`): one construction per run. Only an inventory that does not
validate itself, or a run given other data than was validated, has them built here, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps

from pyinfra import host, inventory

from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import Validated, validated
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan, host_plan
from aitbc_infra.secrets import SecretStore


def once_per_run(build: Callable) -> Callable:
    """`build` runs once per pyinfra run for each argument set, however many hosts ask.

    pyinfra prepares hosts concurrently (gevent patches the lock), so the second host waits for
    the first one's build instead of starting its own.
    """
    cached = cache(build)
    lock = threading.Lock()

    @wraps(build)
    def once(*args):
        with lock:
            return cached(*args)

    return once


@once_per_run
def _validated() -> Validated | None:
    return validated(inventory)


@once_per_run
def fleet() -> Fleet:
    built = _validated()
    return built.fleet if built else Fleet.from_pyinfra(inventory)


@once_per_run
def secrets() -> SecretStore:
    built = _validated()
    return built.secrets if built else SecretStore.for_fleet(fleet())


def this_host() -> HostSpec:
    node = host.data.get("node") or host.name
    return fleet().hosts[node]


def plan(spec: HostSpec) -> HostPlan:
    """The host's plan, its files rendered with the real secrets."""
    return host_plan(fleet(), spec, secrets().lookup)
