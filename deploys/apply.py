"""Applying a host's plan, one group of entries at a time: a group is what one activation
covers (a journal, an app's units), written through the operations of deploys/managed.py."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra.operations.util import any_changed

from aitbc_infra.activation import Activation, Journal
from aitbc_infra.plan import HostPlan
from deploys import managed, state
from deploys.journal import commit


def directories(plan: HostPlan) -> None:
    if plan.directories:
        managed.entries(plan, plan.directories, name=f"{len(plan.directories)} directories")


def entries(plan: HostPlan, mine: Callable[[Activation], bool], what: str) -> list:
    """Write the plan's files, uploads and links whose activation is `mine`, as one operation
    (none when none of them differs from the host); returns it, for what depends on a change."""
    group = [e for e in (*plan.files, *plan.uploads, *plan.links) if mine(e.activation)]
    op = managed.entries(plan, group, name=f"{what} ({len(group)} paths)") if group else None
    return [op] if op else []


def unactivated(plan: HostPlan) -> list:
    """The entries whose change sets off nothing (read by a process when it next starts)."""
    return entries(plan, lambda activation: activation is None, "files read at a start")


def journal(plan: HostPlan, activation: Journal, owed: bool = False, why: str = "") -> list:
    """Write the journal's entries, then validate and activate them when one changed, when an
    earlier run left the journal pending, or when the role says it is `owed`."""
    ops = entries(plan, lambda a: a == activation, activation.name)
    owed = owed or state.pending(plan, activation.name)
    if not ops and not owed:
        return ops
    commit(activation, name=f"{activation.name}: validate and {activation.effect}{why}",
           _if=None if owed else any_changed(*ops))
    return ops
