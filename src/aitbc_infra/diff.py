"""`aitbc-infra diff --base REF`: what a change does to each host, from renders alone.

Each side is rendered by its own code, templates and data (REF from `git archive`, the working
tree as it is), in a subprocess, so a change to a template or to the model shows up as it will
deploy. What the change sets off is the deploy's own decision (aitbc_infra/decision.py) for the
working tree's plan, with the base's render standing for the host's state: the lines a deploy
prints (`restart UNIT: PATH changed`), the same words. No host is contacted and no secret is
read: offline renders carry placeholders only. Exit 0: no change; 1: changes; 2: error.
With --json, one document on stdout (schemas/diff.json): per host each file with its unified
diff, and the decision as data.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.decision import Decision, converged, decide
from aitbc_infra.drift import State, sha256
from aitbc_infra.errors import UserError
from aitbc_infra.json_output import print_document
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan, host_plan

# Runs inside the rendered side's own tree: prints {node: {path: file}} and the app packages.
# An app's "release" is the key of its release inputs (sources, requirements, constraints):
# a side too old to compute it gives None, which counts as a change. A side that judges its
# sources first (release_problems) names every one that cannot be read safely, as `check`
# does, and exits CLEAN_ERROR: nothing of a FIFO, a device or a link loop is ever read.
CLEAN_ERROR = 3
_RENDER_SCRIPT = f"""
import json, sys
from aitbc_infra.fleet import ModelError
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet
try:
    from aitbc_infra.sources import release_inputs
except ImportError:
    release_inputs = None
try:
    from aitbc_infra.sources import release_problems
except ImportError:  # a side older than the judged walk of the sources
    release_problems = None
def release(h, a):
    return release_inputs(h, a).key() if release_inputs else None
try:
    fleet = load_fleet(sys.argv[1], root=sys.argv[2])
    problems = release_problems(fleet) if release_problems else []
    if problems:
        raise ModelError(problems)
    out = {{"files": {{n: {{f.path: {{"content": f.content, "secret": f.secret}}
                           for f in files}}
                       for n, files in render_fleet(fleet).items()}},
           "apps": {{n: [{{"name": a.name, "units": [s.unit for s in a.services],
                         "release": release(h, a),
                         "secrets": sorted({{*a.secrets, *getattr(a, "secret_lists", [])}})}}
                        for a in h.apps] for n, h in fleet.hosts.items()}}}}
except ModelError as exc:
    print(exc, file=sys.stderr)
    sys.exit({CLEAN_ERROR})
print(json.dumps(out))
"""


@dataclass
class HostChanges:
    files: dict[str, str] = field(default_factory=dict)  # path -> unified diff
    restarts: set[str] = field(default_factory=set)
    reloads: set[str] = field(default_factory=set)
    owed: list[str] = field(default_factory=list)  # the decision's lines, as a deploy prints them
    how: dict[str, str] = field(default_factory=dict)  # path -> ADDED, REMOVED or CHANGED
    decision: dict | None = None  # Decision.as_dict()


ADDED, REMOVED, CHANGED = "added", "removed", "changed"
VERSION = 1  # of the --json document's shape (schemas/diff.json)


def _render(tree: Path, inventory: str, side: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    proc = subprocess.run([sys.executable, "-c", _RENDER_SCRIPT, str(tree / inventory), str(tree)],
                          cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode == CLEAN_ERROR:  # problems of the data, each named: all of them
        raise UserError(f"cannot render {side}: {proc.stderr.strip()}")
    if proc.returncode != 0:  # a traceback: its end says where
        detail = proc.stderr.strip().splitlines()
        raise UserError(f"cannot render {side}: " + "\n".join(detail[-15:]))
    return json.loads(proc.stdout)


def _export(ref: str, into: Path) -> None:
    proc = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", ref],
                          capture_output=True)
    if proc.returncode != 0:
        raise UserError(f"unknown git ref {ref!r}: {proc.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(into, filter="data")


def _mask(text: str, secret_names: set[str]) -> str:
    """Safety net: a secret's value never shows, whatever put it into a render."""
    if not secret_names:
        return text
    pattern = re.compile(r'^([+\- ]?)(' + "|".join(map(re.escape, sorted(secret_names)))
                         + r')=(?!"<redacted:).*$', re.M)
    return pattern.sub(r'\1\2="<redacted:\2>"', text)


