"""Shared state on a host: directories apps share (`shared_dirs`), the files generated into them
(`generated_files`) and the groups they use (`unix_groups`). What the model refuses (naming host,
field and value), what each unit is granted (its access lines), what the plan holds, and what a
change of a generated file sets off: its readers' restarts, the file named as the reason.

The production data declares none: each test adds them to aitbc, to the production hosts as the
loader hands them over. The node writes the chain directory, the coordinator reads it; the
wallet daemon is named nowhere and may not enter it.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
from dataclasses import replace
from functools import cache

import pytest
from pyinfra.api import Config, Inventory
from pyinfra.api import State as PyinfraState
from pyinfra.context import ctx_host, ctx_state
from unit_helpers import build_fleet, production_hosts

from aitbc_infra import generated_files
from aitbc_infra.activation import ReadBy, Restart
from aitbc_infra.decision import NOTHING, RESTART, converged, decide
from aitbc_infra.diff import base_state
from aitbc_infra.docs import render_docs
from aitbc_infra.drift import PathState, State
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.host_names import DEPLOY_HISTORY, PENDING_DIR
from aitbc_infra.model import GeneratedFile
from aitbc_infra.plan import Directory, host_plan
from aitbc_infra.render import render_fleet
from aitbc_infra.running import unit_inputs
from aitbc_infra.secrets import SecretStore, needed
from aitbc_infra.shared_state import GROUP_READ_UMASK, PRIVATE_UMASK, access
from deploys import managed
from deploys.base import group_command
from deploys.facts import GroupEntries
from deploys.state import HostState

HOST = "aitbc"
GROUP = "aitbc-chain-readers"
CHAIN_DIR = "/var/lib/aitbc/chain"
GENESIS = f"{CHAIN_DIR}/genesis.json"
KEY = f"{CHAIN_DIR}/proposer.key"
NODE_UNITS = ("aitbc-blockchain-schema-1", "aitbc-blockchain-node-1", "aitbc-blockchain-rpc-1")


def shared(data: dict) -> None:
    """The chain directory (the node writes, the coordinator reads), its genesis from a template
    and the node's key from a secret."""
    data["unix_groups"] = [{"name": GROUP}]
    data["shared_dirs"] = [{"path": CHAIN_DIR, "owner": "aitbc-chain", "group": GROUP,
                            "mode": "2750", "writers": ["blockchain-node"],
                            "readers": ["coordinator-api"]}]
    data["generated_files"] = [
        {"path": GENESIS, "group": GROUP, "mode": "0640", "template": "genesis.json.j2",
         "values": {"timestamp": 1767225600, "proposers": ["node-1", 'quote" and \\ back']},
         "used_by": ["blockchain-node", "coordinator-api"]},
        {"path": KEY, "group": "aitbc-chain", "mode": "0640", "secret": "PROPOSER_KEY",
         "used_by": ["blockchain-node"]},
    ]


def _hosts(*edits) -> list[tuple[str, list[str], dict]]:
    return production_hosts(HOST, *edits)


@cache
def fleet_with_shared_state() -> Fleet:
    return build_fleet(_hosts(shared))


def _app(data: dict, name: str) -> dict:
    return next(a for a in data["apps"] if a["name"] == name)


# The model: what shared state may be ----------------------------------------------------------


def _entry_edit(kind: str, index: int):
    """edit(**fields): an edit setting those fields of entry `index` of aitbc's `kind`."""
    def fields(**values):
        return lambda data: data[kind][index].update(values)
    return fields


chain_dir = _entry_edit("shared_dirs", 0)
genesis = _entry_edit("generated_files", 0)
key = _entry_edit("generated_files", 1)


def another_dir(**fields):
    def edit(data: dict) -> None:
        data["shared_dirs"].append({"path": "/var/lib/aitbc/wallet", "owner": "aitbc-wallet",
                                    "group": GROUP, "mode": "2750",
                                    "writers": ["wallet-daemon"], **fields})
    return edit


def also_group(name: str):
    return lambda data: data["unix_groups"].append({"name": name})


def without_timestamp(data: dict) -> None:
    del data["generated_files"][0]["values"]["timestamp"]


