"""What a change to a managed path sets off on its host: typed, read by the decision of what a
run owes (aitbc_infra/decision.py), which the deploy carries out and `diff` reports.

Every rendered file carries one activation (or None: written, nothing else):
- `Journal`: the files of one configuration (nginx's, firehol's) are validated together, then
  loaded; all are put back when either step fails (deploys/scripts/commit.sh).
- `Restart`: a unit's own file (unit, socket, env). Its app's release activation validates and
  loads it with the app's other files, then restarts the unit (a socket file: the socket too),
  or puts the files back (deploys/scripts/activate-release.sh).
- `Load`: loaded with its app's units, restarting nothing (a candidate's template unit).
- `ReadBy`: a file units of one or more apps read when they start (a generated file): written
  before any app's activation, with a restart mark for each of those units set just before it
  is renamed into place, so a run killed before the restarts still owes them; each unit is then
  restarted by its app's activation, the file's change its reason. Not journaled: several apps
  read it, and one app's failed gate cannot take it back from the others.

Steps are host commands as data: an argv, quoted where it is used, or a script of
deploys/scripts with its arguments. Nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitbc_infra.host_names import APP_JOURNAL_PREFIX, NGINX_JOURNAL, restart_mark


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
    # The unit whose configuration it is: not active or not enabled, the journal's activation
    # is owed (it starts the service with the files as they are).
    service: str | None = None
    # The unit that runs it, where `service` only starts it (PostgreSQL's cluster under
    # postgresql.service): not active, the activation is owed too.
    running: str | None = None

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


@dataclass(frozen=True)
class ReadBy:
    units: tuple[Restart, ...]  # every unit that reads the file when it starts, with its app

    def reads(self, app: str, unit: str) -> bool:
        return Restart(unit, app) in self.units

    @property
    def marks(self) -> tuple[str, ...]:
        """The restart marks set before the file is written (host_names.restart_mark)."""
        return tuple(restart_mark(u.unit) for u in self.units)


Activation = Journal | Restart | Load | ReadBy | None


def app_journal(app: str) -> str:
    """The journal of an app's unit, socket and env files: kept until its release is healthy."""
    return f"{APP_JOURNAL_PREFIX}{app}"


NGINX = Journal(NGINX_JOURNAL, validate=("nginx", "-t", "-q"),
                activate=("systemctl", "reload-or-restart", "nginx"), effect="nginx reload",
                service="nginx")
