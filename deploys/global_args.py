"""pyinfra's list of global arguments, computed once per run instead of once per use.

`pyinfra.api.arguments.all_global_arguments()` runs `typing.get_type_hints` over its argument
TypedDicts every time it is asked: for every operation and every fact of every host (on 16
hosts, a fifth of the CPU a no-op run adds to connecting). The types cannot change during a run;
`install()` puts a cached equal in its place, in both modules that call it.
tests/unit/test_global_args.py holds it to pyinfra's own result.
"""

from __future__ import annotations

import functools

from pyinfra.api import arguments, facts

pyinfra_all_global_arguments = arguments.all_global_arguments


@functools.cache
def _computed() -> tuple[tuple[str, type], ...]:
    return tuple(pyinfra_all_global_arguments())


def all_global_arguments() -> list[tuple[str, type]]:
    """What pyinfra's function returns: a fresh list each call, as callers may change it."""
    return list(_computed())


def install() -> None:
    arguments.all_global_arguments = all_global_arguments
    facts.all_global_arguments = all_global_arguments  # imported there by name
