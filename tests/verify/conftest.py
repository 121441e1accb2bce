"""Connections, check lists and the state they are checked against, all from one inventory.

AITBC_VERIFY_INVENTORY names the inventory (set by `aitbc-infra verify`). Hosts are reached the
way pyinfra reaches them: the same ssh_config, key and known_hosts (strict checking).

A check names the commands it reads (`probe`); they are gathered before the first check runs:
one shell script per host (and one on this machine, for probes of the public site), every
command in it running at once, every host at once. Each check then asserts on its own output.
"""

from __future__ import annotations

import os
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import testinfra

from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet, load_pyinfra_inventory
from aitbc_infra.plan import HostPlan, host_plan
from aitbc_infra.render import SecretLookup, redacted, render_fleet
from aitbc_infra.secrets import MissingSecrets, SecretStore


def inventory_path() -> Path:
    value = os.environ.get("AITBC_VERIFY_INVENTORY")
    if not value:
        raise pytest.UsageError("run the verify suite with `aitbc-infra verify --inventory FILE`")
    return Path(value)


@cache
def fleet() -> Fleet:
    return load_fleet(inventory_path())


@cache
def rendered() -> dict:
    return render_fleet(fleet())


@cache
def _secrets() -> tuple[SecretLookup, str | None]:
    """The deploy's secret values (the env files' content is compared with them), or, when
    they are not all at hand, the offline stand-ins and what is missing (names only)."""
    try:
        return SecretStore.for_fleet(fleet()).lookup, None
    except MissingSecrets as exc:
        return redacted, str(exc)


def missing_secrets() -> str | None:
    """Why the content of files holding secrets cannot be compared, or None."""
    return _secrets()[1]


@cache
def plans() -> dict[str, HostPlan]:
    """Each host's plan as the deploy computes it: every path it manages, rendered as written."""
    lookup = _secrets()[0]
    return {node: host_plan(fleet(), host, lookup) for node, host in fleet().hosts.items()}


@cache
def _connection_data() -> dict[str, dict]:
    data = {}
    for host in load_pyinfra_inventory(inventory_path()):
        d = host.data.dict()
        data[d.get("node") or host.name] = {**d, "_name": host.name}
    return data


@cache
def connect(node: str):
    d = _connection_data()[node]
    if d["_name"] == "@local":
        return testinfra.get_host("local://")
    user = f"{d['ssh_user']}@" if d.get("ssh_user") else ""
    kwargs = {}
    if d.get("ssh_config_file"):
        kwargs["ssh_config"] = d["ssh_config_file"]
    if d.get("ssh_key"):
        kwargs["ssh_identity_file"] = d["ssh_key"]
    return testinfra.get_host(f"ssh://{user}{d.get('ssh_hostname') or node}", **kwargs)


def pytest_collection_modifyitems(items):
    # One block of lines per host: stable sort on the host each check is about.
    # A check with nothing declared to check (an empty parameter set) sorts last.
    def host(item) -> str:
        node = getattr(item, "callspec", None) and item.callspec.params.get("node")
        return node if isinstance(node, str) else "~"

    items.sort(key=host)


CONTROL = "@control"  # where probes of the public site run: the machine running verify
PROBES: dict[str, dict[str, None]] = {}  # where -> its commands, in order, each once


def checks(triples, probe=None, on_control=False):
    """Parametrize (node, thing, label) triples as (node, thing), with ids `node: label`.

    probe(node, thing) -> the commands the check reads, run on the node (or on this machine):
    the `probed` fixture hands the check their results, in that order.
    """
    triples = list(triples)

    def mark(test):
        if not triples:
            # Nothing of this kind is declared: no check, rather than one reported as skipped.
            test.__test__ = False
            return test
        if probe:
            test.probe, test.on_control = probe, on_control
            for n, t, _ in triples:
                PROBES.setdefault(CONTROL if on_control else n, {}).update(dict.fromkeys(probe(n, t)))
        return pytest.mark.parametrize(("node", "thing"), [(n, t) for n, t, _ in triples],
                                       ids=[f"{n}: {label}" for n, _, label in triples])(test)
    return mark


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str


def batch_script(commands: list[str]) -> str:
    """Run every command at once; then, in order, print each one's `status size` line and output."""
    runs = "".join(f'( ( {c}\n) >"$d/{i}" 2>&1 </dev/null; echo $? >"$d/{i}.rc" ) &\n'
                   for i, c in enumerate(commands))
    return ('d=$(mktemp -d) || exit 1\ntrap \'rm -rf "$d"\' EXIT\n' + runs + "wait\n"
            f"for i in $(seq 0 {len(commands) - 1}); do "
            'echo "$(cat "$d/$i.rc") $(wc -c <"$d/$i")"; cat "$d/$i"; done\n')


# The outside view: a network namespace on this machine to run the control probes in (the
# sandbox's, made by `aitbc-infra verify`); unset, they run here, as an outsider's would.
OUTSIDE_NETNS = os.environ.get("AITBC_VERIFY_OUTSIDE_NETNS")


def target(where: str):
    return testinfra.get_host("local://") if where == CONTROL else connect(where)


# A host's whole batch ends within this: a probe that hangs (an unanswered connection, a wedged
# systemctl) fails its checks instead of holding verify forever.
BATCH_TIMEOUT = 120


def run_batch(host, commands: list[str], netns: str | None = None) -> dict[str, Result]:
    inside = ("ip", "netns", "exec", q(netns)) if netns else ()
    out = host.run(" ".join(["timeout", str(BATCH_TIMEOUT), *inside, "sh", "-c", "%s"]),
                   batch_script(commands))
    data, at, results = out.stdout_bytes, 0, {}
    for command in commands:
        line_end = data.find(b"\n", at)
        if line_end < 0:
            break
        rc, size = map(int, data[at:line_end].split())
        at = line_end + 1 + size
        results[command] = Result(rc, data[line_end + 1:at].decode(errors="replace"))
    # A host that did not answer: every command failed, with what ssh said.
    lost = Result(out.rc or 255, f"unreachable: {out.stderr.strip()}")
    return {c: results.get(c, lost) for c in commands}


@pytest.fixture(scope="session")
def gathered():
    """where -> future of {command: Result}: every host's probes, all hosts in parallel."""
    targets = {where: target(where) for where in PROBES}  # the inventory read here, not in threads
    with ThreadPoolExecutor(max_workers=max(len(PROBES), 1)) as pool:
        yield {where: pool.submit(run_batch, targets[where], list(cmds),
                                  OUTSIDE_NETNS if where == CONTROL else None)
               for where, cmds in PROBES.items()}


@pytest.fixture
def probed(request, gathered) -> list[Result]:
    """The results of this check's probe commands."""
    test, params = request.function, request.node.callspec.params
    node, thing = params["node"], params["thing"]
    results = gathered[CONTROL if test.on_control else node].result()
    return [results[c] for c in test.probe(node, thing)]


def q(value) -> str:
    return shlex.quote(str(value))
