"""Names on the hosts that the deploy's Python code and its host scripts (deploys/scripts/)
both use. Written once, here: every script receives them as its first arguments (see
deploys/scripts/lib.sh), in the order of SCRIPT_ARGUMENTS."""

from __future__ import annotations

PENDING_DIR = "/var/lib/aitbc/pending"  # journals and restart marks that outlive a killed run
PREVIOUS_SUFFIX = ".aitbc-prev"  # JOURNAL.aitbc-prev/PATH: what a journaled write replaced
TEMP_SUFFIX = ".aitbc-new"  # a file or link being written, renamed over its path once whole
RESTART_MARK = "restart-"  # PENDING_DIR/restart-UNIT: a restart UNIT is owed
RELEASE_MARKER = ".aitbc-release"  # written last into a release: the release is whole
CANDIDATE_INFIX = "-candidate@"  # UNIT-candidate@RELEASE: a release on trial beside UNIT

SCRIPT_ARGUMENTS = (PREVIOUS_SUFFIX, TEMP_SUFFIX, RESTART_MARK, CANDIDATE_INFIX)


def restart_mark(unit: str) -> str:
    return f"{RESTART_MARK}{unit}"


def candidate_unit(unit: str, instance: str = "", suffix: str = "service") -> str:
    """The template (or, given a release as instance, the unit) a candidate release runs as."""
    return f"{unit}{CANDIDATE_INFIX}{instance}.{suffix}"


def journal_copy(journal: str, path: str) -> str:
    """Where the journal JOURNAL keeps what a write to PATH replaced (lib.sh: journal_copy)."""
    return f"{PENDING_DIR}/{journal}{PREVIOUS_SUFFIX}{path}"
