"""Applying a host's plan, one group of entries at a time: a group is what one activation
covers (a journal, an app's units), written through the operations of deploys/managed.py."""

from __future__ import annotations

from collections.abc import Callable

from aitbc_infra.activation import Activation, Journal, ReadBy
from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.plan import HostPlan
from deploys import managed
from deploys.journal import commit


def directories(plan: HostPlan, state: State) -> None:
    if plan.directories:
        managed.entries(plan, state, plan.directories, name=f"{len(plan.directories)} directories")


def entries(plan: HostPlan, state: State, mine: Callable[[Activation], bool], what: str) -> list:
    """Write the plan's files, uploads and links whose activation is `mine`, as one operation
    (none when none of them differs from the host); returns the operations added."""
    group = [e for e in (*plan.files, *plan.uploads, *plan.links) if mine(e.activation)]
    op = managed.entries(plan, state, group, name=f"{what} ({len(group)} paths)") if group else None
    return [op] if op else []


def unactivated(plan: HostPlan, state: State) -> None:
    """The entries whose change sets off nothing (read by a process when it next starts)."""
    entries(plan, state, lambda activation: activation is None, "files read at a start")


def read_by_apps(plan: HostPlan, state: State) -> None:
    """The generated files units read at their start, before the apps' activations restart
    them: each written with their restart marks set (activation.ReadBy)."""
    entries(plan, state, lambda activation: isinstance(activation, ReadBy), "files apps read")


def journal(plan: HostPlan, state: State, activation: Journal, decision: Decision) -> list:
    """Write the journal's entries, then validate and activate them when the decision says
    they are owed (aitbc_infra/decision.py: one of them changes, the journal was left pending,
    the service is not running); returns the operations added."""
    ops = entries(plan, state, lambda a: a == activation, activation.name)
    if activation.name in decision.journals:
        ops.append(commit(activation, name=f"{activation.name}: validate and {activation.effect}"))
    return ops