# (case, edit of aitbc's shared state, the field named, what the problem says). Each problem
# also names the host; a value, where one is refused, is shown.
REFUSED = [
    ("relative path", chain_dir(path="var/lib/chain"), "shared_dirs[0].path",
     ["must be absolute", "'var/lib/chain'"]),
    ("path climbing out", chain_dir(path="/var/lib/aitbc/../etc"), "shared_dirs[0].path",
     ["normalised", "'/var/lib/aitbc/../etc'"]),
    ("path in /etc", chain_dir(path="/etc/aitbc-chain"), "shared_dirs[0].path",
     ["/etc/aitbc-chain: a shared directory lives below /var/lib, /srv, /opt"]),
    ("path in a home", chain_dir(path="/home/oib/chain"), "shared_dirs[0].path",
     ["lives below /var/lib, /srv, /opt"]),
    ("the deploy's state", chain_dir(path="/var/lib/aitbc"), "shared_dirs[0].path",
     ["/var/lib/aitbc is, holds or lies in the deploy's pending directory"]),
    ("inside the pending directory", chain_dir(path=f"{PENDING_DIR}/chain"),
     "shared_dirs[0].path", ["lies in the deploy's pending directory"]),
    ("the deploy's history", chain_dir(path=f"{DEPLOY_HISTORY}"), "shared_dirs[0].path",
     ["is, holds or lies in the deploy's history"]),
    ("inside an app's root", chain_dir(path="/opt/coordinator-api/chain"), "shared_dirs[0].path",
     ["is, holds or lies in the root of app coordinator-api (/opt/coordinator-api)"]),
    ("an app's root itself", chain_dir(path="/opt/wallet-daemon"), "shared_dirs[0].path",
     ["the root of app wallet-daemon"]),
    ("nested in another", another_dir(path=f"{CHAIN_DIR}/wallet"), "shared_dirs[1].path",
     [f"lies in shared directory {CHAIN_DIR}: shared directories do not nest"]),
    ("owner not a user", chain_dir(owner="aitbc-nobody"), "shared_dirs[0].owner",
     ["user 'aitbc-nobody' is not declared in 'users'"]),
    ("owner a system account", chain_dir(owner="www-data"), "shared_dirs[0].owner",
     ["'www-data' is a system account"]),
    ("group not declared", chain_dir(group="aitbc-other"), "shared_dirs[0].group",
     ["group 'aitbc-other' is neither declared in 'unix_groups' nor a user's own group"]),
    ("a system group", chain_dir(group="disk"), "shared_dirs[0].group",
     ["'disk' is a system group"]),
    ("a user's own group for another user's app", chain_dir(group="aitbc-chain"),
     "shared_dirs[0].group", ["group 'aitbc-chain' is user aitbc-chain's own",
                              "apps coordinator-api would open"]),
    ("readable by every user", chain_dir(mode="2755"), "shared_dirs[0]",
     ["mode 2755 gives every other user of the host access (last digit 5)"]),
    ("writable by every user", chain_dir(mode="0777"), "shared_dirs[0]",
     ["gives every other user"]),
    ("setuid", chain_dir(mode="4750"), "shared_dirs[0]", ["the setuid bit means nothing"]),
    ("mode as a number", chain_dir(mode=0o2750), "shared_dirs[0].mode",
     ["valid string", "(value 1512)"]),
    ("mode not octal", chain_dir(mode="2780"), "shared_dirs[0].mode",
     ["not an octal mode", "'2780'"]),
    ("mode in letters", chain_dir(mode="rwxr-x---"), "shared_dirs[0].mode", ["not an octal mode"]),
    ("no app at all", chain_dir(writers=[], readers=[]), "shared_dirs[0]",
     [f"shared directory {CHAIN_DIR} names no writer or reader app"]),
    ("unknown writer", chain_dir(writers=["explorer"]), "shared_dirs[0].writers[0]",
     ["'explorer' is no app of this host"]),
    ("an app named twice", chain_dir(readers=["coordinator-api", "coordinator-api"]),
     "shared_dirs[0].readers[1]", ["app 'coordinator-api' named twice"]),
    ("a writer also a reader", chain_dir(readers=["coordinator-api", "blockchain-node"]),
     "shared_dirs[0].readers", ["['blockchain-node'] also among the writers"]),
    ("a reader that cannot read", chain_dir(mode="2700"), "shared_dirs[0].readers[0]",
     ["app coordinator-api would get --- on", "mode '2700'", f"its units are in group {GROUP}",
      "it needs r-x"]),
    ("a writer that cannot write", chain_dir(owner="root"), "shared_dirs[0].writers[0]",
     ["app blockchain-node would get r-x", "it needs rwx"]),
    ("an app running as the owner", chain_dir(owner="aitbc-wallet", mode="2770"),
     "shared_dirs[0].readers",
     ["app wallet-daemon is named nowhere but could enter", "it runs as aitbc-wallet, the owner"]),
    ("an app in the group for another directory", another_dir(), "shared_dirs[0].readers",
     ["app wallet-daemon is named nowhere but could enter", f"its units are in group {GROUP}"]),
    ("no setgid bit for the readers", chain_dir(mode="0750"), "shared_dirs[0].mode",
     ["'0750': the files a writer makes", f"not '{GROUP}'", "set the setgid bit ('2750')"]),
    ("a user's own group declared", also_group("aitbc-chain"), "unix_groups[1].name",
     ["'aitbc-chain' is the group of user aitbc-chain"]),
    ("a group declared twice", also_group(GROUP), "unix_groups[1].name",
     [f"group '{GROUP}' declared twice"]),
    ("a file in no shared directory", genesis(path="/var/lib/aitbc/genesis.json"),
     "generated_files[0].path", ["its directory '/var/lib/aitbc' is none"]),
    ("a file below its shared directory", genesis(path=f"{CHAIN_DIR}/sub/genesis.json"),
     "generated_files[0].path", [f"its directory '{CHAIN_DIR}/sub' is none"]),
    ("a file generated twice", key(path=GENESIS, secret=None, template="genesis.json.j2"),
     "generated_files[1].path", [f"{GENESIS} generated twice"]),
    ("an unknown template", genesis(template="chain.json.j2"), "generated_files[0].template",
     ["'chain.json.j2' is no file of templates/files/", "genesis.json.j2"]),
    ("a template outside templates/files", genesis(template="../systemd/service.j2"),
     "generated_files[0].template", ["not a valid template file name"]),
    ("a template and a secret", genesis(secret="PROPOSER_KEY"), "generated_files[0]",
     ["exactly one of 'template' or 'secret'"]),
    ("a secret with values", key(values={"x": 1}), "generated_files[1]",
     ["'values' and 'secrets' fill a 'template'"]),
    ("a secret file others may read", key(mode="0644"), "generated_files[1]",
     [f"generated file {KEY} holds secrets: mode 0644 gives more than 0640"]),
    ("a secret file the group may write", key(mode="0660"), "generated_files[1]",
     ["gives more than 0640"]),
    ("an executable file", genesis(mode="0750"), "generated_files[0]",
     ["neither executable nor writable by others"]),
    ("a setgid file", genesis(mode="2640"), "generated_files[0]", ["setgid"]),
    ("a user of a directory it cannot enter",
     genesis(used_by=["blockchain-node", "coordinator-api", "wallet-daemon"]),
     "generated_files[0].used_by[2]", [f"app wallet-daemon cannot enter {CHAIN_DIR}"]),
    ("a user that cannot read it", genesis(mode="0600"), "generated_files[0].used_by[0]",
     [f"app blockchain-node could not read {GENESIS}", "mode '0600'"]),
    ("a secret another reader of its directory could read", key(group=GROUP),
     "generated_files[1].used_by",
     [f"{KEY} holds secrets, and apps coordinator-api could read it"]),
    ("a user's own group given to another app",
     key(used_by=["blockchain-node", "coordinator-api"]), "generated_files[1].group",
     ["group 'aitbc-chain' is user aitbc-chain's own"]),
    ("an unknown user of a file", genesis(used_by=["explorer"]), "generated_files[0].used_by[0]",
     ["'explorer' is no app of this host"]),
    ("a value the template lacks", without_timestamp, "generated_files[0].template",
     [f"{GENESIS}: template genesis.json.j2", "no attribute 'timestamp'"]),
    ("a value spanning lines", genesis(values={"timestamp": "a\nb", "proposers": []}),
     "generated_files[0].values.timestamp", ["control characters"]),
]


