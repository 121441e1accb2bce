"""Hostile values in lists and in the fields beside them: refused with the field named, or
read back exactly.

List env items (in both list formats) and list secrets, for arbitrary text: either the data
is refused, the message naming the field (env) or the secret and the host (secrets, never
the value), and nothing else is raised; or the rendered env file holds the list on its one
line, and the app's reading of it gives back exactly the items. Beside them, at the model
level: chain peers, the chain's fields and the paths of an app's sources.

The production data is loaded once; each example edits one value and builds the fleet the
way the loader does (`Fleet.from_pyinfra`), then renders it.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from unit_helpers import build_fleet, env_entries, lines

from aitbc_infra import PROJECT_ROOT, lists
from aitbc_infra.fleet import Fleet, ModelError, Problem
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import _URL
from aitbc_infra.render import RenderedFile, render_fleet, render_host, service_env
from aitbc_infra.secrets import (
    RefusedSecretValues,
    SecretsError,
    SecretStore,
    check_secrets,
    env_name,
    needed,
)

# Hypothesis keeps caches (constants, unicode tables) even without a database: outside the tree.
set_hypothesis_home_dir(f"{tempfile.gettempdir()}/aitbc-infra-hypothesis")

# Reproducible from the log alone (derandomize), nothing written into the tree (no database).
PROPERTY = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOST = "aitbc"
SITE = "at1"  # aitbc's site (Fleet.site_of)
SECRET = "ADMIN_API_KEYS"


# --- Building one edited fleet -----------------------------------------------------------------


@cache
def _base() -> tuple[tuple[str, tuple[str, ...], dict], ...]:
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    return tuple((spec.name, tuple(spec.groups), spec.model_dump(exclude={"name", "groups", "role"}))
                 for spec in fleet.hosts.values())


@cache
def _base_render(app: str | None = None, list_format: str = "json") -> dict[str, list[RenderedFile]]:
    """The unmodified render; with `app`, that app of aitbc's lists in `list_format`."""
    edits = {} if app is None else {("apps", _app_index(app), "list_format"): list_format}
    return render_fleet(_build(_edited(edits)))


def _app_index(name: str) -> int:
    return next(i for i, app in enumerate(_host_data()["apps"]) if app["name"] == name)


def _edited(edits: dict[tuple, object]) -> list[tuple[str, list[str], dict]]:
    """The production hosts, with `edits` ((step, ...) -> value) made in aitbc's data."""
    hosts = []
    for name, groups, data in _base():
        data = copy.deepcopy(data)
        if data["node"] == HOST:
            for path, value in edits.items():
                target = data
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = value
        hosts.append((name, list(groups), data))
    return hosts


_build = build_fleet


# --- Reading env files back the way systemd and the app do ------------------------------------


_env_entries, _lines = env_entries, lines


def _app_reads(value: str, list_format: str) -> list[str]:
    """The app's reading of a list setting: JSON (pydantic-settings), or split at commas."""
    if list_format == "json":
        return json.loads(value)
    return [item.strip() for item in value.split(",")] if value else []


def _env_file(files: list[RenderedFile], unit: str) -> RenderedFile:
    return next(f for f in files if f.kind == "env" and f.unit == unit)


def _confined(new: RenderedFile, old: RenderedFile, key: str) -> dict[str, str]:
    """The env file's entries; only `key` differs from the unmodified render, on one line."""
    entries, before = _env_entries(new.content), _env_entries(old.content)
    assert len(_lines(new.content)) == len(_lines(old.content)) + (key not in before)
    assert {k: v for k, v in entries.items() if k != key} == \
           {k: v for k, v in before.items() if k != key}
    new.content.encode()  # written as UTF-8
    return entries


# --- Hostile items -----------------------------------------------------------------------------

_PIECES = [*",,  \t\n\r\x00\x85\u2028\"'\\$%`{}[]:;#=aZ0é", "\udc80", "{root}",
           "{url:coordinator-api}", "{url:", "{url:nowhere}", "{static}", "{}", "\\n", "null",
           "[", "]", '"]', "%n"]
_ITEM = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(_PIECES), max_size=6).map("".join),
    # Text either format carries, so that accepted lists are many in both.
    st.text(st.characters(exclude_characters=",", exclude_categories=("Cc", "Cs", "Z")),
            min_size=1, max_size=12),
)
_FORMATS = st.sampled_from(["json", "comma"])


def _filled(item: str, root: str, coordinator: str) -> str:
    # The only placeholders an accepted env item can hold here ({url:nowhere} is refused).
    return item.replace("{root}", root).replace("{url:coordinator-api}", coordinator)