def _releases(side: dict, node: str) -> dict[str, str]:
    """{app: its release} on one side; a release no side could name (None) differs from all."""
    return {a["name"]: (a["release"] or "unknown")[:16] for a in side["apps"].get(node, [])}


def base_state(spec: HostSpec, plan: HostPlan, files: dict[str, dict],
               releases: dict[str, str]) -> State:
    """A host as the base left it, for all an offline render tells: each rendered file as the
    base renders it (absent where it renders none), each app at its base release (none when the
    base has no such app). Everything else is as the plan has it, every unit runs, nothing is
    pending: a host is converged on its base commit."""
    state = converged(spec, plan, {a.name: releases.get(a.name, "") for a in spec.apps})
    for app in spec.apps:
        if app.name not in releases:
            del state.paths[app.venv]
    for f in plan.files:
        if f.path in files:
            state.paths[f.path] = replace(state.paths[f.path],
                                          sha256=sha256(files[f.path]["content"].encode()))
        else:
            del state.paths[f.path]
    return state


def decisions(base: dict, head: dict, inventory: str) -> dict[str, Decision]:
    """{node: what deploying the working tree sets off on a host converged on the base}."""
    fleet = load_fleet(PROJECT_ROOT / inventory, root=PROJECT_ROOT)
    found = {}
    for node, spec in fleet.hosts.items():
        # The uploads (certificates, CAs, the uv binary) are files of the deploying machine,
        # the same on both sides as far as a render knows: no part of the comparison.
        plan = replace(host_plan(fleet, spec), uploads=[])
        state = base_state(spec, plan, base["files"].get(node, {}), _releases(base, node))
        found[node] = decide(spec, plan, state, _releases(head, node))
    return found


def compare(base: dict, head: dict, decided: dict[str, Decision]) -> dict[str, HostChanges]:
    secret_names = {s for side in (base, head) for apps in side["apps"].values()
                    for a in apps for s in a["secrets"]}
    hosts: dict[str, HostChanges] = {}
    for node in sorted(set(base["files"]) | set(head["files"])):
        old, new = base["files"].get(node, {}), head["files"].get(node, {})
        changes = HostChanges()
        for path in sorted(set(old) | set(new)):
            a, b = old.get(path, {}).get("content", ""), new.get(path, {}).get("content", "")
            if a == b:
                continue
            diff = difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                        f"{node}:{path}" if path in old else "/dev/null",
                                        f"{node}:{path}" if path in new else "/dev/null")
            changes.files[path] = _mask("".join(diff), secret_names)
            changes.how[path] = (CHANGED if path in old and path in new
                                 else ADDED if path in new else REMOVED)
        if node in decided:
            changes.restarts, changes.reloads = decided[node].restarts, decided[node].reloads
            changes.owed = decided[node].lines()
            changes.decision = decided[node].as_dict()
        if changes.files or changes.owed:
            hosts[node] = changes
    return hosts


def diff_against(ref: str, inventory: str = "inventory.py") -> dict[str, HostChanges]:
    with tempfile.TemporaryDirectory(prefix="aitbc-diff-") as tmp:
        _export(ref, Path(tmp))
        if not (Path(tmp) / "src" / "aitbc_infra").is_dir():
            raise UserError(f"{ref!r} holds no aitbc-infra project to render")
        # The working tree first: its code judges the sources before reading them. An older
        # base does not, and with AITBC_SRC both sides read one tree: a tree the working tree
        # refuses is never handed to a base that could hang on it.
        head = _render(PROJECT_ROOT, inventory, "the working tree")
        base = _render(Path(tmp), inventory, f"base {ref}")
    return compare(base, head, decisions(base, head, inventory))


