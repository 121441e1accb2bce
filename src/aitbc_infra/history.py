"""The deploy history: one JSON line on each host for every deploy run that held its lock,
and for every `aitbc-infra rollback` that changed something there (aitbc_infra/rollback.py).

A line, as deploys/history.py writes it and `aitbc-infra history` reads it (one JSON object,
ASCII only: every value JSON-encoded, so nothing in it can end the line or reach a terminal as
a control character):

  v         1, the line's shape
  kind      deploy or rollback (a line without it is a deploy's: lines before rollbacks existed)
  time      when the run began (as it locked its first host): UTC, ISO 8601
            (`2026-05-04T10:11:12Z`); the same on every host of the run
  seconds   from the host's lock to the run's end there
  operator  AITBC_OPERATOR, else USER@HOSTNAME of the machine that ran the deploy
  message   the run's `--message` (AITBC_DEPLOY_MESSAGE), or null
  commits   project: `git describe` of this project's checkout ("unknown" when it is not a git
            tree, "+dirty" with uncommitted changes); sources: the same of the host's app source
            root when that is a git tree of its own (AITBC_SRC), else null
  changes   what the run set out to do on the host, from its decision (aitbc_infra/decision.py):
            releases {app: {before, after}} (before null: the first), restarts, reloads, loads,
            release steps, certificates and PostgreSQL roles and databases, each with its
            reasons; operations: how many changed the host
  result    ok; failed, `step` naming the operation that failed; or interrupted: the run ended
            before it said (killed, its connection lost), `step` the first operation that never
            ran when known

The run's message and operator are a person's input: one line of printable text, bounded,
refused with a clear error before anything connects (`check_text`). A line stays below
LINE_MAX bytes whatever the decision holds (`encode`). Nothing here runs on a host or
connects anywhere; git runs on this machine.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.errors import UserError
from aitbc_infra.host_names import release_link
from aitbc_infra.json_schema import load
from aitbc_infra.json_schema import problems as schema_problems
from aitbc_infra.model import HostSpec

VERSION = 1
MESSAGE_ENV = "AITBC_DEPLOY_MESSAGE"  # the run's message, for deploys/site.py (`deploy --message`)
OPERATOR_ENV = "AITBC_OPERATOR"  # who runs the deploy, when USER@HOSTNAME does not say
MESSAGE_MAX = 500  # characters: a sentence or two
OPERATOR_MAX = 200
STEP_MAX = 300  # an operation's name, as the line holds it
# A line's bytes: the host script refuses a longer one (deploys/scripts/history-add.sh), and
# `encode` drops detail (reasons first) until a line fits.
LINE_MAX = 16384

DEPLOY, ROLLBACK = "deploy", "rollback"  # what wrote a line: its `kind`
OK, FAILED, INTERRUPTED = "ok", "failed", "interrupted"
RESULTS = (OK, FAILED, INTERRUPTED)
UNKNOWN = "unknown"  # the commit of a tree git cannot describe
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Characters a message may not hold: control and format characters (a bidirectional override
# reorders what a terminal shows), surrogates, and line and paragraph separators.
_REFUSED = {"Cc": "a control character", "Cf": "a format character", "Cs": "a surrogate",
            "Zl": "a line separator", "Zp": "a paragraph separator"}


# Input: the message and the operator ---------------------------------------------------------


def check_text(what: str, value: str | None, limit: int) -> str | None:
    """`value` when it is one line of printable text of at most `limit` characters; None when
    empty; else UserError naming `what`, the character and where it is."""
    if not value:
        return None
    if len(value) > limit:
        raise UserError(f"{what}: {len(value)} characters, at most {limit} are kept in the "
                        "deploy history: say it shorter")
    for i, c in enumerate(value, 1):
        kind = _REFUSED.get(unicodedata.category(c))
        if kind:
            raise UserError(f"{what}: character {i} is U+{ord(c):04X}, {kind}: give one line of "
                            "printable text")
    return value


def run_message(value: str | None = None) -> str | None:
    """The run's message: `value` (`deploy --message`) or else the environment's, checked."""
    if value is not None:
        return check_text("--message", value, MESSAGE_MAX)
    return check_text(MESSAGE_ENV, os.environ.get(MESSAGE_ENV), MESSAGE_MAX)


def operator() -> str:
    """AITBC_OPERATOR (checked), else USER@HOSTNAME of this machine."""
    named = check_text(OPERATOR_ENV, os.environ.get(OPERATOR_ENV), OPERATOR_MAX)
    if named:
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (a container)
        user = f"uid{os.getuid()}"
    return printable(f"{user}@{socket.gethostname()}")[:OPERATOR_MAX]


def printable(text: str) -> str:
    """`text` with every character a terminal would act on written as its escape (`\\x1b`)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


