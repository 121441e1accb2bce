"""Shell command lines built from data, and the host scripts of deploys/scripts.

Paths, names, emails and URLs come from the inventory: each must reach its program as exactly
one argument, whatever characters it holds, so a value can never become shell code or a second
argument even where the model's validation would have let it through. Anything longer than one
command is a script under deploys/scripts/ (ShellCheck reads them in CI), run inline with its
arguments quoted.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from aitbc_infra.activation import Script, Step
from aitbc_infra.host_names import SCRIPT_ARGUMENTS

SCRIPTS = Path(__file__).parent / "scripts"


def quoted(*args: object) -> str:
    """The words as one command line; plain words (options, safe paths) print unchanged."""
    return " ".join(shlex.quote(str(a)) for a in args)


def script(name: str, *args: str) -> str:
    """deploys/scripts/NAME.sh, run inline on the host after lib.sh, with the names it shares
    with this code (host_names.SCRIPT_ARGUMENTS) and then its own arguments."""
    body = (SCRIPTS / "lib.sh").read_text() + (SCRIPTS / f"{name}.sh").read_text()
    return quoted("sh", "-c", body, name, *SCRIPT_ARGUMENTS, *args)


def command(step: Step) -> str:
    """A step of an activation as the command line that runs it."""
    return script(step.name, *step.args) if isinstance(step, Script) else quoted(*step)


def describe(step: Step) -> str:
    """A step as a person reads it in a message: the argv, or the script and its arguments."""
    return quoted(step.name, *step.args) if isinstance(step, Script) else quoted(*step)