def _summary_rows(hosts: dict[str, HostChanges]) -> list[tuple[str, int, str, str]]:
    return [(node, len(c.files), ", ".join(sorted(c.restarts)) or "–",
             ", ".join(sorted(c.reloads)) or "–") for node, c in hosts.items()]


def format_text(hosts: dict[str, HostChanges], ref: str) -> str:
    if not hosts:
        return f"no changes against {ref}\n"
    out = [diff for c in hosts.values() for diff in c.files.values()]
    out.append(f"\nSummary against {ref}: {len(hosts)} host(s), "
               f"{sum(len(c.files) for c in hosts.values())} file(s) changed\n")
    for node, n, r, ld in _summary_rows(hosts):
        out.append(f"  {node:<10} files {n:<3} restart: {r}   reload: {ld}\n")
        out += [f"{'':13}{line}\n" for line in hosts[node].owed]
    return "".join(out)


def format_markdown(hosts: dict[str, HostChanges], ref: str) -> str:
    out = ["<!-- aitbc-infra-diff -->", f"### aitbc-infra: rendered changes against `{ref}`", ""]
    if not hosts:
        return "\n".join([*out, "No changes to any host.", ""])
    out += ["| host | files | restarts | reloads |", "|---|---|---|---|"]
    out += [f"| {node} | {n} | {r} | {ld} |" for node, n, r, ld in _summary_rows(hosts)]
    for node, changes in hosts.items():
        if changes.owed:
            out += ["", f"**{node}** owes:", *(f"- `{line}`" for line in changes.owed)]
    for node, changes in hosts.items():
        out += ["", f"<details><summary>{node} ({len(changes.files)} files)</summary>", "",
                "```diff", "".join(changes.files.values()).rstrip("\n"), "```", "</details>"]
    return "\n".join(out) + "\n"


def diff_document(hosts: dict[str, HostChanges], ref: str, inventory: str) -> dict:
    """The --json document: only hosts with a change, each file's diff masked as in the text."""
    return {
        "version": VERSION,
        "command": "diff",
        "base": ref,
        "inventory": inventory,
        "exit_code": 1 if hosts else 0,
        "changes": bool(hosts),
        "hosts": {node: {"files": [{"path": path, "change": c.how[path], "diff": diff}
                                   for path, diff in c.files.items()],
                         "restarts": sorted(c.restarts), "reloads": sorted(c.reloads),
                         "decision": c.decision}
                  for node, c in hosts.items()},
    }


def cmd_diff(args: argparse.Namespace) -> int:
    hosts = diff_against(args.base, args.inventory)
    if args.format == "json":
        print_document(diff_document(hosts, args.base, args.inventory))
    else:
        formatter = format_markdown if args.format == "markdown" else format_text
        sys.stdout.write(formatter(hosts, args.base))
    return 1 if hosts else 0


def register_diff(sub: argparse._SubParsersAction) -> None:
    diff = sub.add_parser(
        "diff", help="what a change does to each host, rendered offline against a git ref",
        description="Render the inventory at REF and in the working tree, print a unified diff per "
        "host and file (secrets redacted) and the services that would restart or reload. "
        "Exit 0: no change, 1: changes, 2: error. No host is contacted. With --json: one "
        "JSON document on stdout (schemas/diff.json), nothing else there.")
    diff.add_argument("--base", required=True, metavar="REF", help="git ref to compare against")
    diff.add_argument("--inventory", default="inventory.py",
                      help="inventory file, relative to the project root (default: inventory.py)")
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text",
                      help="markdown: a collapsible PR comment; json: one document "
                      "(schemas/diff.json)")
    diff.add_argument("--json", dest="format", action="store_const", const="json",
                      help="the same as --format json")
    diff.set_defaults(func=cmd_diff)
