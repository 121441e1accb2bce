"""An app's data (`data`) and a service's data probe (`data_probe`): what the model takes and
refuses (naming host, field and value), where the production data declares them, and what the
release activation and the docs are given of them."""

from __future__ import annotations

import re

import pytest
from unit_helpers import build_fleet, production_hosts

from aitbc_infra.decision import RESTART, AppOwed, UnitOwed
from aitbc_infra.docs import render_docs
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.release_activation import data_argument
from deploys import apps

HOST = "aitbc"
EXCHANGE_DB = "/opt/exchange/data/exchange.db"


def _fleet(*edits) -> Fleet:
    """The production fleet with each edit applied to aitbc's data, as the loader hands it over."""
    return build_fleet(production_hosts(HOST, *edits))


def _app(data: dict, name: str) -> dict:
    return next(a for a in data["apps"] if a["name"] == name)


def exchange_data(*entries: dict):
    """aitbc's exchange app declares exactly `entries` as its data."""
    def edit(data: dict) -> None:
        _app(data, "exchange")["data"] = list(entries)
    return edit


def exchange_api(**fields):
    """aitbc's exchange API service with `fields` set (None: the field removed)."""
    def edit(data: dict) -> None:
        service = _app(data, "exchange")["services"][0]
        for key, value in fields.items():
            if value is None:
                service.pop(key, None)
            else:
                service[key] = value
    return edit


def chain_dir_written_by_exchange(data: dict) -> None:
    data["unix_groups"] = [{"name": "aitbc-trades"}]
    data["shared_dirs"] = [{"path": "/var/lib/aitbc/trades", "owner": "aitbc-exchange",
                            "group": "aitbc-exchange", "mode": "0750", "writers": ["exchange"]}]


def _db(name: str = "exchange", path: str = "{root}/data/exchange.db", kind: str = "sqlite") -> dict:
    return {"name": name, "kind": kind, "path": path}


# The model ------------------------------------------------------------------------------------


REFUSED = [
    ("a relative path", exchange_data(_db(path="data/exchange.db")), "apps[5].data[0].path",
     ["path must be absolute", "data/exchange.db"]),
    ("{root} without a slash", exchange_data(_db(path="{root}data.db")), "apps[5].data[0].path",
     ["'{root}/...'", "{root}data.db"]),
    ("another placeholder", exchange_data(_db(path="{root}/data/{port}.db")),
     "apps[5].data[0].path", ["no other placeholder", "{port}"]),
    ("a path climbing out", exchange_data(_db(path="{root}/data/../../etc/shadow")),
     "apps[5].data[0].path", ["normalised", "/data/../../etc/shadow"]),
    ("a path of odd characters", exchange_data(_db(path="{root}/data/a b.db")),
     "apps[5].data[0].path", ["segments take letters", "a b.db"]),
    ("a name of another shape", exchange_data(_db(name="Exchange DB")), "apps[5].data[0].name",
     ["not a valid data name", "'Exchange DB'"]),
    ("a kind not supported yet", exchange_data(_db(kind="postgresql")), "apps[5].data[0].kind",
     ["'sqlite'"]),
    ("a name twice", exchange_data(_db(), _db(path="{root}/data/other.db")), "apps[5]",
     ["data names repeat", "'exchange', 'exchange'"]),
    ("a file twice", exchange_data(_db(), _db(name="again", path=EXCHANGE_DB)), "apps[5]",
     ["two data entries name one file", EXCHANGE_DB]),
    ("outside what the app writes", exchange_data(_db(path="{root}/exchange.db")),
     "apps[5].data[0].path", ["/opt/exchange/exchange.db lies in no directory app exchange writes",
                              "/opt/exchange/data"]),
    ("another app's data dir", exchange_data(_db(path="/opt/coordinator-api/data/x.db")),
     "apps[5].data[0].path", ["/opt/coordinator-api/data/x.db lies in no directory"]),
    ("another app's data", exchange_data(_db(path="{root}/data/exchange.db"),
                                         _db(name="coord", path="/opt/coordinator-api/data/coordinator.db")),
     "apps[5].data[1].path", ["is also data of app coordinator-api"]),
    ("a data dir itself", exchange_data(_db(path="{root}/data")), "apps[5].data[0].path",
     ["/opt/exchange/data lies in no directory app exchange writes"]),
    ("a probe without a health path", exchange_api(health=None), "apps[5].services[0]",
     ["aitbc-exchange-api", "a 'data_probe' is asked after the 'health' path answers"]),
    ("a probe that is no path", exchange_api(data_probe="api/trades"),
     "apps[5].services[0].data_probe", ["not a URL path", "api/trades"]),
    ("a probe with a blank", exchange_api(data_probe="/api/trades recent"),
     "apps[5].services[0].data_probe", ["not a URL path"]),
]


