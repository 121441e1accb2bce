"""Shell command lines built from data, and the host scripts of deploys/scripts.

Paths, names, emails and URLs come from the inventory: each must reach its program as exactly
one argument, whatever characters it holds, so a value can never become shell code or a second
argument even where the model's validation would have let it through. Anything longer than one
command is a script under deploys/scripts/ (ShellCheck reads them in CI), run inline with its
arguments quoted.
"""

from __future__ import annotations

from aitbc_infra.activation import Script, Step
from aitbc_infra.host_scripts import SCRIPTS, quoted, script

__all__ = ["SCRIPTS", "command", "describe", "quoted", "script"]


def command(step: Step) -> str:
    """A step of an activation as the command line that runs it."""
    return script(step.name, *step.args) if isinstance(step, Script) else quoted(*step)


def describe(step: Step) -> str:
    """A step as a person reads it in a message: the argv, or the script and its arguments."""
    return quoted(step.name, *step.args) if isinstance(step, Script) else quoted(*step)
