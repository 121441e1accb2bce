"""One pyinfra run builds the fleet and the secrets once: the inventory's own validation builds
them as pyinfra loads it, and the deploy code (deploys/context.py) is handed what it built.

The run is pyinfra's own load of the inventory file (which validates itself, then pyinfra reads
group_data/), then what deploys/site.py asks of the context for every host; each construction
of a fleet or of a secret store is counted."""

from __future__ import annotations

import importlib
import sys

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory_from_files

from aitbc_infra import PROJECT_ROOT, loader
from aitbc_infra.fleet import Fleet
from aitbc_infra.secrets import SecretStore, env_name, needed

INVENTORY = PROJECT_ROOT / "inventory.py"


@pytest.fixture
def built(monkeypatch, fleet) -> dict[str, int]:
    """Every secret of every site in the environment; how many fleets and secret stores were
    built since."""
    for site, name in needed(fleet):
        monkeypatch.setenv(env_name(name, site), f"{site}-{name.lower()}-0123456789")
    counts = {"fleets": 0, "secret stores": 0}
    from_pyinfra, for_fleet = Fleet.from_pyinfra.__func__, SecretStore.for_fleet.__func__

    def counted_fleet(cls, *args, **kwargs):
        counts["fleets"] += 1
        return from_pyinfra(cls, *args, **kwargs)

    def counted_secrets(cls, *args, **kwargs):
        counts["secret stores"] += 1
        return for_fleet(cls, *args, **kwargs)

    monkeypatch.setattr(Fleet, "from_pyinfra", classmethod(counted_fleet))
    monkeypatch.setattr(SecretStore, "for_fleet", classmethod(counted_secrets))
    monkeypatch.setattr(loader, "_validated", {})
    # The context keeps what it was handed for the rest of its process: a fresh one per test.
    monkeypatch.delitem(sys.modules, "deploys.context", raising=False)
    return counts


def _run(**override_data):
    """pyinfra's load of the inventory (`--data` as `override_data`), then each host's spec and
    plan from the context, as deploys/site.py asks for them; returns the context module."""
    with ctx_state.use(State()):
        inventory = make_inventory_from_files(str(INVENTORY), override_data=override_data or None,
                                              cwd=str(PROJECT_ROOT))
    context = importlib.import_module("deploys.context")
    with ctx_inventory.use(inventory):
        for host in inventory:
            with ctx_host.use(host):
                spec = context.this_host()
                assert context.plan(spec).files
    return context


def test_one_fleet_and_one_secret_store_per_run(built):
    context = _run()
    assert built == {"fleets": 1, "secret stores": 1}
    validated = loader._validated[str(INVENTORY.resolve())]
    assert context.fleet() is validated.fleet and context.secrets() is validated.secrets
    assert set(context.fleet().hosts) == {"at1", "aitbc", "ns3-root", "ns3-aitbc"}


def test_run_flags_are_not_model_data(built):
    """`aitbc-infra provision --prune` runs pyinfra with `--data _provision_prune=true`."""
    context = _run(_provision_prune=True)
    assert built == {"fleets": 1, "secret stores": 1}
    assert context.fleet() is next(iter(loader._validated.values())).fleet


def test_other_data_than_validated_is_built_from_pyinfras(built, tmp_path):
    """`--data` the validation did not see: the deploy builds its model from what pyinfra holds,
    never from the validated one."""
    elsewhere = str(tmp_path / "secrets")
    context = _run(secrets_file=elsewhere)
    assert built == {"fleets": 2, "secret stores": 2}
    assert {h.secrets_file for h in context.fleet().hosts.values()} == {elsewhere}


def test_a_refused_inventory_leaves_no_model(built, monkeypatch, capsys):
    _run()
    monkeypatch.delenv(env_name("JWT_SECRET", "at1"))
    with pytest.raises(SystemExit) as exc:
        _run()
    assert exc.value.code == 2
    assert "missing secrets" in capsys.readouterr().err
    assert loader._validated == {}
