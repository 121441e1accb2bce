"""Hostile strings in every text field of the model: refused with the field named, or inert.

One value of one host in the production data is replaced; the fleet is validated the way the
loader does it (`Fleet.from_pyinfra`, every host and every cross-check) and then rendered.
Either the data is refused and a message names the field (or the value), or every rendered file
that changed keeps the structure of the unmodified render, with the value confined to the one
directive, line or quoted string it belongs to.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
import shlex
import tempfile
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from pydantic import BaseModel
from unit_helpers import build_fleet, env_entries, lines

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.checks import parse_nginx_file
from aitbc_infra.endpoints import listen
from aitbc_infra.fleet import Fleet, ModelError, Problem
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import HostSpec
from aitbc_infra.render import RenderedFile, render_fleet
from aitbc_infra.sshd import problems as sshd_problems

# Hypothesis keeps caches (constants, unicode tables) even without a database: outside the tree.
set_hypothesis_home_dir(f"{tempfile.gettempdir()}/aitbc-infra-hypothesis")

# --- The text fields of the model ------------------------------------------------------------

LIST, KEY, VALUE = "[]", "{key}", "{value}"


def _strip(tp):
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_text(tp) -> bool:
    tp = _strip(tp)
    if tp is str or tp is IPv4Address:  # an address is text in the data files too
        return True
    return typing.get_origin(tp) is typing.Literal and all(isinstance(a, str) for a in typing.get_args(tp))


def _text_fields(tp, steps: tuple = ()):
    """Every place a string sits in the model: fields, list items, dict keys and values."""
    tp = _strip(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None):
                yield from _text_fields(arg, steps)
    elif _is_text(tp):
        yield steps
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            yield from _text_fields(info.annotation, (*steps, name))
    elif origin is list:
        yield from _text_fields(typing.get_args(tp)[0], (*steps, LIST))
    elif origin is dict:
        key, value = typing.get_args(tp)
        if _is_text(key):
            yield (*steps, KEY)
        yield from _text_fields(value, (*steps, VALUE))


def _schema_name(steps: tuple) -> str:
    return "".join(s if s in (LIST, KEY, VALUE) else f".{s}" for s in steps).lstrip(".")


# `role` is not data: the loader derives it from the groups, which are fuzzed themselves.
FIELDS = {_schema_name(s): s for s in dict.fromkeys(_text_fields(HostSpec)) if s != ("role",)}

# Optional parts no production host has: set on one host with ordinary values, so that every
# field has a place to put a hostile value and an unmodified render to compare with.
_SEEDS = {
    "aitbc": {
        "acme_ca_bundle": "/etc/ssl/certs/acme-ca.pem",
        "acme_root_file": "/usr/local/share/ca-certificates/acme-root.crt",
        "secrets_file": "secrets/production.toml",
        # Where a tree's editable lines place its checkout (read by no rendered file).
        "editable_root": "/opt/aitbc",
        "tls_provided": {"example-cert": {"fullchain": "/etc/ssl/example/fullchain.pem",
                                          "privkey": "/etc/ssl/example/privkey.pem"}},
        ("apps", 1, "sync_status"): "/rpc/sync",
        ("apps", 1, "env", "SEEDED_LIST"): ["first", "second"],
        ("apps", 1, "services", 0, "env"): {"SEEDED_VALUE": "seeded", "SEEDED_ITEMS": ["one", "two"]},
        # A scheduled job (its timer's calendar event), after the app's own services.
        ("apps", 1, "services"): lambda services: [*services, {
            "unit": "aitbc-seeded-job", "command": '-c "print(1)"',
            "schedule": {"calendar": "Mon..Fri *-*-* 03:00:00"}}],
        ("apps", 1, "env_names"): {"peers": "DEFAULT_PEER_RPC_URL"},
        # A hard-coded directory the unit sees as one of its app's data dirs.
        ("apps", 1, "services", 1, "bind_paths"): {"/var/lib/aitbc-seeded-view": "data"},
        # A release step, with the env file of one of the app's services.
        ("apps", 1, "steps"): [{"name": "seeded_step", "service": "aitbc-blockchain-rpc-1",
                                "command": ["-m", "seeded.migrate", "{root}/data"],
                                "workdir": "data"}],
        ("apps", 1, "exclude"): ["**/tests/**"],
        # A distribution built from its sdist (read by no rendered file: the wheelhouse's).
        ("python", "build_from_source"): ["seeded-dist"],
        ("web_content", 0, "exclude"): ["*.map"],
        ("container", "ssh", "host_key"): "/etc/aitbc-infra/ssh_host_ed25519_key",
        ("container", "hosts"): {"acme.example.net": "10.1.223.7"},
        "shared_secrets": ["JWT_SECRET"],
        # Shared state: a directory the node writes and the coordinator reads, a JSON file
        # generated from a template into it, and a key file holding a secret.
        "unix_groups": [{"name": "aitbc-seeded-readers"}],
        "shared_dirs": [{"path": "/var/lib/aitbc-seeded", "owner": "aitbc-chain",
                         "group": "aitbc-seeded-readers", "mode": "2750",
                         "writers": ["blockchain-node"], "readers": ["coordinator-api"]}],
        "generated_files": [
            {"path": "/var/lib/aitbc-seeded/genesis.json", "owner": "root",
             "group": "aitbc-seeded-readers", "mode": "0640", "template": "genesis.json.j2",
             "values": {"timestamp": "seeded-time", "proposers": ["seeded-node"]},
             "secrets": ["SEEDED_SECRET"], "used_by": ["blockchain-node", "coordinator-api"]},
            {"path": "/var/lib/aitbc-seeded/proposer.key", "owner": "root",
             "group": "aitbc-chain", "mode": "0640", "secret": "SEEDED_KEY",
             "used_by": ["blockchain-node"]},
        ],
        # The key file's secret and the genesis file's, declared a key pair.
        "key_pairs": [{"key": "SEEDED_KEY", "address": "SEEDED_SECRET",
                       "kind": "secp256k1-ethereum"}],
    },
    # One list on every host (the model refuses hosts that disagree on it).
    **{node: {"shared_secrets": ["JWT_SECRET"]} for node in ("at1", "ns3-root")},
    # Services from Debian packages: a database and Redis, read by the coordinator's env.
    "ns3-aitbc": {
        "shared_secrets": ["JWT_SECRET"],
        "packages": lambda packages: [*packages, "postgresql", "redis-server"],
        "postgresql": {"port": 5433, "databases": [
            {"name": "aitbc_seeded", "owner": "seeded_owner", "password_secret": "SEEDED_DB_PASSWORD"}]},
        "redis": {"port": 6380, "maxmemory_mb": 32, "maxmemory_policy": "allkeys-lru"},
        ("apps", 0, "env", "SEEDED_DATABASE_URL"): "{postgresql:aitbc_seeded:psycopg}",
        ("apps", 0, "env", "SEEDED_REDIS_URL"): "{redis:2}",
    },
}


# --- Validating and rendering one edited fleet ------------------------------------------------


_build = build_fleet


def _set(data: dict, path: tuple, value) -> None:
    """The value at `path` set; a callable value is computed from the one there now."""
    if callable(value):
        current = data
        for step in path:
            current = current[step]
        value = value(current)
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


@cache
def _base() -> tuple[list[tuple[str, list[str], dict]], dict[str, list[RenderedFile]]]:
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    hosts = []
    for node, spec in fleet.hosts.items():
        data = spec.model_dump(exclude={"name", "groups", "role"})  # role: from groups
        for where, value in _SEEDS.get(node, {}).items():
            _set(data, where if isinstance(where, tuple) else (where,), value)
        hosts.append((spec.name, list(spec.groups), data))
    return hosts, render_fleet(_build(hosts))


@dataclass(frozen=True)
class Slot:
    """One concrete place of a schema field: host index, path in its data, value or dict key."""

    field: str
    host: int
    node: str
    path: tuple
    mode: str  # "value" | "key"
    old: object

    def path_for(self, new: str) -> str:
        path = (*self.path[:-1], new) if self.mode == "key" else self.path
        out = ""
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def apply(self, new: str) -> list[tuple[str, list[str], dict]]:
        hosts = list(_base()[0])
        name, groups, data = hosts[self.host]
        if self.path[0] == "name":
            name = new
        elif self.path[0] == "groups":
            groups = [new if i == self.path[1] else g for i, g in enumerate(groups)]
        elif self.mode == "key":
            data = _replaced(data, self.path[:-1], lambda d: {new if k == self.old else k: v
                                                              for k, v in d.items()})
        else:
            data = _replaced(data, self.path, lambda _: new)
        hosts[self.host] = (name, groups, data)
        return hosts


def _replaced(node, path: tuple, change):
    """A copy of `node` with `change` applied at `path`; only the containers on the path are new."""
    if not path:
        return change(node)
    copied = list(node) if isinstance(node, list) else dict(node)
    copied[path[0]] = _replaced(node[path[0]], path[1:], change)
    return copied


def _occurrences(node, steps: tuple, path: tuple = ()):
    if not steps:
        yield path, node
        return
    step, rest = steps[0], steps[1:]
    if step == LIST and isinstance(node, list):
        for i, item in enumerate(node):
            yield from _occurrences(item, rest, (*path, i))
    elif step in (KEY, VALUE) and isinstance(node, dict):
        for key, value in node.items():
            if step == KEY:
                yield (*path, key), key
            else:
                yield from _occurrences(value, rest, (*path, key))
    elif isinstance(node, dict) and step in node:
        yield from _occurrences(node[step], rest, (*path, step))


@cache
def slot(name: str) -> Slot:
    """The field's first place whose value shows in its host's render, else its first place."""
    hosts, rendered = _base()
    candidates = []
    for index, (host_name, groups, data) in enumerate(hosts):
        node = data["node"]
        full = {"name": host_name, "groups": groups, **data}
        text = "".join(f.content for f in rendered[node])
        for path, value in _occurrences(full, FIELDS[name]):
            if value is None or isinstance(value, list | dict | bool | int):
                continue
            shown = len(str(value)) > 1 and str(value) in text
            mode = "key" if FIELDS[name][-1] == KEY else "value"
            candidates.append((not shown, Slot(name, index, node, path, mode, value)))
    assert candidates, f"no place for {name} in the production data or the seeds"
    return min(candidates, key=lambda c: c[0])[1]


# --- Reading rendered files back the way their programs do -----------------------------------


_lines = lines


def _nginx_shape(block: list[dict]) -> list:
    return [(d["directive"], len(d["args"]), _nginx_shape(d["block"]) if "block" in d else None)
            for d in block]


def _nginx_args(block: list[dict]):
    for d in block:
        yield d["directive"], d["args"]
        yield from _nginx_args(d.get("block", []))


def _nginx_unquote(arg: str) -> str:
    """crossplane has undone \\" already; nginx also reads \\\\, \\n, \\r and \\t in quotes."""
    out, i = [], 0
    while i < len(arg):
        if arg[i] == "\\" and i + 1 < len(arg) and arg[i + 1] in "\\ntr":
            out.append({"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}[arg[i + 1]])
            i += 2
        else:
            out.append(arg[i])
            i += 1
    return "".join(out)


def _unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) per setting line; a continued line is an error here."""
    section, entries = "", []
    for line in _lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        if trailing % 2:
            raise ValueError(f"line continues on the next one (trailing backslash): {line!r}")
        if stripped.startswith("["):
            section = stripped
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"not a Key=value line: {line!r}")
        entries.append((section, key.strip(), value.strip()))
    return entries


def _lone_specifiers(value: str) -> int:
    return len(re.findall(r"%[^%]|%\Z", value.replace("%%", "")))


_env_entries = env_entries


_SHELL = "$`;|&<>(){}*?[]!~\\'\"#"


def _firehol_words(line: str) -> list[str]:
    return shlex.split(line, comments=True)


# --- The property -----------------------------------------------------------------------------


@dataclass
class Outcome:
    refused: list[Problem] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _named(problem: Problem, path: str, new: str, old) -> bool:
    pattern = re.escape(problem.field).replace(r"\[\]", r"\[\d+\]")
    if re.fullmatch(pattern + r"(?:[.\[].*)?", path, re.S) or \
            problem.field.startswith((f"{path}.", f"{path}[")):
        return True
    return repr(new) in problem.message or (isinstance(old, str) and bool(old)
                                            and repr(old) in problem.message)


def _pair(new: list[RenderedFile], old: list[RenderedFile]):
    """Files of one host matched to the unmodified render: by path, then by kind in order."""
    old_by_path = {f.path: f for f in old}
    pairs = [(f, old_by_path.pop(f.path)) for f in new if f.path in old_by_path]
    rest = [f for f in new if f.path not in {p[0].path for p in pairs}]
    for f in rest:
        match = next((o for o in old_by_path.values() if o.kind == f.kind), None)
        if match is None:
            return None
        pairs.append((f, old_by_path.pop(match.path)))
    return pairs if not old_by_path else None


def _check_nginx(new: RenderedFile, old: RenderedFile) -> list[str]:
    try:
        parsed = parse_nginx_file(new.content)
    except ValueError as exc:
        return [f"{new.path}: {exc}"]
    base = parse_nginx_file(old.content)
    if _nginx_shape(parsed) != _nginx_shape(base):
        return [f"{new.path}: directive structure changed"]
    return [f"{new.path}: {name} {args!r}: '$' nginx would expand"
            for (name, args), (_, was) in zip(_nginx_args(parsed), _nginx_args(base), strict=True)
            if args != was and sum(a.count("$") for a in args) > sum(a.count("$") for a in was)]


def _check_unit(new: RenderedFile, old: RenderedFile, argv_changes: bool) -> list[str]:
    try:
        entries = _unit_entries(new.content)
    except ValueError as exc:
        return [f"{new.path}: {exc}"]
    base = _unit_entries(old.content)
    if [e[:2] for e in entries] != [e[:2] for e in base] or \
            len(_lines(new.content)) != len(_lines(old.content)):
        return [f"{new.path}: the Key= lines changed: {sorted(set(entries) - set(base))!r}"]
    failures = []
    for (_, key, value), (_, _, was) in zip(entries, base, strict=True):
        if value == was:
            continue
        if _lone_specifiers(value) > _lone_specifiers(was):
            failures.append(f"{new.path}: {key}={value!r}: a '%' specifier systemd would expand")
        if key == "ExecStart" and any(value.count(c) > was.count(c) for c in "$\\"):
            failures.append(f"{new.path}: ExecStart={value!r}: '$' or '\\' systemd would expand")
        # A calendar event's parts are its own (the model's grammar holds them): "daily" and
        # "Mon *-*-* 03:00" are one setting each.
        free = key in ("Description", "OnCalendar") or (key == "ExecStart" and argv_changes)
        if not free and len(value.split()) != len(was.split()):
            failures.append(f"{new.path}: {key}={value!r}: {len(value.split())} words, "
                            f"was {len(was.split())}")
    return failures


def _check_env(new: RenderedFile, old: RenderedFile, renamed: dict[str, str]) -> list[str]:
    try:
        entries = _env_entries(new.content)
    except ValueError as exc:
        return [f"{new.path}: {exc}"]
    base = _env_entries(old.content)
    expected = sorted(renamed.get(k, k) for k in base)
    if sorted(entries) != expected or len(_lines(new.content)) != len(_lines(old.content)):
        return [f"{new.path}: keys changed: {sorted(set(entries) ^ set(expected))!r}"]
    return []


def _check_firehol(new: RenderedFile, old: RenderedFile) -> list[str]:
    lines, base = _lines(new.content), _lines(old.content)
    if len(lines) != len(base):
        return [f"{new.path}: {len(lines)} lines, was {len(base)}"]
    failures = []
    for line, was in zip(lines, base, strict=True):
        if line == was:
            continue
        try:
            words = _firehol_words(line)
        except ValueError as exc:
            failures.append(f"{new.path}: {line!r}: {exc}")
            continue
        if len(words) != len(_firehol_words(was)):
            failures.append(f"{new.path}: {line!r}: word count changed (was {was!r})")
        counts, before = Counter(line), Counter(was)
        if any(counts[c] > before[c] for c in _SHELL):
            failures.append(f"{new.path}: {line!r}: shell syntax that bash would run")
    return failures


def _check_sshd(new: RenderedFile, old: RenderedFile) -> list[str]:
    """Only a value of ours may change: the same keywords on the same lines, each value one
    that the file may hold (sshd.ALLOWED)."""
    keywords = [line.split(" ", 1)[0] for line in _lines(new.content)]
    if keywords != [line.split(" ", 1)[0] for line in _lines(old.content)]:
        return [f"{new.path}: its lines changed"]
    return [f"{new.path}: {found}" for found in sshd_problems(new.content)]


def _json_shape(value):
    """A JSON document's structure: its objects' keys and its arrays' lengths, leaves aside."""
    if isinstance(value, dict):
        return {k: _json_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_shape(v) for v in value]
    return "leaf"


def _check_generated(new: RenderedFile, old: RenderedFile) -> list[str]:
    """A generated JSON file still parses, with the same keys and arrays (a value stays one
    JSON value); a text one keeps its lines."""
    if new.kind == "json":
        try:
            parsed = json.loads(new.content)
        except json.JSONDecodeError as exc:
            return [f"{new.path}: no longer JSON: {exc}"]
        if _json_shape(parsed) != _json_shape(json.loads(old.content)):
            return [f"{new.path}: its JSON structure changed"]
        return []
    if len(_lines(new.content)) != len(_lines(old.content)):
        return [f"{new.path}: {len(_lines(new.content))} lines, was {len(_lines(old.content))}"]
    return []


def _check_words(new: RenderedFile, old: RenderedFile) -> list[str]:
    """A packaged service's configuration (PostgreSQL's, pg_hba.conf, Redis's): its lines, each
    with its keyword and its number of words; a value stays one word."""
    lines, base = _lines(new.content), _lines(old.content)
    if len(lines) != len(base):
        return [f"{new.path}: {len(lines)} lines, was {len(base)}"]
    return [f"{new.path}: {line!r}: its words changed (was {was!r})"
            for line, was in zip(lines, base, strict=True) if line != was
            and (len(line.split()) != len(was.split()) or line.split()[:1] != was.split()[:1])]


def _expected_env(slot: Slot, new: str, fleet: Fleet) -> tuple[str, str, object] | None:
    """(env key, the value the app must read, list index or None) for an env-value slot."""
    steps = FIELDS[slot.field]
    index = slot.path[-1] if steps[-1] == LIST else None
    if steps[-2 if index is not None else -1] != VALUE or steps[-3 if index is not None else -2] \
            != "env" or any(url in new for url in ("{url:", "{postgresql", "{redis")):
        return None
    key = slot.path[-2] if index is not None else slot.path[-1]
    root = fleet.hosts[slot.node].apps[slot.path[1]].root
    return key, new.replace("{root}", root), index


def check(slot: Slot, new: str) -> Outcome:
    """Refused with the field or value named, or rendered with every change confined."""
    outcome = Outcome()
    path = slot.path_for(new)
    try:
        fleet = _build(slot.apply(new))
        rendered = render_fleet(fleet)
    except ModelError as exc:
        outcome.refused = exc.problems
        if not any(_named(p, path, new, slot.old) for p in exc.problems):
            outcome.failures.append(f"refused, but no message names {path} or {new!r}: "
                                    + "; ".join(map(str, exc.problems)))
        return outcome
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        outcome.failures.append(f"traceback, not a message: {type(exc).__name__}: {exc}")
        return outcome

    base = _base()[1]
    old_nodes = [data["node"] for _, _, data in _base()[0]]
    new_nodes = [n if i != slot.host else (new if slot.path == ("node",) else n)
                 for i, n in enumerate(old_nodes)]
    if sorted(rendered) != sorted(new_nodes):
        outcome.failures.append(f"hosts rendered {sorted(rendered)}, expected {sorted(new_nodes)}")
        return outcome
    # An env key, or the name an app's env_names gives one of the model's values, renames one
    # line of the env files.
    steps = FIELDS[slot.field]
    renames = (slot.mode == "key" and steps[-2] == "env") or steps[-2:] == ("env_names", VALUE)
    renamed = {slot.old: new} if renames else {}
    argv_changes = FIELDS[slot.field][-1] == "command"
    step_argument = FIELDS[slot.field][-4:] == ("steps", LIST, "command", LIST)
    expected_env = _expected_env(slot, new, fleet)
    for old_node, node in zip(old_nodes, new_nodes, strict=True):
        for f in rendered[node]:
            if not f.path.startswith("/") or posixpath.normpath(f.path) != f.path or \
                    re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", f.path):
                outcome.failures.append(f"unsafe rendered path {f.path!r}")
        pairs = _pair(rendered[node], base[old_node])
        if pairs is None:
            outcome.failures.append(f"host {node}: rendered files changed: "
                                    f"{sorted(f.path for f in rendered[node])}")
            continue
        for f, was in pairs:
            if f.content == was.content:
                continue
            if f.kind == "nginx":
                outcome.failures += _check_nginx(f, was)
            elif f.kind in ("unit", "socket", "candidate", "timer", "step"):
                outcome.failures += _check_unit(f, was, argv_changes or step_argument)
            elif f.kind == "env":
                outcome.failures += _check_env(f, was, renamed)
                if expected_env and node == slot.node and not outcome.failures:
                    key, value, index = expected_env
                    got = _env_entries(f.content).get(key)
                    if index is not None and got is not None:
                        app = fleet.hosts[node].apps[slot.path[1]]
                        got = json.loads(got)[index] if app.list_format == "json" else got
                        value = value if app.list_format == "json" else got
                    if got is not None and got != value:
                        outcome.failures.append(f"{f.path}: {key} reads back as {got!r}, not {value!r}")
            elif f.kind == "firehol":
                outcome.failures += _check_firehol(f, was)
            elif f.kind == "sshd":
                outcome.failures += _check_sshd(f, was)
            elif f.kind in ("json", "text"):
                outcome.failures += _check_generated(f, was)
            elif f.kind in ("postgresql", "pg_hba", "redis"):
                outcome.failures += _check_words(f, was)
            else:
                outcome.failures.append(f"{f.path}: unexpected change in a {f.kind} file")
    if slot.field == "nginx_sites[].routes[].body":
        site = fleet.hosts[slot.node].nginx_sites[slot.path[1]]
        route = site.routes[slot.path[3]]
        outcome.failures += _check_body(rendered[slot.node], route.location, new)
    if argv_changes and "{url:" not in new:
        outcome.failures += _check_command(rendered[slot.node], fleet, slot, new)
    if step_argument and "{url:" not in new:
        outcome.failures += _check_step_argument(rendered[slot.node], fleet, slot)
    return outcome


def _check_body(files: list[RenderedFile], location: str, new: str) -> list[str]:
    for f in files:
        if f.kind != "nginx":
            continue
        for name, args in _nginx_args(parse_nginx_file(f.content)):
            if name == "location" and args[-1] == location:
                break
        else:
            continue
        returns = [a for n, a in _nginx_args(parse_nginx_file(f.content)) if n == "return"
                   and len(a) == 2 and _nginx_unquote(a[1]) == new + "\n"]
        return [] if returns else [f"{f.path}: no `return` reads back as {new!r}"]
    return [f"no nginx location {location!r} rendered"]


def _check_command(files: list[RenderedFile], fleet: Fleet, slot: Slot, new: str) -> list[str]:
    host = fleet.hosts[slot.node]
    app = host.apps[slot.path[1]]
    svc = app.services[slot.path[3]]
    argv = new.replace("{root}", app.root)
    if svc.port:  # {host} and {port} are refused in a service that listens nowhere
        argv = argv.replace("{host}", listen(host, svc).address).replace("{port}", str(svc.port))
    unit = next(f for f in files if f.path.endswith(f"/{svc.unit}.service"))
    line = f"ExecStart={app.venv}/bin/python {argv}"
    return [] if line in _lines(unit.content) else [f"{unit.path}: no line {line!r}"]


def _check_step_argument(files: list[RenderedFile], fleet: Fleet, slot: Slot) -> list[str]:
    """A release step's arguments, read back from its ExecStart= as systemd splits its double
    quotes: each one word, as given ({root} filled in)."""
    app = fleet.hosts[slot.node].apps[slot.path[1]]
    step = app.steps[slot.path[3]]
    unit = next(f for f in files if f.kind == "step" and f"-step-{step.name}@" in f.path)
    line = next(line for line in _lines(unit.content) if line.startswith("ExecStart="))
    expected = [word.replace("{root}", app.root) for word in step.command]
    got = shlex.split(line.removeprefix("ExecStart="))
    if got != [f"{app.venv}/bin/python", *expected]:
        return [f"{unit.path}: {line!r} splits into {got!r}, not the python and {expected!r}"]
    return []


# --- Hostile strings --------------------------------------------------------------------------

PAYLOADS = [
    "\n", "\r", "\x85", "\u2028", "x\nExecStartPre=+/bin/sh -c 'touch /tmp/x'",
    '"; } location /leak/ { alias /etc/; autoindex on; } #',
    "$(touch /tmp/x)", "`id`", "; rm -rf / #", "'", '"', "\\", "x\\", "%n", "%%", "$HOME",
    "${JWT_SECRET}", "{root}", "{0}", "{}", '{"a": {"b": [1]}}', "../../etc/passwd",
    "/etc/shadow", "root", "root\n", "\x00", "\t", "a\tb", "аitbc", "x" * 10_000, "",
    " ", "  \t ", "a b", "#", ";", "{", "}",
]
_NASTY = st.sampled_from(list("\n\r\t\x00\x85\u2028 ;{}\"'\\$%`#&|<>()*?[]/.:@-_aZ09а"))


def hostile(original) -> st.SearchStrategy[str]:
    payload = st.sampled_from(PAYLOADS)
    parts = [payload, st.text(max_size=30), st.text(alphabet=_NASTY, max_size=20)]
    if isinstance(original, str | IPv4Address) and str(original):
        text = str(original)
        parts += [payload.map(lambda p: text + p), payload.map(lambda p: p + text),
                  st.text(alphabet=_NASTY, max_size=4).map(lambda p: text + p)]
    return st.one_of(*parts)


def _report(slot: Slot, new: str, outcome: Outcome) -> str:
    shown = new if len(new) <= 80 else f"{new[:40]}...({len(new)} chars)"
    return f"host {slot.node} {slot.path_for(new)} = {shown!r}: " + " | ".join(outcome.failures)


# --- Tests ------------------------------------------------------------------------------------


def test_every_field_has_a_place_and_the_seeded_render_is_accepted():
    hosts, rendered = _base()
    assert sorted(rendered) == ["aitbc", "at1", "ns3-aitbc", "ns3-root"]
    assert len(FIELDS) >= 75
    for name in FIELDS:
        s = slot(name)
        assert check(s, str(s.old)).failures == [], name


@pytest.mark.parametrize("name", list(FIELDS))
def test_known_payloads(name):
    """Every listed payload alone, and after the field's own value (past a start anchor)."""
    s = slot(name)
    failures = []
    for payload in PAYLOADS:
        for new in {payload, f"{s.old}{payload}"}:
            outcome = check(s, new)
            if outcome.failures:
                failures.append(_report(s, new, outcome))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", list(FIELDS))
def test_no_field_takes_a_control_character(name):
    """No context takes one, rendered or not: a pattern anchored with `$` lets a newline through."""
    s = slot(name)
    accepted = [new for char in ("\n", "\r", "\t", "\x00", "\x85", "\u2028")
                for new in (f"{s.old}{char}", f"{char}{s.old}")
                if not check(s, new).refused]
    assert not accepted, f"host {s.node} {s.path_for(str(s.old))}: accepted {accepted!r}"


# derandomize: CI runs the same examples every time, so a red run is reproducible from the
# log alone and never flakes; the random part of the search is the seed, fixed per test.
# No database: nothing is written into the tree. ~25 examples per field keep the file well
# under a minute on two cores; the fixed payload sweep above covers the known classes.
@pytest.mark.parametrize("name", list(FIELDS))
@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_hostile_string_is_refused_or_inert(name, data):
    s = slot(name)
    new = data.draw(hostile(s.old), label="value")
    outcome = check(s, new)
    assert not outcome.failures, _report(s, new, outcome)


# --- One case per class of issue 13 -----------------------------------------------------------


def _edit(edits: dict[str, list[tuple[tuple, object]]]):
    hosts = copy.deepcopy(_base()[0])
    for _, _, data in hosts:
        for path, value in edits.get(data["node"], []):
            _set(data, path, value)
    return hosts


_LEAK = '"; } location /leak/ { alias /etc/; autoindex on; } #'
_ESCAPE = "x\nExecStartPre=+/bin/sh -c 'touch /tmp/x'"
_SVC = ("apps", 0, "services", 0)
_HEALTH = ("nginx_sites", 0, "routes", 15)  # aitbc: "/health", a status route
_AT1_ROOT = ("nginx_sites", 0, "routes", 0)  # at1: "/", proxied to aitbc's nginx
# (id, edits per node, the host, field and value a refusal must name; None: must be accepted)
CLASSES = [
    ("status-body-injection", {"aitbc": [((*_HEALTH, "body"), _LEAK)]}, None),
    ("description-newline", {"aitbc": [((*_SVC, "description"), _ESCAPE)]},
     ("aitbc", "apps[0].services[0].description", _ESCAPE)),
    ("asgi-newline", {"aitbc": [((*_SVC, "asgi"), "app.main:app\nExecStartPre=+/bin/true")]},
     ("aitbc", "apps[0].services[0].asgi", "app.main:app\nExecStartPre=+/bin/true")),
    ("wan-interface-shell", {"ns3-root": [(("wan_interface",), "eth0 $(touch /tmp/x)")]},
     ("ns3-root", "wan_interface", "eth0 $(touch /tmp/x)")),
    ("acme-email-shell", {"at1": [(("acme_email",), "admin@bubuit.net; touch /tmp/x #")]},
     ("at1", "acme_email", "admin@bubuit.net; touch /tmp/x #")),
    ("data-dir-space", {"aitbc": [(("apps", 0, "data_dirs"), ["data /etc"])]},
     ("aitbc", "apps[0].data_dirs[0]", "data /etc")),
    ("user-root-newline", {"aitbc": [(("apps", 0, "user"), "root\n")]},
     ("aitbc", "apps[0].user", "root\n")),
    ("declared-user-root-newline", {"aitbc": [(("users", 0, "name"), "root\n")]},
     ("aitbc", "users[0].name", "root\n")),
    ("unit-named-ssh", {"aitbc": [((*_SVC, "unit"), "ssh")]},
     ("aitbc", "apps[0].services[0].unit", "ssh")),
    ("proxy-to-own-nginx", {"at1": [((*_AT1_ROOT, "node"), "at1")]},
     ("at1", "nginx_sites[0].routes[0].node", "at1")),
    ("bridge-loopback", {"aitbc": [(("bridge_address",), "127.0.0.1")]},
     ("aitbc", "bridge_address", "127.0.0.1")),
    ("bridge-unspecified", {"aitbc": [(("bridge_address",), "0.0.0.0")]},
     ("aitbc", "bridge_address", "0.0.0.0")),
    ("two-hosts-one-bridge", {"ns3-aitbc": [(("bridge_address",), "10.1.223.93")]},
     ("ns3-aitbc", "bridge_address", "10.1.223.93")),
    ("forward-outside-bridge", {"ns3-aitbc": [(("bridge_address",), "10.9.9.9")]},
     ("ns3-root", "firewall.forwards[0].node", "10.9.9.9")),
    ("two-sites-one-config", {"ns3-root": [(("nginx_sites",), lambda sites: [*sites, {
        "config_name": "aitbc.keisanki.net", "server_name": "status.keisanki.net", "listen": 80,
        "routes": [{"location": "/", "type": "status", "status": 200, "body": "OK"}]}])]},
     ("ns3-root", "nginx_sites[].config_name", "aitbc.keisanki.net")),
    ("secret-in-command", {"aitbc": [(("apps", 1, "services", 0, "command"),
                                       "-m aitbc_chain.main --keys $ADMIN_API_KEYS")]},
     ("aitbc", "apps[1].services[0].command", "-m aitbc_chain.main --keys $ADMIN_API_KEYS")),
    ("node-escapes-out", {"ns3-aitbc": [(("node",), "../escaped")]},
     ("ns3-aitbc", "node", "../escaped")),
    ("env-value-newline", {"aitbc": [(("apps", 1, "env", "PROPOSER_ID"), "node-1\nEVIL=1")]},
     ("aitbc", "apps[1].env.PROPOSER_ID", "node-1\nEVIL=1")),
    ("braces-in-command-and-env", {"aitbc": [
        (("apps", 1, "services", 0, "command"), "-m aitbc_chain.main --db {root}/data --x {0}{}"),
        (("apps", 1, "env", "PROPOSER_ID"), '{"a": {"b": [1]}} {root} {0} {}')]}, None),
    ("root-with-shell", {"aitbc": [(("apps", 3, "root"), "/opt/wallet daemon;touch x")]},
     ("aitbc", "apps[3].root", "/opt/wallet daemon;touch x")),
    ("sshd-line-injection", {"at1": [(("sshd", "tcp_forwarding"), "local\nPermitRootLogin yes")]},
     ("at1", "sshd.tcp_forwarding", "local\nPermitRootLogin yes")),
    ("sshd-forwarding-local", {"aitbc": [(("sshd", "tcp_forwarding"), "local")]}, None),
]


@pytest.mark.parametrize("case", CLASSES, ids=[c[0] for c in CLASSES])
def test_issue_class(case):
    name, edits, refusal = case
    data = {d["node"]: d for _, _, d in _base()[0]}
    assert data["aitbc"]["nginx_sites"][0]["routes"][15]["location"] == "/health"
    assert data["at1"]["nginx_sites"][0]["routes"][0]["location"] == "/"
    hosts = _edit(edits)
    try:
        fleet = _build(hosts)
        rendered = render_fleet(fleet)
    except ModelError as exc:
        assert refusal is not None, f"refused, but must be accepted and inert: {exc}"
        node, path, value = refusal
        named = [p for p in exc.problems
                 if node in p.where and (p.field == path or p.field.startswith(f"{path}."))]
        assert named, f"no problem names host {node}, field {path}: {exc}"
        assert any(repr(value) in p.message or str(value) in p.message for p in named), \
            f"no problem for {path} names the value {value!r}: {exc}"
        return
    assert refusal is None, f"accepted; must be refused naming {refusal}"
    base = _base()[1]
    if name == "status-body-injection":
        site = next(f for f in rendered["aitbc"] if f.kind == "nginx")
        was = next(f for f in base["aitbc"] if f.path == site.path)
        assert _check_nginx(site, was) == []
        assert _check_body(rendered["aitbc"], "/health", _LEAK) == []
    if name == "braces-in-command-and-env":
        app = fleet.hosts["aitbc"].apps[1]
        svc = app.services[0]
        unit = next(f for f in rendered["aitbc"] if f.path.endswith(f"/{svc.unit}.service"))
        assert (f"ExecStart={app.venv}/bin/python -m aitbc_chain.main --db {app.root}/data "
                "--x {0}{}") in _lines(unit.content)
        env = next(f for f in rendered["aitbc"] if f.kind == "env" and f.unit == svc.unit)
        assert _env_entries(env.content)["PROPOSER_ID"] == f'{{"a": {{"b": [1]}}}} {app.root} {{0}} {{}}'
    if name == "sshd-forwarding-local":
        new, was = (next(f for f in files["aitbc"] if f.kind == "sshd") for files in (rendered, base))
        assert _check_sshd(new, was) == [] and "\nAllowTcpForwarding local\n" in new.content
