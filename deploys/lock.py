"""One deploy at a time per host: a lock held for the whole run, released when the run ends.

The lock is `flock` on the host, held by a command that lives as long as a channel of this run's
own connection: when pyinfra disconnects, or the run is killed and the connection drops, the
command ends and the lock is free again. Nothing to clean up, no stale lock file to break.
A second deploy finds it held and fails that host at once, naming who holds it, rather than
waiting: a run that waited would apply changes computed from facts read before the other run's.

Once the lock is taken, the same command reads what the run must know first (the host's state,
deploys/state.py): under the lock, and in the lock's own round trip rather than one more.
Then it reads its input until the run ends, and hands what the run sent (its line of the
deploy history, deploys/history.py) to `after` before it lets the lock go: the history rides
the lock's channel, which the run holds open anyway (`send`, `release`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from paramiko import SSHClient
from pyinfra import host
from pyinfra.connectors.base import BaseConnector
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.ssh import SSHConnector

# The lock's command itself is aitbc_infra/deploy_lock.py's (the rollback takes it too).
from aitbc_infra.deploy_lock import BUSY, READ_END, lock_command

__all__ = ["BUSY", "READ_END", "Held", "Taken", "acquire", "lock_command", "release", "send",
           "ssh_client"]

# The pyinfra releases whose connectors/ssh.py `ssh_client` was checked against (a unit test
# fails when the installed one is not among them: read that file again, then add it here).
CHECKED_PYINFRA = ("3.9.2",)

_held: dict[str, object] = {}  # host name -> what keeps its lock: a channel or a process
# Hosts whose connection this run knows cut (new firewall rules it could not confirm): their
# lock's command is let go without waiting for an answer that cannot come.
_unreachable: set[str] = set()


@dataclass
class Taken:
    """The lock is this run's; `output` is what the command run under it printed."""

    output: list[str]


@dataclass
class Held:
    """Another deploy holds the lock: what its holder's file says (aitbc_infra/history.py,
    `describe_holder`, reads it)."""

    holder: str


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


def acquire(holder: str, then: str = "true", after: str = "cat > /dev/null") -> Taken | Held:
    """Lock the current host for this run, recording `holder`, then run `then` under the
    lock; `after` gets what the run `send`s, once it `release`s the lock (or ends)."""
    if host.name in _held:
        raise RuntimeError(f"{host.name}: the deploy lock is already this run's")
    command = lock_command(holder, then=then, after=after)
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


def send(name: str, line: str) -> None:
    """Write one line to the lock's command on host `name`: no answer is awaited, so it costs
    no round trip."""
    keeper = _held[name]
    data = f"{line}\n".encode()
    if isinstance(keeper, subprocess.Popen):
        keeper.stdin.write(data)
        keeper.stdin.flush()
    else:
        keeper.sendall(data)


def unreachable(name: str) -> None:
    """This run's connection to host `name` may be cut (deploys/firewall.py): its release
    waits for no answer. What was sent may still reach the host once its previous rules are
    back (the closed connection's data is resent for a while); if not, the host's history lacks
    the run's line, and the lock's command ends when sshd drops the connection."""
    _unreachable.add(name)


def release(name: str, wait: float | None) -> str | None:
    """End the input of the lock's command on host `name`: it runs its `after` and lets the
    lock go. With `wait`, up to that many seconds for its exit status: None when it is 0, else
    what went wrong. Without, None at once: the command finishes on the host by itself (the
    data sent before is delivered before the connection closes, and nothing it does needs the
    connection); a local one is waited for all the same, it costs no round trip."""
    keeper = _held.pop(name)
    if name in _unreachable:
        wait = None
    if isinstance(keeper, subprocess.Popen):
        keeper.stdin.close()
        try:
            status = keeper.wait(timeout=wait or 30)
        except subprocess.TimeoutExpired:
            return f"the deploy lock's command did not end within {wait or 30} s"
        return None if status == 0 else f"the deploy lock's command exited {status}"
    keeper.shutdown_write()
    if wait is None:
        return None
    deadline = time.monotonic() + wait
    while not keeper.exit_status_ready():
        if time.monotonic() > deadline:
            return f"the deploy lock's command did not end within {wait} s"
        time.sleep(0.005)  # gevent's, under pyinfra: the other hosts' releases run meanwhile
    status = keeper.recv_exit_status()
    if status == 0:
        return None
    said = keeper.recv_stderr(4096).decode(errors="replace").strip() if keeper.recv_stderr_ready() else ""
    return f"the deploy lock's command exited {status}" + (f": {said}" if said else "")
