"""Changes validated before they are activated, and activations still owed.

A journaled write first lists its path in PENDING_DIR/JOURNAL and keeps what it replaces as
PATH<PREVIOUS_SUFFIX> (deploys/scripts/journal-add.sh); `commit` then validates the new files,
activates them and forgets the copies, or restores every copy when validation or activation
fails (deploys/scripts/commit.sh). An app's journal is committed by its release activation
instead (deploys/scripts/activate-release.sh), which also keeps restart marks. Journals and marks
outlive a killed run: the next run sees them in the host's state and finishes the job even
though the files themselves are already up to date.
"""

from __future__ import annotations

from pyinfra.api import operation

from aitbc_infra.activation import Journal
from aitbc_infra.host_names import PENDING_DIR
from deploys.shell import command, describe, quoted, script


def journal_file(name: str, pending_dir: str = PENDING_DIR) -> str:
    return f"{pending_dir}/{name}"


def add_command(journal: str, dest: str, pending_dir: str = PENDING_DIR) -> str:
    """Shell run just before `dest` is replaced or removed: journal it, once per transaction."""
    if "\n" in dest:
        # The journal lists one path a line: a newline would split it into two paths.
        raise ValueError(f"cannot journal a path holding a newline: {dest!r}")
    return script("journal-add", journal_file(journal, pending_dir), dest)


def mark_command(marks: tuple[str, ...], pending_dir: str = PENDING_DIR) -> str:
    """Shell run just before a file units read at their start is replaced: a restart owed to
    each (activation.ReadBy), which their app's activation clears once they run it."""
    return (f"{quoted('mkdir', '-p', '--', pending_dir)} && "
            f"{quoted('touch', '--', *(f'{pending_dir}/{mark}' for mark in marks))}")


def commit_command(journal: Journal, pending_dir: str = PENDING_DIR) -> str:
    return script("commit", journal_file(journal.name, pending_dir),
                  command(journal.validate), describe(journal.validate),
                  command(journal.activate), describe(journal.activate))


@operation()
def commit(journal: Journal):
    """Validate the journaled files, then activate them; restore the previous ones on failure."""
    yield commit_command(journal)
