"""The deploy lock's command: one deploy, or one rollback, at a time per host.

`flock` on host_names.DEPLOY_LOCK, held by a command that lives as long as its input: the
deploy runs it on a channel of pyinfra's own connection (deploys/lock.py), `aitbc-infra
rollback` over its own OpenSSH session (aitbc_infra/rollback_command.py). A second holder finds
it held and is refused at once, naming who holds it (the holder's file), rather than waiting.
No pyinfra here: the rollback's command line imports it.
"""

from __future__ import annotations

import shlex

from aitbc_infra.host_names import DEPLOY_LOCK, DEPLOY_LOCK_HOLDER

BUSY = 75  # flock's exit status when the lock is held (EX_TEMPFAIL)

# Ends the output of the command run once the lock is taken, with that command's exit status.
READ_END = "::aitbc-lock:read-status:"


def lock_command(holder: str, lock_file: str = DEPLOY_LOCK,
                 holder_file: str = DEPLOY_LOCK_HOLDER, *, then: str = "true",
                 after: str = "cat > /dev/null") -> str:
    """Take the lock or exit BUSY printing the holder's file; once taken, record `holder`
    there, say so, run `then` in a subshell (its output, then READ_END and its status), and
    keep the lock until stdin closes: `after` reads stdin to its end, and its status is the
    command's. `then` reads nothing of stdin, which is the run's to send to `after`."""
    inner = (f"printf '%s\\n' {shlex.quote(holder)} > {shlex.quote(holder_file)}; echo locked; "
             f"(\n{then}\n) < /dev/null; echo \"{READ_END}$?\"; "
             # The run may be gone by the time stdin ends: a failure's words must not kill
             # what still has to let the lock go.
             f"trap '' PIPE; {after}\ns=$?; rm -f -- {shlex.quote(holder_file)}; exit \"$s\"")
    return (f"flock -n -E {BUSY} {shlex.quote(lock_file)} sh -c {shlex.quote(inner)} "
            f"|| {{ s=$?; [ \"$s\" -ne {BUSY} ] || cat -- {shlex.quote(holder_file)} 2>/dev/null; "
            "exit \"$s\"; }")