# The run, and who holds a host's lock ----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What is known of a deploy run when it starts: the same on every host."""

    operator: str
    message: str | None
    started: datetime
    pid: int

    @property
    def time(self) -> str:
        return self.started.strftime(TIME_FORMAT)

    @classmethod
    def now(cls, message: str | None) -> Run:
        return cls(operator(), message, datetime.now(UTC), os.getpid())


def holder(run: Run) -> str:
    """What the deploy lock records of its holder (deploys/lock.py): one JSON line."""
    return json.dumps({"operator": run.operator, "pid": run.pid, "since": run.time,
                       "message": run.message})


def describe_holder(recorded: str) -> str:
    """The holder a refused run names: `OPERATOR (pid N, since TIME): "MESSAGE"`. Anything
    else found in the holder's file (an older deploy's words) is shown as it is, escaped."""
    try:
        found = json.loads(recorded)
    except ValueError:
        found = None
    if not isinstance(found, dict) or not isinstance(found.get("operator"), str):
        return printable(recorded.strip()) or "another deploy"
    text = f"{printable(found['operator'])} (pid {found.get('pid')!s}, since {found.get('since')!s})"
    message = found.get("message")
    quoted = json.dumps(message, ensure_ascii=False) if isinstance(message, str) else None
    return printable(f"{text}: {quoted}" if quoted else text)


# Commits -------------------------------------------------------------------------------------


def _git(path: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):  # no git, or a tree it hangs on
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def source_commit(path: Path) -> str:
    """`git describe` of the checkout at `path`: its tag or commit, "+dirty" when tracked files
    differ from it; UNKNOWN when it is not a git tree (or git cannot read it)."""
    described = _git(path, "describe", "--always", "--abbrev=12", "--dirty=+dirty")
    return printable(described)[:100] if described else UNKNOWN


def sources_commit(root: Path, project: Path) -> str | None:
    """The commit of an app source root that is a git tree of its own; None for one inside
    the project's tree (the payload: the project's commit says it) or outside any."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    own = _git(project, "rev-parse", "--show-toplevel")
    if own is not None and Path(top).resolve() == Path(own).resolve():
        return None
    return source_commit(root)


# What a run changes on a host ------------------------------------------------------------------


def releases_before(spec: HostSpec, state: State) -> dict[str, str | None]:
    """{app: the release its .venv links to as read before the run}: None when there is no
    venv, "venv" for one installed in place (no release)."""
    prefix = release_link("")
    found: dict[str, str | None] = {}
    for app in spec.apps:
        link = state.paths.get(app.venv)
        if link is None:
            found[app.name] = None
        elif link.kind == "l":
            found[app.name] = link.sha256.removeprefix(prefix)
        else:
            found[app.name] = "venv"
    return found


def changes(decision: Decision, before: Mapping[str, str | None],
            after: Mapping[str, str]) -> dict:
    """What a run sets out to do on a host: the releases it switches, and its decision."""
    owed = decision.as_dict()
    return {
        "releases": {app: {"before": before.get(app), "after": release}
                     for app, release in after.items() if before.get(app) != release},
        "restarts": owed["restarts"],
        "reloads": [{"journal": r["journal"], "reasons": r["reasons"]} for r in owed["reloads"]],
        "loads": owed["loads"],
        "steps": owed["steps"],
        "certificates": owed["certificates"],
        "databases": owed["databases"],
    }


@dataclass(frozen=True)
class Operation:
    """One of the run's operations on a host, as it ended."""

    name: str
    complete: bool
    succeeded: bool
    changed: bool


def outcome(operations: Iterable[Operation]) -> tuple[str, str | None, int]:
    """(result, step, operations that changed the host) of a host's operations in run order."""
    operations = list(operations)
    failed = next((o for o in operations if o.complete and not o.succeeded), None)
    never = next((o for o in operations if not o.complete), None)
    changed = sum(o.complete and o.succeeded and o.changed for o in operations)
    if failed:
        return FAILED, failed.name, changed
    if never:
        return INTERRUPTED, never.name, changed
    return OK, None, changed


# The line ------------------------------------------------------------------------------------


