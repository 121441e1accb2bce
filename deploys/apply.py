"""Applying a host's plan, one group of entries at a time: a group is what one activation
covers (a journal, an app's units), written through the operations of deploys/managed.py."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host
from pyinfra.operations.util import any_changed

from aitbc_infra.activation import Activation, Journal
from aitbc_infra.plan import HostPlan
from deploys import managed, state
from deploys.journal import commit


def directories(plan: HostPlan) -> None:
    for d in host.loop(plan.directories):
        managed.directory(plan, d, name=f"Directory {d.path}")


def entries(plan: HostPlan, mine: Callable[[Activation], bool]) -> list:
    """Write the plan's files, uploads and links whose activation is `mine`; returns their
    operations."""
    ops = [managed.file(plan, f) for f in host.loop(plan.files) if mine(f.activation)]
    ops += [managed.upload(plan, u) for u in host.loop(plan.uploads) if mine(u.activation)]
    ops += [managed.link(plan, link, name=f"Link {link.path}") for link in host.loop(plan.links)
            if mine(link.activation)]
    return ops


def unactivated(plan: HostPlan) -> list:
    """The entries whose change sets off nothing (read by a process when it next starts)."""
    return entries(plan, lambda activation: activation is None)


def journal(plan: HostPlan, activation: Journal, owed: bool = False, why: str = "") -> list:
    """Write the journal's entries, then validate and activate them when one changed, when an
    earlier run left the journal pending, or when the role says it is `owed`."""
    ops = entries(plan, lambda a: a == activation)
    if not ops and not owed:
        return ops
    owed = owed or state.pending(plan, activation.name)
    commit(activation, name=f"{activation.name}: validate and {activation.effect}{why}",
           _if=None if owed else any_changed(*ops))
    return ops
