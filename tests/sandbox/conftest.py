"""Shared fixtures for the sandbox suite (root, real nspawn machines).

One fleet per test session: `sandbox_inventory` brings it up once and never tears it down, so
every sandbox test module shares it (and a developer's running sandbox is reused as is).
test_fleet.py is the exception: it checks `up` from nothing and `down`, so it is moved to the
front of the run (see pytest_collection_modifyitems) and boots the fleet again when it is done.
Run the suite as root; `aitbc-infra sandbox down` afterwards if you want the machines gone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: test_fleet.py first; at the end test_debian13.py, test_three_sites.py,
    # test_postgresql.py and test_hub_follower.py (each reshapes the fleet, then changes it
    # back) and test_incus.py (it ends with the sandbox down: its containers are incus
    # containers then); everything else keeps its order.
    order = {"test_fleet.py": 0, "test_debian13.py": 2, "test_three_sites.py": 2,
             "test_postgresql.py": 2, "test_hub_follower.py": 2, "test_incus.py": 3}
    items.sort(key=lambda item: order.get(item.path.name, 1))


@pytest.fixture(scope="session")
def require_root() -> None:
    # No skips: a sandbox test that silently does nothing is worse than a red one.
    if os.geteuid() != 0:
        pytest.fail("the sandbox tests need root (bridges, overlay mounts, systemd-nspawn)",
                    pytrace=False)


@pytest.fixture(scope="session")
def sandbox_inventory(require_root) -> Path:
    """Path of the generated pyinfra inventory of a running sandbox fleet."""
    from aitbc_infra.sandbox import ensure_up

    return ensure_up()


@pytest.fixture(scope="session")
def deployed_inventory(sandbox_inventory) -> Path:
    """The sandbox with the whole site deployed (a no-op run when it already is)."""
    from deploy_helpers import deploy

    run = deploy(sandbox_inventory)
    assert run.returncode == 0, run.output[-4000:]
    return sandbox_inventory


def pytest_terminal_summary(terminalreporter):
    # The request loops' counts (sent, failed, outage per route): what each fault cost.
    from traffic import REPORTS

    if REPORTS:
        terminalreporter.section("request loops during fault injection")
        for report in REPORTS:
            terminalreporter.write_line(report + "\n")
