"""The host scripts of deploys/scripts/ as command lines: one way to run them, for the deploy
and for the read-only commands (status).

Each script runs inline after lib.sh (`sh -c BODY NAME ...`), with the names it shares with this
code (host_names.SCRIPT_ARGUMENTS) and then its own arguments, every one quoted: a value from
the inventory reaches the script as exactly one argument, whatever characters it holds. A script
the host runs later by itself, without the deploy (the firewall's revert timer), is a file on
the host instead (`program`), taking its own arguments the same way.
"""

from __future__ import annotations

import shlex

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import SCRIPT_ARGUMENTS

SCRIPTS = PROJECT_ROOT / "deploys" / "scripts"


def quoted(*args: object) -> str:
    """The words as one command line; plain words (options, safe paths) print unchanged."""
    return " ".join(shlex.quote(str(a)) for a in args)


def body(name: str) -> str:
    """deploys/scripts/NAME.sh as it runs: lib.sh, then the script."""
    return (SCRIPTS / "lib.sh").read_text() + (SCRIPTS / f"{name}.sh").read_text()


def script(name: str, *args: str) -> str:
    """deploys/scripts/NAME.sh, run inline on the host after lib.sh, with the names it shares
    with this code (host_names.SCRIPT_ARGUMENTS) and then its own arguments."""
    return quoted("sh", "-c", body(name), name, *SCRIPT_ARGUMENTS, *args)


def function(name: str) -> str:
    """A shell function (NAME with `_` for `-`) that runs deploys/scripts/NAME.sh as `script`
    does with the arguments it is given: for a command line that runs one script several
    times, its text written once (a host's command line is one argument of at most 128 KiB)."""
    return f"{name.replace('-', '_')}() {{ {script(name)} \"$@\"; }}"


def program(name: str) -> str:
    """deploys/scripts/NAME.sh as a file of its own, run on the host as `sh FILE ARGS...`: the
    shared names (SCRIPT_ARGUMENTS) are set before lib.sh reads them, so ARGS are the script's
    own, as `script` passes them."""
    shared = f'set -- {quoted(*SCRIPT_ARGUMENTS)} "$@"\n'
    return (f"#!/bin/sh\n# Managed by aitbc-infra: deploys/scripts/{name}.sh after lib.sh.\n"
            + shared + body(name))
