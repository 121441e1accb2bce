"""What a change to a managed path sets off on its host: typed, read by the decision of what a
run owes (aitbc_infra/decision.py), which the deploy carries out and `diff` reports.

Every rendered file carries one activation (or None: written, nothing else):
- `Journal`: the files of one configuration (nginx's, firehol's) are validated together, then
  loaded; all are put back when either step fails (deploys/scripts/commit.sh).
- `Restart`: a unit's own file (unit, socket, env). Its app's release activation validates and
  loads it with the app's other files, then restarts the unit (a socket file: the socket too),
  or puts the files back (deploys/scripts/activate-release.sh).
- `Load`: loaded with its app's units, restarting nothing (a candidate's template unit).

Steps are host commands as data: an argv, quoted where it is used, or a script of
deploys/scripts with its arguments. Nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitbc_infra.host_names import APP_JOURNAL_PREFIX, NGINX_JOURNAL


@dataclass(frozen=True)
class Script:
    """deploys/scripts/NAME.sh, run with ARGS."""

    name: str
    args: tuple[str, ...] = ()


Step = tuple[str, ...] | Script


@dataclass(frozen=True)
class Journal:
    name: str  # the journal under the host's pending directory
    validate: Step
    activate: Step
    effect: str  # what a change means for the running host, as `diff` reports it

    @property
    def journal(self) -> str:
        return self.name


@dataclass(frozen=True)
class Restart:
    unit: str
    app: str

    @property
    def journal(self) -> str:
        return app_journal(self.app)


@dataclass(frozen=True)
class Load:
    app: str

    @property
    def journal(self) -> str:
        return app_journal(self.app)


Activation = Journal | Restart | Load | None


def app_journal(app: str) -> str:
    """The journal of an app's unit, socket and env files: kept until its release is healthy."""
    return f"{APP_JOURNAL_PREFIX}{app}"


NGINX = Journal(NGINX_JOURNAL, validate=("nginx", "-t", "-q"),
                activate=("systemctl", "reload-or-restart", "nginx"), effect="nginx reload")