def _env_list_case(where: str, list_format: str, items: list[str]):
    """Env list `items` at `where` ("env" or "services[0].env") of the exchange app, in
    `list_format`: refused naming the field, or read back exactly."""
    i = _app_index("exchange")
    path = ("apps", i, "env") if where == "env" else ("apps", i, "services", 0, "env")
    env = {**_get(_host_data(), path), "HOSTILE_ITEMS": items}
    field = f"apps[{i}].{where}.HOSTILE_ITEMS"
    try:
        fleet = _build(_edited({("apps", i, "list_format"): list_format, path: env}))
    except ModelError as exc:
        ours = _refused_naming(exc, field, items)
        indices = [int(m[1]) for p in ours if (m := re.search(r"\[(\d+)\]\Z", p.field))]
        assert indices and all(k < len(items) for k in indices), exc
        if all(p.field == f"{field}[{k}]" for p, k in zip(ours, indices, strict=False)):
            # Past the per-value checks: the list checks name each item they refuse.
            for k, item in enumerate(items):
                if list_format == "comma" and "," in item:
                    assert any(p.field == f"{field}[{k}]" and "holds a comma" in p.message
                               for p in ours), exc
        return "refused"
    for k, item in enumerate(items):
        assert lists.item_problem(item, list_format) is None, f"item {k} {item!r} accepted"
    rendered = render_fleet(fleet)
    app = fleet.hosts[HOST].apps[i]
    unit = app.services[0].unit
    entries = _confined(_env_file(rendered[HOST], unit),
                        _env_file(_base_render("exchange", list_format)[HOST], unit), "HOSTILE_ITEMS")
    coordinator = fleet.endpoint(HOST, HOST, "coordinator-api").url
    expected = [_filled(item, app.root, coordinator) for item in items]
    assert _app_reads(entries["HOSTILE_ITEMS"], list_format) == expected
    return "accepted"


def _get(data, path: tuple):
    for step in path:
        data = data[step]
    return data


def _host_data() -> dict:
    return next(d for _, _, d in _base() if d["node"] == HOST)


@PROPERTY
@given(list_format=_FORMATS, items=st.lists(_ITEM, max_size=4),
       where=st.sampled_from(["env", "services[0].env"]))
def test_env_list_items_are_refused_by_field_or_read_back_exactly(list_format, items, where):
    _env_list_case(where, list_format, items)


@PROPERTY
@given(list_format=_FORMATS, items=st.lists(_ITEM, max_size=6))
def test_encode_reads_back_or_refuses_the_item(list_format, items):
    try:
        encoded = lists.encode(items, list_format)
    except lists.ListValueError as exc:
        assert re.match(r"item \d+ ", str(exc)), exc
        return
    assert "\n" not in encoded and "\r" not in encoded
    assert lists.decode(encoded, list_format) == items == _app_reads(encoded, list_format)


@pytest.mark.parametrize("list_format,items,outcome", [
    ("comma", ["a,b", "c"], "refused"),  # read back as three items before
    ("comma", [" a"], "refused"),
    ("comma", [""], "refused"),
    ("json", ["a,b", " a", ""], "accepted"),
    # Two items that joined into one placeholder once filled after encoding (a traceback).
    ("comma", ["{url:coordinator-api", "x}"], "accepted"),
    ("json", ["{url:coordinator-api", "x}"], "accepted"),
    ("json", ['{url:coordinator-api"', "x}"], "accepted"),
    ("comma", ["{url:coordinator-api}", "{root}/x"], "accepted"),
])
def test_env_list_classes(list_format, items, outcome):
    assert _env_list_case("env", list_format, items) == outcome


def test_a_comma_in_a_comma_list_names_host_app_field_and_item():
    i = _app_index("exchange")
    with pytest.raises(ModelError) as exc:
        _build(_edited({("apps", i, "list_format"): "comma",
                        ("apps", i, "env", "UPSTREAMS"): ["ok", "a,b"]}))
    (problem,) = exc.value.problems
    assert problem.where == "host aitbc" and problem.field == f"apps[{i}].env.UPSTREAMS[1]"
    assert "app exchange: item 1 holds a comma" in problem.message


# --- List secrets ------------------------------------------------------------------------------

MARK = "Zq9Xv"  # in values only: a message holding it shows a value
_SECRET_ITEM = st.one_of(_ITEM, _ITEM.map(lambda t: MARK + t), _ITEM.map(lambda t: t + MARK))
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _SECRET_ITEM),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=3), inner, max_size=2)),
    max_leaves=6)
