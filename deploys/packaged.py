"""Services from Debian packages (aitbc_infra/databases.py): PostgreSQL's and Redis's
configuration as journals (checked, then reloaded or restarted, put back when refused), then
the PostgreSQL roles and databases the decision owes, before any app starts with their URLs.

A role's password never leaves this machine and never appears in a command line: the run
uploads the SCRAM verifier of each password it sets (aitbc_infra/scram.py) into a root-only
file, which deploys/scripts/postgresql.sh (`roles`) reads into psql's input and removes.
pyinfra's postgres operations are not used: `postgres.role` sets a given password again on
every run (no run would be a no-op) and passes it in psql's command line, and
`postgres.database` never corrects an existing database's owner.
"""

from __future__ import annotations

from io import BytesIO

from pyinfra.api import FileUploadCommand

from aitbc_infra.databases import REDIS, postgresql_journal
from aitbc_infra.decision import DATABASE, ROLE, Decision
from aitbc_infra.drift import State
from aitbc_infra.host_names import POSTGRESQL_VERIFIERS, TEMP_SUFFIX
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.scram import new_verifier
from deploys import apply
from deploys.managed import run, temp_file_command
from deploys.shell import script


def deploy(spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    if plan.postgresql is not None:
        apply.journal(plan, state, postgresql_journal(plan.postgresql.cluster), decision)
    if spec.redis is not None:
        apply.journal(plan, state, REDIS, decision)
    if plan.postgresql is not None and decision.databases:
        run(roles_commands(plan, decision),
            name=f"postgresql: {'; '.join(d.line.split(':')[0] for d in decision.databases)}")


def roles_commands(plan: HostPlan, decision: Decision) -> list:
    """The verifiers of the passwords owed (uploaded, root-only), then the script making each
    role and database owed, in the decision's order."""
    assert plan.postgresql is not None
    passwords = {role.name: role.password for role in plan.postgresql.roles}
    verifiers = "".join(f"{d.name} {new_verifier(passwords[d.name])}\n"
                        for d in decision.databases if d.kind == ROLE and d.password)
    arguments = [word for d in decision.databases for word in (
        (ROLE, d.name, "yes" if d.password else "no") if d.kind == ROLE
        else (DATABASE, d.name, d.owner))]
    upload = f"{POSTGRESQL_VERIFIERS}{TEMP_SUFFIX}"
    paths = plan.postgresql.cluster.paths
    commands: list = []
    if verifiers:
        commands += [temp_file_command(POSTGRESQL_VERIFIERS, "0600", "root", "root"),
                     FileUploadCommand(BytesIO(verifiers.encode()), upload)]
    commands.append(script("postgresql", "roles", paths["data"], paths["sockets"], upload,
                           *arguments))
    return commands
