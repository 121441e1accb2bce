"""What every role needs for the host being deployed: its spec, the fleet, its rendered files.

Built once per pyinfra run (module state), from the inventory pyinfra itself loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps

from pyinfra import host, inventory

from aitbc_infra.fleet import Fleet
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


@cache
def fleet() -> Fleet:
    return Fleet.from_pyinfra(inventory)


@cache
def secrets() -> SecretStore:
    return SecretStore.for_fleet(fleet())


def this_host() -> HostSpec:
    node = host.data.get("node") or host.name
    return fleet().hosts[node]


def plan(spec: HostSpec) -> HostPlan:
    """The host's plan, its files rendered with the real secrets."""
    return host_plan(fleet(), spec, secrets().lookup)