@pytest.mark.parametrize(("edit", "field", "says"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_bad_shared_state_is_refused_naming_host_field_and_value(edit, field, says):
    with pytest.raises(ModelError) as info:  # a template's own errors come with the render
        render_fleet(build_fleet(_hosts(shared, edit)))
    problems = [str(p) for p in info.value.problems]
    # The field, or a part of it (pydantic names the member of a union a value failed).
    named = [p for p in problems
             if re.match(rf"host {HOST}( \[groups: [^]]*\])?: {re.escape(field)}(: |\.)", p)]
    assert named, problems
    assert any(all(s in p for s in says) for p in named), named


def test_good_shared_state_loads_and_the_production_data_declares_none(fleet):
    host = fleet_with_shared_state().hosts[HOST]
    assert [d.path for d in host.shared_dirs] == [CHAIN_DIR]
    assert [f.path for f in host.generated_files] == [GENESIS, KEY]
    assert not any(h.shared_dirs or h.generated_files or h.unix_groups
                   for h in fleet.hosts.values())


# What each unit is granted ---------------------------------------------------------------------


# (unit file, ReadWritePaths, SupplementaryGroups (None: no line), UMask)
ACCESS = [
    ("aitbc-blockchain-node-1.service", f"/opt/blockchain-node/data {CHAIN_DIR}", GROUP,
     GROUP_READ_UMASK),
    ("aitbc-blockchain-schema-1.service", f"/opt/blockchain-node/data {CHAIN_DIR}", GROUP,
     GROUP_READ_UMASK),
    ("coordinator-api.service", "/opt/coordinator-api/data", GROUP, PRIVATE_UMASK),
    # A candidate release runs with its unit's access: it reads the same generated files.
    ("coordinator-api-candidate@.service", "/opt/coordinator-api/data", GROUP, PRIVATE_UMASK),
    ("aitbc-wallet-daemon.service", "/opt/wallet-daemon/data", None, PRIVATE_UMASK),
    ("aitbc-blockchain-node-2.service", "/opt/blockchain-node-2/data", None, PRIVATE_UMASK),
]


def _settings(content: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in content.splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            found.setdefault(name, []).append(value)
    return found


@pytest.mark.parametrize(("unit", "writes", "groups", "umask"), ACCESS, ids=[a[0] for a in ACCESS])
def test_each_unit_gets_exactly_the_access_its_app_is_given(unit, writes, groups, umask):
    files = {f.path: f for f in render_fleet(fleet_with_shared_state())[HOST]}
    settings = _settings(files[f"/etc/systemd/system/{unit}"].content)
    assert settings["ReadWritePaths"] == [writes]
    assert settings.get("SupplementaryGroups") == ([groups] if groups else None)
    assert settings["UMask"] == [umask]
    assert settings["ProtectSystem"] == ["strict"]


def test_units_of_apps_the_shared_state_does_not_name_render_as_before(fleet):
    """Only the unit files of the node (it runs no candidate) and of the coordinator differ
    from the production render; the new files are the generated ones; other hosts unchanged."""
    before, after = render_fleet(fleet), render_fleet(fleet_with_shared_state())
    old = {f.path: f.content for f in before[HOST]}
    new = {f.path: f.content for f in after[HOST]}
    assert set(new) - set(old) == {GENESIS, KEY}
    assert {path for path in old if old[path] != new[path]} == {
        f"/etc/systemd/system/{unit}" for unit in (
            *(f"{u}.service" for u in NODE_UNITS), "coordinator-api.service",
            "coordinator-api-candidate@.service")}
    assert all(after[host] == before[host] for host in ("at1", "ns3-aitbc", "ns3-root"))


def test_access_is_nothing_for_an_app_not_named():
    host = fleet_with_shared_state().hosts[HOST]
    wallet = next(a for a in host.apps if a.name == "wallet-daemon")
    assert access(host, wallet) == access(host.model_copy(update={"shared_dirs": []}), wallet)


# The generated files ---------------------------------------------------------------------------


def test_a_json_file_encodes_every_value_and_a_secret_file_is_the_secret():
    files = {f.path: f for f in render_fleet(fleet_with_shared_state())[HOST]}
    text = files[GENESIS]
    assert (text.kind, text.mode, text.owner, text.group, text.secret) == (
        "json", "0640", "root", GROUP, False)
    assert json.loads(text.content) == {"chain_id": "ait-devnet", "block_time_seconds": 2,
                                        "timestamp": 1767225600,
                                        "proposers": ["node-1", 'quote" and \\ back']}
    key_file = files[KEY]
    assert (key_file.kind, key_file.owner, key_file.group, key_file.secret) == (
        "text", "root", "aitbc-chain", True)
    assert key_file.content == "<redacted:PROPOSER_KEY>"  # offline: never a value


def test_a_secret_reaches_its_file_json_encoded_and_nowhere_else(monkeypatch):
    fleet = build_fleet(_hosts(shared, genesis(secrets=["PROPOSER_KEY"])))
    environ = {"JWT_SECRET__AT1": "j1", "ADMIN_API_KEYS__AT1": "k1",
               "SESSION_SECRET__AT1": "s1", "WALLET_ENCRYPTION_KEY__AT1": "w1",
               "JWT_SECRET__NS3_ROOT": "j2", "ADMIN_API_KEYS__NS3_ROOT": "k2",
               "PROPOSER_KEY__AT1": 'se"cret\\value'}
    assert needed(fleet)[("at1", "PROPOSER_KEY")] == [f"host {HOST}, file {GENESIS}",
                                                        f"host {HOST}, file {KEY}"]
    store = SecretStore.for_fleet(fleet, environ)
    files = {f.path: f for f in render_fleet(fleet, store.lookup)[HOST]}
    assert files[KEY].content == 'se"cret\\value'
    # A genesis holding a secret (its `secrets`) is secret itself: at most 0640, never shown.
    assert files[GENESIS].secret
    assert not [path for path, f in files.items() if 'se"cret' in f.content and path != KEY]


def test_a_secret_file_never_shows_in_a_dry_run_diff(caplog):
    """`deploy --dry --diff`: a file holding a secret is named, its content never shown; a
    file holding none shows its lines."""
    fleet = fleet_with_shared_state()
    plan = host_plan(fleet, fleet.hosts[HOST], lambda node, name: "s3cret-value")
    files = {f.path: f for f in plan.files}
    config = Config()
    config.DIFF = True
    inventory = Inventory((["h"], {}))
    with ctx_state.use(PyinfraState(inventory, config)), ctx_host.use(inventory.get_host("h")), \
            caplog.at_level(logging.INFO):
        for path in (KEY, GENESIS):
            list(managed.file(plan, State(), files[path]))
    assert f"Will create {KEY} (holds secrets: content not shown)" in caplog.text
    assert "s3cret-value" not in caplog.text
    assert '"chain_id": "ait-devnet"' in caplog.text


@pytest.fixture
def file_templates(tmp_path, monkeypatch):
    """templates/files/ at a directory of the test's own."""
    monkeypatch.setattr(generated_files, "FILE_TEMPLATES", tmp_path)
    generated_files._environment.cache_clear()
    yield tmp_path
    generated_files._environment.cache_clear()


def _entry(template: str, **values) -> GeneratedFile:
    # model_construct: values the model would refuse, to prove the render refuses them too.
    return GeneratedFile.model_construct(path="/srv/x/f", owner="root", group="root", mode="0640",
                                         template=template, values=values, secrets=[],
                                         secret=None, used_by=[])


# (case, template, its text, values, the content, or the error's words)
TEMPLATES = [
    ("a string closing its quote", "a.json.j2", '{"a": {{ values.a }}}\n', {"a": '"}, "b": {"'},
     '{"a": "\\"}, \\"b\\": {\\""}\n'),
    ("a line separator", "a.json.j2", '{"a": {{ values.a }}}\n', {"a": "\u2028"},
     '{"a": "\\u2028"}\n'),
    ("a list", "a.json.j2", '{"a": {{ values.a }}}\n', {"a": [1, True, "x"]},
     '{"a": [1, true, "x"]}\n'),
    ("a template quoting a value itself", "a.json.j2", '{"a": "{{ values.a }}"}\n', {"a": "x"},
     "does not render JSON"),
    ("an unknown value", "a.json.j2", '{"a": {{ values.b }}}\n', {"a": "x"}, "no attribute 'b'"),
    ("a syntax error", "a.json.j2", '{"a": {{ values.a }\n', {"a": "x"},
     "template a.json.j2 (line 1)"),
    ("a text value", "a.conf.j2", "name = {{ values.a }}\n", {"a": "one"}, "name = one\n"),
    ("a text value adding a line", "a.conf.j2", "name = {{ values.a }}\n",
     {"a": "one\nroot = yes"}, "a newline or another"),
]


@pytest.mark.parametrize(("name", "text", "values", "expected"), [t[1:] for t in TEMPLATES],
                         ids=[t[0] for t in TEMPLATES])
def test_a_value_never_escapes_its_place_in_a_template(file_templates, name, text, values,
                                                       expected):
    (file_templates / name).write_text(text)
    host = fleet_with_shared_state().hosts[HOST]
    entry = _entry(name, **values)
    if expected.endswith("\n"):
        assert generated_files.content(host, entry, lambda n: f"<{n}>") == expected
    else:
        with pytest.raises(generated_files.GeneratedFileError, match=re.escape(expected)) as info:
            generated_files.content(host, entry, lambda n: f"<{n}>")
        assert all(str(v) not in str(info.value) for v in values.values() if len(str(v)) > 3)


# The plan and the state read --------------------------------------------------------------------


def test_the_plan_holds_the_directory_the_files_and_the_groups():
    fleet = fleet_with_shared_state()
    plan = host_plan(fleet, fleet.hosts[HOST])
    assert Directory(CHAIN_DIR, "2750", "aitbc-chain", GROUP) in plan.directories
    assert plan.groups == [GROUP]
    files = {f.path: f for f in plan.files}
    readers = ReadBy((Restart("coordinator-api", "coordinator-api"),
                      *(Restart(u, "blockchain-node") for u in NODE_UNITS)))
    assert files[GENESIS].activation == readers
    assert files[KEY].activation == ReadBy(tuple(Restart(u, "blockchain-node") for u in NODE_UNITS))
    # Read in the one round trip: the directory and the files with every other path.
    assert {CHAIN_DIR, GENESIS, KEY} <= set(plan.paths)
    command = HostState().command(paths=list(plan.paths), trees=[], globs=[], units=[],
                                  users=[], packages=[], groups=plan.groups)
    assert command.count("getent group") == 1 and GROUP in command
    # verify's "unit runs its files": a reader's unit is younger than the files it reads.
    inputs = unit_inputs(fleet.hosts[HOST], plan.files)
    assert GENESIS in inputs["coordinator-api"] and KEY not in inputs["coordinator-api"]
    assert {GENESIS, KEY} <= set(inputs["aitbc-blockchain-node-1"])


def test_the_groups_are_read_and_made(tmp_path):
    out = subprocess.run(["/bin/sh", "-c", GroupEntries().command(groups=["root", "no-such-group"])],
                         capture_output=True, text=True, check=True).stdout
    assert GroupEntries().process(out.splitlines()) == {"root"}
    assert shlex.split(group_command("a b; c")) == ["groupadd", "-r", "--", "a b; c"]


def test_a_generated_file_sets_its_readers_restart_marks_before_it_is_renamed():
    fleet = fleet_with_shared_state()
    plan = host_plan(fleet, fleet.hosts[HOST])
    entry = next(f for f in plan.files if f.path == GENESIS)
    run = PyinfraState()
    run.config = Config()
    with ctx_state.use(run):  # `put` reads the run's --diff setting
        commands = [c for c in managed.put(plan, State(), entry.path, entry.content.encode(),
                                           entry.mode, entry.owner, entry.group, entry.secret,
                                           entry.activation) if isinstance(c, str)]
    marks = [c for c in commands if "touch" in c]
    assert len(marks) == 1
    assert shlex.split(marks[0]) == ["mkdir", "-p", "--", PENDING_DIR, "&&", "touch", "--",
                                     *(f"{PENDING_DIR}/restart-{u}" for u in
                                       ("coordinator-api", *NODE_UNITS))]
    # The marks, then the rename: a run killed in between still owes the restarts.
    assert commands.index(marks[0]) == len(commands) - 2 and commands[-1].startswith("mv ")


# What a change of a generated file sets off ------------------------------------------------------


def _decision(fleet: Fleet, edit=None):
    spec = fleet.hosts[HOST]
    plan = host_plan(fleet, spec)
    releases = {app.name: "r1" for app in spec.apps}
    state = converged(spec, plan, releases)
    if edit:
        edit(state)
    return decide(spec, plan, state, releases)


def content_of(path: str):
    def edit(state) -> None:
        state.paths[path] = replace(state.paths[path], sha256="0" * 64)
    return edit


def mode_of(path: str, mode: str):
    def edit(state) -> None:
        state.paths[path] = replace(state.paths[path], mode=mode)
    return edit


def absent(path: str):
    return lambda state: state.paths.pop(path)


def mark(unit: str):
    def edit(state) -> None:
        state.paths[f"{PENDING_DIR}/restart-{unit}"] = PathState("f", "0644", "root", "root", "-")
    return edit


def with_job(data: dict) -> None:
    """A job of the coordinator's app: it reads the genesis afresh at each run."""
    _app(data, "coordinator-api")["services"].append(
        {"unit": "coordinator-report", "command": '-c "print(1)"',
         "schedule": {"every_seconds": 60}})


# (case, the fleet's extra edit, the edit of the converged state, the lines owed)
DECISIONS = [
    ("nothing", None, None, []),
    ("the genesis changed", None, content_of(GENESIS),
     [f"restart {u}: {GENESIS} changed" for u in ("coordinator-api", *NODE_UNITS)]),
    ("the genesis is new", None, absent(GENESIS),
     [f"restart {u}: {GENESIS} added" for u in ("coordinator-api", *NODE_UNITS)]),
    ("the key changed", None, content_of(KEY), [f"restart {u}: {KEY} changed" for u in NODE_UNITS]),
    ("the genesis's mode alone", None, mode_of(GENESIS, "0600"), []),
    ("the shared directory's mode alone", None, mode_of(CHAIN_DIR, "0750"), []),
    ("a run killed after writing the genesis", None, mark("coordinator-api"),
     ["restart coordinator-api: restart mark left by an unfinished run"]),
    ("a job of a reading app", with_job, content_of(GENESIS),
     [f"restart {u}: {GENESIS} changed" for u in ("coordinator-api", *NODE_UNITS)]),
]


@pytest.mark.parametrize(("extra", "edit", "lines"), [d[1:] for d in DECISIONS],
                         ids=[d[0] for d in DECISIONS])
def test_a_generated_file_change_restarts_the_units_reading_it(extra, edit, lines):
    fleet = build_fleet(_hosts(shared, extra)) if extra else fleet_with_shared_state()
    decision = _decision(fleet, edit)
    assert sorted(decision.lines()) == sorted(lines)
    for owed in decision.apps.values():  # the job is never started by a run
        assert all(u.unit != "coordinator-report.timer" or u.action == NOTHING
                   for u in owed.units)
        assert all(u.action in (RESTART, NOTHING) for u in owed.units)


def test_diff_reports_a_template_change_as_the_readers_restart():
    """`aitbc-infra diff`'s decision: the base's render standing for the host."""
    fleet = fleet_with_shared_state()
    spec = fleet.hosts[HOST]
    plan = replace(host_plan(fleet, spec), uploads=[])
    base = {f.path: {"content": f.content.replace("1767225600", "1")} for f in plan.files}
    releases = {a.name: "r1" for a in spec.apps}
    decision = decide(spec, plan, base_state(spec, plan, base, releases), releases)
    assert decision.restarts == {"coordinator-api", *NODE_UNITS}
    assert all(line.endswith(f"{GENESIS} changed") for line in decision.lines())


def test_the_docs_list_the_shared_state_only_where_there_is_some(fleet):
    assert "## Shared state" not in render_docs(fleet)
    docs = render_docs(fleet_with_shared_state())
    assert (f"| aitbc | `{CHAIN_DIR}` | aitbc-chain:{GROUP} | 2750 | blockchain-node | "
            "coordinator-api |") in docs
    assert (f"| aitbc | `{KEY}` | root:aitbc-chain | 0640 | secret `PROPOSER_KEY` | "
            "blockchain-node |") in docs
    assert f"`PROPOSER_KEY` | host {HOST}, file {KEY} | `PROPOSER_KEY__AT1` |" in docs