def entry(run: Run, commits: Mapping[str, str | None], changed: dict, kind: str = DEPLOY) -> dict:
    """A host's line before the run's end: the result "interrupted" until `finished` says."""
    return {"v": VERSION, "kind": kind, "time": run.time, "seconds": None,
            "operator": run.operator, "message": run.message,
            "commits": {"project": commits.get("project") or UNKNOWN,
                        "sources": commits.get("sources")},
            "changes": {**changed, "operations": 0}, "result": INTERRUPTED, "step": None}


def finished(line: dict, result: str, step: str | None, seconds: float, operations: int) -> dict:
    """The line once the run ended on the host: its result, the failing (or first unrun)
    operation, how long it took and how many operations changed the host."""
    return {**line, "seconds": round(seconds, 1), "result": result,
            "step": None if step is None else printable(step)[:STEP_MAX],
            "changes": {**line["changes"], "operations": operations}}


def encode(line: dict, limit: int = LINE_MAX) -> str:
    """One line of ASCII JSON below `limit` bytes: when the changes are too many to fit, their
    reasons go first, then everything but the releases and the units' names; `truncated` says
    so."""
    text = _dump(line)
    if len(text) < limit:
        return text
    changed = dict(line["changes"])
    for key in ("restarts", "reloads", "loads", "steps", "certificates", "databases"):
        changed[key] = [{k: v for k, v in item.items() if k != "reasons"}
                        for item in changed.get(key, [])]
    text = _dump({**line, "changes": {**changed, "truncated": True}})
    if len(text) < limit:
        return text
    brief = {"releases": changed.get("releases", {}),
             "restarts": [{"unit": r.get("unit"), "action": r.get("action")}
                          for r in changed.get("restarts", [])],
             "operations": changed.get("operations", 0), "truncated": True}
    text = _dump({**line, "changes": brief})
    if len(text) < limit:
        return text
    return _dump({**line, "changes": {"operations": changed.get("operations", 0),
                                      "truncated": True}})


def _dump(line: dict) -> str:
    # ensure_ascii: every non-ASCII and control character travels as a \\u escape.
    return json.dumps(line, ensure_ascii=True, separators=(",", ":"))


# Reading a host's log --------------------------------------------------------------------------


# What a line holds besides its version, as `aitbc-infra history --json` shows an entry.
FIELDS = ("time", "seconds", "operator", "message", "commits", "changes", "result", "step")


@dataclass(frozen=True)
class Entry:
    """A line of a host's log, read back: its number in the log and what it holds."""

    host: str
    line: int
    data: dict = field(hash=False)

    @property
    def time(self) -> str:
        return self.data["time"]

    @property
    def kind(self):
        return self.data.get("kind", DEPLOY)

    def document(self) -> dict:
        """The entry in `history --json` (schemas/history.json, `$defs/entry`)."""
        return {"host": self.host, "line": self.line, "kind": self.kind,
                **{k: self.data[k] for k in FIELDS}}


def parse_log(host: str, numbered: str) -> tuple[list[Entry], list[str]]:
    """The entries of a host's log as `history`'s read prints it (`NUMBER<TAB>LINE` each), and
    a problem naming each line that is not one (skipped: one bad line hides no other)."""
    entries, problems = [], []
    # Lines end at a newline only: a line of the log holds no other (splitlines would also end
    # one at \x1c or \u2028, which a tampered line may hold).
    for raw in numbered.removesuffix("\n").split("\n") if numbered else []:
        number, tab, text = raw.partition("\t")
        if not tab or not number.isdigit():
            problems.append(f"{host}: unexpected output of the log's read: '{printable(raw[:80])}'")
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            problems.append(f"{host}: line {number}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        problem = _problem(data)
        if problem:
            problems.append(f"{host}: line {number}: {problem}")
        else:
            entries.append(Entry(host, int(number), data))
    return entries, problems


@cache
def _entry_schema() -> dict:
    return {"$ref": "#/$defs/entry", "$defs": load("history")["$defs"]}


def _problem(data) -> str | None:
    """Why a parsed line is not an entry this reader understands, or None: the line is held to
    the schema of an entry of `history --json`, so whatever the reader shows has its shape."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if data.get("v") != VERSION:
        return f"version {printable(json.dumps(data.get('v')))[:20]}, this aitbc-infra reads {VERSION}"
    missing = [name for name in FIELDS if name not in data]
    if missing:
        return f"no {', '.join(missing)}"
    found = schema_problems(Entry("-", 1, data).document(), _entry_schema())
    return printable(found[0]) if found else None
