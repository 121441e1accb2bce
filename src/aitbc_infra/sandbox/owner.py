"""Which checkout's sandbox this machine runs. Bridge, machine and address names are
machine-wide, so one sandbox at a time: `up` claims the machine for its checkout and refuses
while another checkout's sandbox still runs a process; `down` lets the claim go. A claim whose
checkout runs nothing any more (its processes died with a reboot, its checkout was removed) is
taken over. Without this, a second checkout's `up` met the first one's ACME server on the
shared address and failed on a certificate it could not explain."""

from __future__ import annotations

from pathlib import Path

from aitbc_infra.errors import UserError
from aitbc_infra.sandbox import procs
from aitbc_infra.sandbox.paths import Paths


def owner(p: Paths) -> Path | None:
    """The state directory named by the machine's claim, or None."""
    try:
        text = p.owner_file.read_text().strip()
    except FileNotFoundError:
        return None
    return Path(text) if text else None


def running(state: Path) -> list[str]:
    """What the sandbox of the checkout with this state directory still runs: the names of
    its PID files whose process lives (machines, the ACME server and its DNS, incus)."""
    return sorted(pid.stem for pid in Paths(state=state).pids.glob("*.pid")
                  if procs.read_pid(pid))


def other_running(p: Paths) -> tuple[Path, list[str]] | None:
    """Another checkout's claim and what its sandbox runs, when it runs anything."""
    other = owner(p)
    if other is None or other == p.state.resolve():
        return None
    alive = running(other)
    return (other, alive) if alive else None


def claim(p: Paths) -> None:
    """This checkout's sandbox is the machine's, or UserError naming the one that is."""
    found = other_running(p)
    if found:
        other, alive = found
        raise UserError(f"another checkout's sandbox runs on this machine ({other}: "
                        f"{', '.join(alive)}); its bridges, machine names and addresses are "
                        f"the ones this sandbox would use. Bring it down first: "
                        f"`aitbc-infra sandbox down` in {other.parent}")
    p.owner_file.parent.mkdir(parents=True, exist_ok=True)
    if owner(p) != p.state.resolve():
        p.owner_file.write_text(f"{p.state.resolve()}\n")


def release(p: Paths) -> None:
    """The claim goes, if it is this checkout's."""
    if owner(p) == p.state.resolve():
        p.owner_file.unlink(missing_ok=True)
