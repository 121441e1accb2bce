"""Each run's line in each host's deploy history (aitbc_infra/history.py says what it holds).

The line travels on the deploy lock's channel (deploys/lock.py): the lock's command reads its
input until the run lets the lock go, then appends the last whole line it got to the host's log
(deploys/scripts/history-add.sh). So the history costs no command and no session of its own:

- `begin` (deploys/site.py, once the decision is made) keeps what the line will say of the
  host: the run's operator, message and commits, the releases before and after, the decision.
- As the host's first operation starts, the line goes out once with the result "interrupted":
  a run killed midway leaves that line behind.
- When pyinfra disconnects from the host, the result is known (each operation's end): the final
  line goes out and the lock is released. A host that ran operations waits for the lock's
  command to confirm the append (one exchange at the end of a run that changed things); a
  converged host, which ran none, does not wait: a no-op run costs no round trip more. Its line
  says nothing changed.

A dry run never reaches pyinfra's execution stage: no line is sent, and the lock's command
appends nothing. A host whose lock another run holds was never this run's to write to.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pyinfra import host, logger, state
from pyinfra.api.state import BaseStateCallback, StateStage

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.history import (
    LINE_MAX,
    Operation,
    Run,
    changes,
    encode,
    entry,
    finished,
    outcome,
    releases_before,
    run_message,
    source_commit,
    sources_commit,
)
from aitbc_infra.host_names import DEPLOY_HISTORY
from aitbc_infra.model import HostSpec
from aitbc_infra.sources import source_root
from deploys import lock
from deploys.context import fleet, once_per_run
from deploys.shell import script

# How long a host that ran operations may take to confirm its line (a few processes: awk, mv).
CONFIRM_SECONDS = 10.0


@once_per_run
def this_run() -> Run:
    """The run's operator, message and start, the same on every host; the message and
    operator were checked before anything connected (aitbc_infra/loader.py)."""
    return Run.now(run_message())


@once_per_run
def _commits() -> Future:
    """{"project": its commit, "sources": {root: its commit}} for every app source root of the
    fleet, read by git beside the first lock's round trip rather than after it."""
    roots = {source_root(spec) for spec in fleet().hosts.values()}
    pool = ThreadPoolExecutor(max_workers=1)
    found = pool.submit(lambda: {"project": source_commit(PROJECT_ROOT),
                                 "sources": {r: sources_commit(r, PROJECT_ROOT) for r in roots}})
    pool.shutdown(wait=False)  # the one task runs on; `begin` waits for its result
    return found


def start() -> Run:
    """The run, as a host is about to be locked; git starts reading the commits meanwhile."""
    _commits()
    return this_run()


def append_command(spec: HostSpec, log: str = DEPLOY_HISTORY) -> str:
    """What the lock's command runs with the run's input once the run lets it go."""
    return script("history-add", log, str(spec.rollout.history_lines), str(LINE_MAX))


@dataclass
class _Draft:
    line: dict  # the host's line, its result still open
    started: float  # time.monotonic() as the lock was taken
    sent: bool = False  # the "interrupted" line went out


_drafts: dict[str, _Draft] = {}


def begin(spec: HostSpec, host_state: State, decision: Decision, releases: dict[str, str],
          started: float) -> None:
    """Keep the current host's line, to send as its operations start and end."""
    _register()
    found = _commits().result()
    commits = {"project": found["project"], "sources": found["sources"][source_root(spec)]}
    changed = changes(decision, releases_before(spec, host_state), releases)
    _drafts[host.name] = _Draft(entry(this_run(), commits, changed), started)


class _Callbacks(BaseStateCallback):
    """pyinfra tells each host's first operation and its disconnection here."""

    @staticmethod
    def operation_host_start(run_state, target, op_hash):
        draft = _drafts.get(target.name)
        if draft is not None and not draft.sent:
            draft.sent = True
            _guarded(target, lambda: lock.send(target.name, encode(draft.line)))

    @staticmethod
    def host_disconnect(run_state, target):
        draft = _drafts.pop(target.name, None)
        if draft is None:  # no lock of this run's: held by another, or never taken
            return
        if run_state.current_stage < StateStage.Execute:  # a dry run: no line, the lock let go
            _guarded(target, lambda: lock.release(target.name, wait=None))
            return
        _guarded(target, lambda: _finish(run_state, target, draft))


def _finish(run_state, target, draft: _Draft) -> str | None:
    operations = _operations(run_state, target)
    result, step, changed = outcome(operations)
    lock.send(target.name, encode(finished(draft.line, result, step,
                                           time.monotonic() - draft.started, changed)))
    return lock.release(target.name, wait=CONFIRM_SECONDS if operations else None)


def _operations(run_state, target) -> list[Operation]:
    """The host's operations in the order they ran, each as it ended (or never did)."""
    found = []
    for op_hash in target.op_hash_order:
        data = run_state.ops[target].get(op_hash)
        if data is None:
            continue
        meta = data.operation_meta
        complete = meta.is_complete()
        found.append(Operation(sorted(run_state.op_meta[op_hash].names)[0], complete,
                               complete and meta.did_succeed(), complete and meta.did_change()))
    return found


def _guarded(target, action) -> None:
    """The history never fails a run: what goes wrong is said in the log, once."""
    try:
        problem = action()
    except Exception as exc:  # a channel closed under it, a host gone
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        target.log(f"deploy history not written: {problem}", logger.warning)


@once_per_run
def _register() -> None:
    state.add_callback_handler(_Callbacks())