@pytest.mark.parametrize(("edit", "field", "says"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_bad_data_is_refused_naming_host_field_and_value(edit, field, says):
    with pytest.raises(ModelError) as info:
        _fleet(edit)
    problems = [str(p) for p in info.value.problems]
    named = [p for p in problems
             if re.match(rf"host {HOST}( \[groups: [^]]*\])?: {re.escape(field)}(: |\.)", p)]
    assert named, problems
    assert any(all(s in p for s in says) for p in named), named


def test_exchange_app_is_apps_5_as_the_cases_above_name_it():
    assert _fleet().hosts[HOST].apps[5].name == "exchange"


def test_data_paths_take_root_or_an_absolute_path_and_a_shared_dir_the_app_writes():
    fleet = _fleet(chain_dir_written_by_exchange,
                   exchange_data(_db(), _db(name="trades", path="/var/lib/aitbc/trades/t.db")))
    app = next(a for a in fleet.hosts[HOST].apps if a.name == "exchange")
    assert [(d.name, d.kind, app.data_path(d)) for d in app.data] == [
        ("exchange", "sqlite", EXCHANGE_DB), ("trades", "sqlite", "/var/lib/aitbc/trades/t.db")]
    # The same directory, written by no app of ours: refused.
    with pytest.raises(ModelError, match="t.db lies in no directory app exchange writes"):
        _fleet(exchange_data(_db(name="trades", path="/var/lib/aitbc/trades/t.db")))


def test_production_declares_the_apps_data_and_probes_but_no_chain_database(fleet):
    declared = {(node, app.name): [(d.name, d.kind, app.data_path(d)) for d in app.data]
                for node, host in fleet.hosts.items() for app in host.apps if app.data}
    assert declared == {
        ("aitbc", "coordinator-api"): [("coordinator", "sqlite",
                                        "/opt/coordinator-api/data/coordinator.db")],
        ("aitbc", "wallet-daemon"): [("wallet-ledger", "sqlite",
                                      "/opt/wallet-daemon/data/wallet_ledger.db")],
        ("aitbc", "exchange"): [("exchange", "sqlite", EXCHANGE_DB)],
        ("ns3-aitbc", "coordinator-api"): [("coordinator", "sqlite",
                                            "/opt/coordinator-api/data/coordinator.db")],
    }
    probes = {(node, svc.unit): svc.data_probe for node, host in fleet.hosts.items()
              for _, svc in host.services if svc.data_probe}
    assert probes == {("aitbc", "coordinator-api"): "/v1/explorer/transactions",
                      ("aitbc", "aitbc-exchange-api"): "/api/trades/recent",
                      ("ns3-aitbc", "coordinator-api"): "/v1/explorer/transactions"}
    # Each declared file is the one the app is told to use.
    for (node, name), files in declared.items():
        app = next(a for a in fleet.hosts[node].apps if a.name == name)
        told = " ".join(str(v) for v in app.env.values()).replace("{root}", app.root)
        assert all(path in told for _, _, path in files), (node, name, told)


# What the activation and the docs are given ---------------------------------------------------


def test_the_activation_is_given_the_data_and_each_units_probe(monkeypatch):
    fleet = _fleet(chain_dir_written_by_exchange,
                   exchange_data(_db(), _db(name="trades", path="/var/lib/aitbc/trades/t.db")))
    monkeypatch.setattr(apps, "fleet", lambda: fleet)
    spec = fleet.hosts[HOST]
    app = next(a for a in spec.apps if a.name == "exchange")
    assert data_argument(app) == (f"exchange=sqlite={EXCHANGE_DB} "
                                  "trades=sqlite=/var/lib/aitbc/trades/t.db")

    owed = AppOwed("exchange", (UnitOwed("aitbc-exchange-api", RESTART, listens=True),))
    assert apps.unit_arguments(spec, app, owed) == [
        "aitbc-exchange-api", "restart", "yes", "no", "http://127.0.0.1:8085/api/health",
        "http://127.0.0.1:28085/api/health", "/api/trades/recent"]
    # No data: an empty argument, which the script reads as none.
    dataless = next(a for a in spec.apps if a.name == "trade-exchange")
    assert data_argument(dataless) == ""


def test_the_docs_list_the_data_and_the_probes(fleet):
    docs = render_docs(fleet)
    assert "## Data" in docs and "`ROOT/releases/RELEASE/.data/`" in docs
    assert f"| aitbc | exchange | exchange | sqlite | `{EXCHANGE_DB}` |" in docs
    assert "`/api/health`, data probe `/api/trades/recent`" in docs
    assert "chain.db" not in docs.split("## Data")[1].split("##")[0]
    hosts = production_hosts(HOST)
    for _, _, data in hosts:
        for app in data["apps"]:
            app.pop("data", None)
    assert "## Data" not in render_docs(build_fleet(hosts))
