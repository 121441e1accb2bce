"""Facts pyinfra does not ship: small reads our idempotency decisions rest on."""

from pyinfra.api import FactBase

from aitbc_infra.host_names import FIREHOL_SWITCH_DIR
from aitbc_infra.model import systemd_unit
from deploys.shell import quoted, script


class FileContent(FactBase):
    """The text of a small file, or "" when it is missing."""

    def command(self, path: str) -> str:
        return f"{quoted('cat', '--', path)} 2>/dev/null || true"

    def process(self, output) -> str:
        return "\n".join(output).strip()


class UnitStates(FactBase):
    """{unit: (ActiveState, UnitFileState)} for the given units, in one systemctl call.

    A name without a unit type is a service, and is keyed without it; sockets and timers keep
    theirs."""

    def command(self, units: list[str]) -> str:
        return quoted("systemctl", "show", "-p", "Id", "-p", "ActiveState", "-p", "UnitFileState",
                      "--", *map(systemd_unit, units))

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output) -> dict[str, tuple[str, str]]:
        result, current = {}, {}
        for line in [*output, ""]:
            if line.strip():
                key, _, value = line.partition("=")
                current[key] = value
            elif current:
                unit = current.get("Id", "").removesuffix(".service")
                result[unit] = (current.get("ActiveState", ""), current.get("UnitFileState", ""))
                current = {}
        return result


class UserEntries(FactBase):
    """{user: (home, shell)} for those of the given users that exist."""

    def command(self, users: list[str]) -> str:
        return f"{quoted('getent', 'passwd', '--', *users)} || true"

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output) -> dict[str, tuple[str, str]]:
        entries = (line.split(":") for line in output if line.count(":") >= 6)
        return {e[0]: (e[5], e[6]) for e in entries}


class GroupEntries(FactBase):
    """The given groups that exist."""

    def command(self, groups: list[str]) -> str:
        return f"{quoted('getent', 'group', '--', *groups)} || true"

    @staticmethod
    def default() -> set:
        return set()

    def process(self, output) -> set[str]:
        return {line.split(":")[0] for line in output if line.count(":") >= 3}


class FirewallState(FactBase):
    """Whether the live rules drifted: their digest and the digest recorded when firehol last
    applied them; whether a revert of rules a run never confirmed is armed, and until when
    (deploys/scripts/firehol-state.sh)."""

    def command(self, applied: str) -> str:
        return script("firehol-state", applied, FIREHOL_SWITCH_DIR)

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output) -> dict[str, str]:
        return dict(line.strip().partition("=")[::2] for line in output if "=" in line)
