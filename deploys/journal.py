"""Changes that must be validated before they are activated, and activations still owed.

A journaled write first records the path in /var/lib/aitbc/pending/JOURNAL and keeps what it
replaces as PATH.aitbc-prev; `commit` then validates the new files, activates them and forgets
the copies, or restores every copy when validation or activation fails. A restart mark
(`restart-UNIT`) is set before a unit's files change and cleared once the unit restarted
healthy. Both outlive a killed run: the next run sees them in PathStates and finishes the job
even though the files themselves are already up to date.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra.api import operation

from deploys.shell import quoted

PENDING_DIR = "/var/lib/aitbc/pending"
PREVIOUS_SUFFIX = ".aitbc-prev"
SCRIPTS = Path(__file__).parent / "scripts"


def script(name: str, *args: str) -> str:
    """A shell script of deploys/scripts, run inline on the host with its arguments, after
    the journal functions it may call (journal-lib.sh)."""
    body = (SCRIPTS / "journal-lib.sh").read_text() + (SCRIPTS / f"{name}.sh").read_text()
    return quoted("sh", "-c", body, name, *args)


def pending(states: dict, name: str) -> bool:
    """A journal or restart mark left by an earlier run (PENDING_DIR is one of the synced trees)."""
    return f"{PENDING_DIR}/{name}" in states


def restart_mark(unit: str) -> str:
    return f"restart-{unit}"


def before_write(dest: str, journal: str | None, marks: tuple[str, ...],
                 pending_dir: str = PENDING_DIR) -> str | None:
    """Shell run just before `dest` is replaced or removed: journal it once, set the marks."""
    if not journal and not marks:
        return None
    if "\n" in dest:
        # The journal lists one path a line: a newline would split it into two paths.
        raise ValueError(f"cannot journal a path holding a newline: {dest!r}")
    parts = [quoted("mkdir", "-p", "--", pending_dir)]
    if journal:
        j, d = shlex.quote(f"{pending_dir}/{journal}"), shlex.quote(dest)
        prev = shlex.quote(dest + PREVIOUS_SUFFIX)
        # Only the first write of a transaction keeps a copy: that is the last validated one.
        keep_copy = f"{{ {{ [ ! -e {d} ] && [ ! -L {d} ]; }} || cp -a -- {d} {prev}; }}"
        parts.append(f"{{ grep -qxF -- {d} {j} 2>/dev/null || "
                     f"{{ {keep_copy} && printf '%s\\n' {d} >> {j}; }}; }}")
    parts += [quoted("touch", "--", f"{pending_dir}/{m}") for m in marks]
    return " && ".join(parts)


def commit_command(journal: str, validate: str, activate: str,
                   pending_dir: str = PENDING_DIR) -> str:
    return script("commit", f"{pending_dir}/{journal}", validate, activate)


@operation()
def commit(journal: str, validate: str, activate: str):
    """Validate the journaled files, then activate them; restore the previous ones on failure."""
    yield commit_command(journal, validate, activate)
