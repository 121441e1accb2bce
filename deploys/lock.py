"""One deploy at a time per host: a lock held for the whole run, released when the run ends.

The lock is `flock` on the host, held by a command that lives as long as a channel of this run's
own connection: when pyinfra disconnects, or the run is killed and the connection drops, the
command ends and the lock is free again. Nothing to clean up, no stale lock file to break.
A second deploy finds it held and fails that host at once, naming who holds it, rather than
waiting: a run that waited would apply changes computed from facts read before the other run's.

Once the lock is taken, the same command reads what the run must know first (the host's state,
deploys/state.py): under the lock, and in the lock's own round trip rather than one more.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from paramiko import SSHClient
from pyinfra import host
from pyinfra.connectors.base import BaseConnector
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.ssh import SSHConnector

from aitbc_infra.host_names import DEPLOY_LOCK, DEPLOY_LOCK_HOLDER

# The pyinfra releases whose connectors/ssh.py `ssh_client` was checked against (a unit test
# fails when the installed one is not among them: read that file again, then add it here).
CHECKED_PYINFRA = ("3.9.2",)

BUSY = 75  # flock's exit status when the lock is held (EX_TEMPFAIL)

_held: dict[str, object] = {}  # host name -> what keeps its lock: a channel or a process


def _holder() -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}, since {when})"


# Ends the output of the command run once the lock is taken, with that command's exit status.
READ_END = "::aitbc-lock:read-status:"


@dataclass
class Taken:
    """The lock is this run's; `output` is what the command run under it printed."""

    output: list[str]


@dataclass
class Held:
    """Another deploy holds the lock."""

    holder: str


def lock_command(holder: str, lock_file: str = DEPLOY_LOCK,
                 holder_file: str = DEPLOY_LOCK_HOLDER, *, then: str = "true") -> str:
    """Take the lock or exit BUSY; once taken, say so, run `then` in a subshell (its output,
    then READ_END and its status) and keep the lock until stdin closes."""
    inner = (f"printf '%s\\n' {shlex.quote(holder)} > {shlex.quote(holder_file)}; echo locked; "
             f"(\n{then}\n); echo \"{READ_END}$?\"; "
             f"cat > /dev/null; rm -f -- {shlex.quote(holder_file)}")
    return (f"flock -n -E {BUSY} {shlex.quote(lock_file)} sh -c {shlex.quote(inner)} "
            f"|| {{ cat -- {shlex.quote(holder_file)} 2>/dev/null; exit {BUSY}; }}")


def ssh_client(connector: BaseConnector) -> SSHClient | None:
    """The paramiko client of pyinfra's own connection to this host; None for @local.

    pyinfra offers no public way to keep a command running: `run_shell_command` closes stdin and
    waits for the exit status. The lock needs a command that lives exactly as long as the run's
    connection, so it opens a channel on that connection itself, through `SSHConnector.client`:
    an attribute pyinfra sets in `connect()` but does not document (checked: CHECKED_PYINFRA).
    """
    if isinstance(connector, LocalConnector):
        return None
    if not isinstance(connector, SSHConnector):
        raise TypeError(f"{connector.host.name}: the deploy lock needs an @ssh or @local host, "
                        f"not {type(connector).__name__}")
    client = connector.client
    if not isinstance(client, SSHClient):
        raise RuntimeError(f"{connector.host.name}: pyinfra's SSH connector holds no paramiko "
                           f"client (not connected, or pyinfra changed): {client!r}")
    return client


def acquire(then: str = "true") -> Taken | Held:
    """Lock the current host for this run, then run `then` under the lock."""
    if host.name in _held:
        raise RuntimeError(f"{host.name}: the deploy lock is already this run's")
    command = lock_command(_holder(), then=then)
    client = ssh_client(host.connector)
    if client is not None:  # ssh: a channel of pyinfra's own connection
        channel = client.get_transport().open_session()
        channel.exec_command(command)
        keeper: object = channel
        lines = _lines(channel.recv)
    else:  # @local: a child process of this run
        keeper = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        lines = _lines(keeper.stdout.read1)
    answer = next(lines, "").strip()
    if answer != "locked":
        return Held(answer or "another deploy")
    _held[host.name] = keeper
    output = []
    for line in lines:
        if line.startswith(READ_END):
            status = line.removeprefix(READ_END)
            if status != "0":
                raise RuntimeError(f"{host.name}: reading the host's state under the deploy "
                                   f"lock failed (exit status {status})")
            return Taken(output)
        output.append(line)
    raise RuntimeError(f"{host.name}: the deploy lock's command ended before its read did")


def _lines(receive: Callable[[int], bytes]) -> Iterator[str]:
    """The lines of a stream read in large chunks (paramiko's file objects read a line at a
    time byte by byte: on a few hundred lines a host, a visible cost)."""
    pending = b""
    while chunk := receive(1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        yield from (line.decode(errors="replace") for line in lines)
    if pending:
        yield pending.decode(errors="replace")