_RAW = st.one_of(
    st.lists(_SECRET_ITEM, max_size=4).map(json.dumps),
    st.lists(_SECRET_ITEM, max_size=4).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.lists(_JSONISH, max_size=3).map(json.dumps),
    st.lists(_SECRET_ITEM, max_size=4).map(json.dumps).map(lambda s: s[:-1]),  # "[k1, k2"
    st.lists(_SECRET_ITEM, max_size=4).map(",".join),
    st.lists(_SECRET_ITEM, max_size=4).map(", ".join),
    _SECRET_ITEM,
).filter(bool)  # an empty variable gives no value


def _expected_items(raw: str) -> list:
    text = raw.strip()
    return json.loads(text) if text.startswith("[") else [i.strip() for i in text.split(",")]


def _environ(fleet: Fleet, raw: str) -> dict[str, str]:
    environ = {env_name(name, site): f"{site}-{name.lower()}-0123456789"
               for site, name in needed(fleet)}
    environ[env_name(SECRET, SITE)] = raw
    return environ


def _secret_case(list_format: str, raw: str, shared: bool = False) -> str:
    edits = {("apps", _app_index("coordinator-api"), "list_format"): list_format}
    hosts = _edited(edits)
    if shared:  # a shared list secret is read as strictly as any
        for _, _, data in hosts:
            data["shared_secrets"] = [SECRET]
    fleet = _build(hosts)
    environ = _environ(fleet, raw)
    check = check_secrets(fleet, environ)
    try:
        store = SecretStore.for_fleet(fleet, environ)
    except SecretsError as exc:
        message = str(exc)
        assert SECRET in message and (f"host {HOST}" in message or SITE in message), message
        assert MARK not in message, f"a value is shown: {message}"
        assert not check.ok and MARK not in check.detail and SECRET in check.detail
        return "refused"
    assert check.ok, check.detail
    items = _expected_items(raw)
    assert all(isinstance(i, str) and i.strip() for i in items), f"{items!r} accepted"
    unit = "coordinator-api"
    rendered = render_host(fleet, fleet.hosts[HOST], store.lookup)
    # The same fleet and secrets, the list a plain one.
    reference = SecretStore.for_fleet(fleet, _environ(fleet, "reference-key-0123"))
    was = _env_file(render_host(fleet, fleet.hosts[HOST], reference.lookup), unit)
    entries = _confined(_env_file(rendered, unit), was, SECRET)
    assert _app_reads(entries[SECRET], list_format) == items
    return "accepted"


@PROPERTY
@given(list_format=_FORMATS, raw=_RAW)
def test_list_secret_is_refused_by_name_or_read_back_exactly(list_format, raw):
    _secret_case(list_format, raw)


@PROPERTY
@given(raw=st.one_of(_RAW, st.text()))
def test_parse_secret_gives_non_empty_strings_or_a_value_free_refusal(raw):
    try:
        items = lists.parse_secret(raw)
    except lists.ListValueError as exc:
        assert re.match(r"(starts with '\['|item \d+ )", str(exc)) and MARK not in str(exc), exc
        return
    assert all(isinstance(i, str) and i.strip() for i in items), items
    assert items == _expected_items(raw)


@pytest.mark.parametrize("list_format,raw,outcome", [
    ("json", "[null]", "refused"),  # was the API key "None"
    ("json", '["k1", null]', "refused"),
    ("json", '["k1", 2]', "refused"),
    ("json", '[""]', "refused"),
    ("json", "[k1, k2", "refused"),  # passed the check, then the render raised JSONDecodeError
    ("json", '["k1", "k2"', "refused"),
    ("json", "k1,,k2", "refused"),
    ("json", "k1,k2,", "refused"),
    ("json", '["k1\\nEVIL=1"]', "refused"),
    ("json", '["\\ud800"]', "refused"),
    ("comma", '["k,1", "k2"]', "refused"),  # would read back as three keys
    ("comma", '[" k1"]', "refused"),
    ("json", '["k,1", " k2 "]', "accepted"),
    ("comma", "k1 , k2", "accepted"),
    ("comma", '["k1", "k2"]', "accepted"),
    ("json", "k1", "accepted"),
])
def test_list_secret_classes(list_format, raw, outcome):
    assert _secret_case(list_format, raw) == outcome


def test_a_shared_list_secret_is_read_as_strictly():
    assert _secret_case("json", "[k1, k2", shared=True) == "refused"
    assert _secret_case("json", '["k1", "k2"]', shared=True) == "accepted"


def test_a_malformed_list_secret_names_the_secret_and_host_never_the_value():
    fleet = _build(_edited({}))
    raw = f"[{MARK}-1, {MARK}-2"
    with pytest.raises(SecretsError) as exc:
        SecretStore.for_fleet(fleet, _environ(fleet, raw))
    message = str(exc.value)
    assert (f"{SECRET} for site {SITE} (environment {SECRET}__AT1), read by host {HOST}, app "
            "coordinator-api: not a list secret: starts with '['") in message
    assert MARK not in message


