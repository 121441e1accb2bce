"""Background processes the sandbox starts, tracked by PID file (no systemd on the control side).

A PID file holds "pid starttime" so a recycled PID is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# Spawned through a short-lived helper so the daemon is not our child: it outlives the CLI and
# never lingers as a zombie of a long-running caller (pytest) after it exits.
# The helper first joins the cgroups named in $AITBC_SANDBOX_CGROUPS (see cgroups.py), so the
# daemon starts in them.
_SPAWN = (
    "import os, subprocess, sys\n"
    "for d in filter(None, os.environ.pop('AITBC_SANDBOX_CGROUPS', '').split(':')):\n"
    "    open(os.path.join(d, 'cgroup.procs'), 'w').write(str(os.getpid()))\n"
    "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=sys.stderr,\n"
    "                     stderr=sys.stderr, start_new_session=True)\n"
    "print(p.pid)\n"
)


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, starttime) of pid, or None if there is no such process (not even a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def _starttime(pid: int) -> str | None:
    st = _stat(pid)
    if st is None or st[0] == "Z":  # a zombie is dead for our purposes
        return None
    return st[1]


def wait_reaped(pid: int, start: str, timeout: float = 10.0) -> None:
    """Wait for a dead daemon's zombie to disappear.

    Our daemons are orphans, reaped by PID 1; on machines whose PID 1 is not an init (here:
    a process supervisor) that happens lazily, and `down` promises an unchanged process list.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _stat(pid)
        if st is None or st[1] != start:
            return
        time.sleep(0.1)


def spawn(argv: list[str], pidfile: Path, log: Path, env: dict[str, str] | None = None,
          cgroups: list[Path] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    if cgroups:
        env = {**(env if env is not None else os.environ),
               "AITBC_SANDBOX_CGROUPS": ":".join(map(str, cgroups))}
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        res = subprocess.run(
            [sys.executable, "-c", _SPAWN, *argv],
            stdout=subprocess.PIPE, stderr=out, env=env, check=True,
        )
    pid = int(res.stdout)
    # The helper's stdout carries the PID; its stderr (the log) becomes the daemon's output.
    pidfile.write_text(f"{pid} {_starttime(pid) or 0}\n")
    return pid


def read_pid(pidfile: Path) -> int | None:
    """The PID in pidfile if that very process still runs, else None."""
    try:
        pid_s, start = pidfile.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    pid = int(pid_s)
    return pid if _starttime(pid) == start else None


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def wait_gone(pid: int, start: str | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _starttime(pid) != start:
            return True
        time.sleep(0.1)
    return _starttime(pid) != start


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone is what we want
        os.kill(pid, sig)


def stop(pidfile: Path, sig: int = signal.SIGTERM, timeout: float = 20.0) -> bool:
    """Stop the process in pidfile: sig, wait, then SIGKILL it and the children it leaves.

    Returns True if it had to be killed (did not stop within timeout)."""
    killed = False
    pid = read_pid(pidfile)
    if pid is not None:
        start = _starttime(pid)
        if start is None:  # died just now
            pidfile.unlink(missing_ok=True)
            return False
        kids = [(k, _starttime(k)) for k in children(pid)]
        _kill(pid, sig)
        if not wait_gone(pid, start, timeout):
            killed = True
            _kill(pid, signal.SIGKILL)
            wait_gone(pid, start, 5)
        # A child of nspawn is the machine's init (PID 1 of its namespace): killing it ends the
        # namespace, so nothing of the machine survives a SIGKILLed nspawn.
        for kid, kstart in kids:
            if _starttime(kid) == kstart:
                _kill(kid, signal.SIGKILL)
                wait_gone(kid, kstart, 5)
        wait_reaped(pid, start)
    pidfile.unlink(missing_ok=True)
    return killed
