"""New firewall rules stay only once the deploy reaches their host again over a new SSH
connection, as deploy-rs's magic rollback keeps a generation: how the deploy confirms them, and
what each answer means.

On the host, firehol's activation keeps what the rules replace and arms two systemd timers
(deploys/scripts/firehol-activate.sh): one applies the rules a second later, after the
activation's answer reached the deploy, the other puts everything back after the host's
`firewall.confirm_seconds` (deploys/scripts/firehol-switch.sh). pyinfra's own connection then
proves nothing and is never waited on: rules may keep an established connection and refuse
every new one, or cut it too. So the deploy asks over connections of its own
(aitbc_infra/remote.py, as pyinfra reaches the host, never through one already open):
`probe` until the rules are live, then `disarm` over one more new connection, made after it
heard they were live, so the rules live when it was made let it in
(deploys/scripts/firehol-confirm.sh). A connection that fails: the host is failed with that
said, and puts the previous rules back by itself. No pyinfra here: deploys/firewall.py runs it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from aitbc_infra.drift import sha256
from aitbc_infra.history import printable
from aitbc_infra.host_names import FIREHOL_CONF, FIREHOL_REVERT_UNIT, FIREHOL_SWITCH_DIR
from aitbc_infra.host_scripts import script
from aitbc_infra.remote import SSH_FAILED

# A new TCP connection answers within a second on any link the deploy works over: rules that
# drop this machine's packets are known after this long, well inside any confirmation window.
CONNECT_SECONDS = 5
# Between two probes while the rules are not live yet (firehol's start takes a second or two).
POLL_SECONDS = 0.5

PROBE, DISARM = "probe", "disarm"
# firehol-confirm's answers (the first word of its output).
PENDING, APPLIED, CONFIRMED = "pending", "applied", "confirmed"
FAILED, REVERTED, UNARMED = "failed", "reverted", "unarmed"

# What the deploy runs on the host, one new connection each time: command -> the finished run.
Ask = Callable[[str], subprocess.CompletedProcess]


def command(action: str) -> str:
    """firehol-confirm ACTION on the host."""
    return script("firehol-confirm", action, FIREHOL_SWITCH_DIR, FIREHOL_REVERT_UNIT, FIREHOL_CONF)


def connect_timeout(confirm_seconds: int) -> int:
    """How long a new connection may take to open: short, and a third of the window at most,
    so a refused connection is said while the host has not put the rules back yet."""
    return max(1, min(CONNECT_SECONDS, confirm_seconds // 3))


def attempt_timeout(confirm_seconds: int) -> int:
    """How long one question may take, connection included: the command answers at once, so a
    connection that opened and then hangs was cut by the rules as they went live."""
    return 2 * connect_timeout(confirm_seconds)


def confirm(ask: Ask, host: str, confirm_seconds: int, rendered_conf: str,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Confirm the rules just activated on `host`: None when they stay and are the rendered
    firehol.conf (`rendered_conf`), else what went wrong, naming the host."""
    give_up = clock() + confirm_seconds
    while True:
        done = ask(command(PROBE))
        word = _answer(done)[0]
        if done.returncode == 0 and word == APPLIED:
            break
        if done.returncode == 0 and word == PENDING and clock() < give_up:
            sleep(POLL_SECONDS)
            continue
        return problem(host, done, confirm_seconds, rendered_conf)
    return problem(host, ask(command(DISARM)), confirm_seconds, rendered_conf)


def _answer(done: subprocess.CompletedProcess) -> tuple[str, list[str], list[str]]:
    """(first word, the rest of the first line's fields, the lines after it)."""
    first, *more = (done.stdout or "").strip("\n").split("\n")
    word, *fields = first.strip().split("\t")
    return word, fields, more


def problem(host: str, done: subprocess.CompletedProcess, confirm_seconds: int,
            rendered_conf: str) -> str | None:
    """What one answer of firehol-confirm means: None for `confirmed` with the rendered
    firehol.conf, else the problem."""
    word, fields, more = _answer(done)
    back = f"the host puts the previous rules back within {confirm_seconds} s"
    if done.returncode == SSH_FAILED:
        why = (done.stderr or "").strip().splitlines()
        return (f"{host}: the new firewall rules cut this machine's SSH: confirmation over a new "
                f"connection failed ({printable(why[-1]) if why else 'no answer'}); {back}")
    if done.returncode != 0:
        said = (done.stderr or done.stdout or "").strip().splitlines()
        return (f"{host}: confirming the new firewall rules failed (exit status "
                f"{done.returncode}{': ' + printable(said[-1]) if said else ''}); unless "
                f"confirmed, {back}")
    if word == CONFIRMED:
        if fields == [sha256(rendered_conf.encode())]:
            return None
        return (f"{host}: the firewall rules kept are not the rendered ones: an earlier run's "
                "revert put the previous firehol.conf back meanwhile; deploy again")
    if word == PENDING:
        return (f"{host}: the new firewall rules did not go live within {confirm_seconds} s "
                "(the apply timer did not run?); the host puts the previous rules back")
    if word == FAILED:
        return "\n".join([f"{host}: firehol did not start the new rules; the previous rules and "
                          "firehol files are back. firehol said:", *map(printable, more)])
    if word == REVERTED:
        return (f"{host}: the host put the previous firewall rules back at "
                f"{printable(' '.join(fields))}, before the deploy confirmed the new ones "
                f"(their window: {confirm_seconds} s)")
    if word == UNARMED:
        return (f"{host}: the new firewall rules let this machine in, but the host had no "
                "revert of them armed to disarm, nor a record of one (removed by hand?); "
                "deploy again")
    return f"{host}: confirming the new firewall rules: an answer not understood: {printable(word)!r}"