def test_the_render_reads_a_list_secret_as_strictly_as_the_check():
    """A lookup that bypassed the check meets the same reading, and a message, not a
    traceback (it was JSONDecodeError, and "None" for a JSON null)."""
    fleet = _build(_edited({}))
    host = fleet.hosts[HOST]
    app, svc = fleet.find_service(HOST, "coordinator-api")
    for raw in (f"[{MARK}, k2", "[null]", f'["{MARK}", 1]', f"{MARK},,k2"):
        with pytest.raises(RefusedSecretValues) as exc:
            service_env(fleet, host, app, svc, lambda _node, _name, v=raw: v)
        assert f"host {HOST}, app coordinator-api: list secret {SECRET}:" in str(exc.value)
        assert MARK not in str(exc.value)


# --- Beside the lists: peers, the chain, source paths (model level) ---------------------------

_TEXT = st.one_of(st.text(max_size=20), st.lists(st.sampled_from(
    [*_PIECES, "..", ".", "/", "//", "aitbc.keisanki.net", "aitbc-blockchain-rpc-1", "a", "-",
     "~", "*", "\x00"]), max_size=6).map("".join))


def _refused_naming(exc: ModelError, field: str, value) -> list[Problem]:
    """aitbc's problems (others follow from its absence), each naming the field (or a part
    of it) or the value; there is one at least."""
    ours = [p for p in exc.problems if re.split(r" \[|, ", p.where)[0] == f"host {HOST}"]
    assert ours, exc
    for p in ours:
        assert p.field == field or p.field.startswith((f"{field}.", f"{field}[")) \
            or repr(value) in p.message, f"{field} not named: {p}"
    return ours


@PROPERTY
@given(peer=_TEXT)
def test_a_peer_is_refused_by_field_or_rendered_as_a_url(peer):
    i = _app_index("blockchain-node")
    field = f"apps[{i}].peers"
    try:
        fleet = _build(_edited({("apps", i, "peers"): [peer]}))
    except ModelError as exc:
        _refused_naming(exc, field, peer)
        return
    app = fleet.hosts[HOST].apps[i]
    unit = app.services[0].unit
    entries = _confined(_env_file(render_fleet(fleet)[HOST], unit),
                        _env_file(_base_render()[HOST], unit), "PEERS")
    (url,) = _app_reads(entries["PEERS"], app.list_format)
    assert _URL.fullmatch(url), url


@PROPERTY
@given(chain_id=_TEXT)
def test_a_chain_id_is_refused_by_field_or_read_back_exactly(chain_id):
    try:
        fleet = _build(_edited({("chain", "chain_id"): chain_id}))
    except ModelError as exc:
        _refused_naming(exc, "chain.chain_id", chain_id)
        return
    unit = fleet.hosts[HOST].apps[_app_index("blockchain-node")].services[0].unit
    entries = _confined(_env_file(render_fleet(fleet)[HOST], unit),
                        _env_file(_base_render()[HOST], unit), "CHAIN_ID")
    assert entries["CHAIN_ID"] == chain_id


_SECONDS = st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=4),
                     st.none())


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(name=st.sampled_from(["block_time_seconds", "sync_interval_seconds"]), value=_SECONDS)
def test_chain_seconds_are_refused_by_field_or_read_back_exactly(name, value):
    try:
        fleet = _build(_edited({("chain", name): value}))
    except ModelError as exc:
        _refused_naming(exc, f"chain.{name}", value)
        return
    assert type(value) is int and value >= 1, f"{value!r} accepted"
    unit = fleet.hosts[HOST].apps[_app_index("blockchain-node")].services[0].unit
    key = name.upper()
    entries = _confined(_env_file(render_fleet(fleet)[HOST], unit),
                        _env_file(_base_render()[HOST], unit), key)
    assert entries[key] == str(value)


_SOURCE_FIELDS = ["packages", "requirement_files", "trees", "static_files"]


@PROPERTY
@given(name=st.sampled_from(_SOURCE_FIELDS), path=_TEXT)
def test_a_source_path_is_refused_by_field_or_stays_under_the_root(name, path):
    i = _app_index("exchange")
    paths = [*_host_data()["apps"][i][name], path]
    try:
        fleet = _build(_edited({("apps", i, name): paths}))
    except ModelError as exc:
        _refused_naming(exc, f"apps[{i}].{name}", path)
        return
    got = getattr(fleet.hosts[HOST].apps[i], name)[-1]
    assert got == path
    assert path and not path.startswith("/") and "\x00" not in path
    assert all(part not in ("", ".", "..") for part in path.split("/")), path
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s\\]", path), path
