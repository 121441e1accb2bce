"""sshd on every host, from the model: keys only, no X11, agent, tunnel or socket forwarding,
and TCP forwarding only on a host the deploy jumps through to a container.

One drop-in, SSHD_DROP_IN (host_names.py), holds every setting. Debian 12's
/etc/ssh/sshd_config starts with `Include /etc/ssh/sshd_config.d/*.conf` (the files in sorted
order: glob(3)), and sshd keeps the first value it obtains for each keyword (sshd_config(5):
"Unless noted otherwise, for each keyword, the first obtained value will be used"; Debian's page
adds that the drop-ins "are included at the start of the configuration file, so options set
there will override those in /etc/ssh/sshd_config"). So the drop-in, named to sort before the
others (the sandbox's own `10-...`, or cloud-init's `50-cloud-init.conf` where there is one),
decides every keyword it sets, whatever a later line says; none of its keywords is one that
accumulates (Port, HostKey).

ProxyJump (`ssh -J`, `-W`, and pyinfra's paramiko client alike) asks the jump host for a
`direct-tcpip` channel to the next host's port 22: that is local forwarding from ssh(1)'s point
of view, which `AllowTcpForwarding local` allows (sshd's serverloop.c opens a direct-tcpip
channel only when the `local` bit is set) while remote forwarding (`ssh -R`) stays refused.

A change is journaled (`SSHD`): `sshd -t` checks the whole configuration with the new drop-in in
place, then `systemctl reload ssh` (SIGHUP: sshd re-executes itself and reads it; sessions
running, the deploy's own among them, are children and keep going). A rejected drop-in is put
back and the running sshd never sees it.
"""

from __future__ import annotations

import re
import shlex

from aitbc_infra.activation import Journal
from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import SSH_CONFIG_DIR, SSHD_JOURNAL
from aitbc_infra.model import HostSpec

UNIT = "ssh"  # Debian's unit (sshd.service is an alias of it)
SSHD = Journal(SSHD_JOURNAL, validate=("sshd", "-t"), activate=("systemctl", "reload", UNIT),
               effect="ssh reload")

# (why, settings): the same on every host. The deploy logs in as root with its key.
LOGIN = ("Logins by key only; root too (the deploy's own login), never by password.", (
    ("PubkeyAuthentication", "yes"),
    ("PasswordAuthentication", "no"),
    ("KbdInteractiveAuthentication", "no"),
    ("PermitRootLogin", "prohibit-password"),
    ("PermitUserEnvironment", "no"),
))
FORWARDING = ("No forwarding but TCP (below): no X11, agent, tunnel, socket or public listener.", (
    ("X11Forwarding", "no"),
    ("AllowAgentForwarding", "no"),
    ("AllowStreamLocalForwarding", "no"),
    ("PermitTunnel", "no"),
    ("GatewayPorts", "no"),
))
# A session whose client is gone (its network cut, its process killed) ends within a minute
# instead of when TCP gives up, hours later: a deploy's session holds the host's deploy lock
# until it ends.
LIVENESS = ("Sessions of a vanished client end within a minute (a deploy's holds the host's "
            "deploy lock while it lasts).", (
    ("ClientAliveInterval", "15"),
    ("ClientAliveCountMax", "4"),
))
TCP_FORWARDING = "AllowTcpForwarding"

# Every keyword the drop-in may hold, with the values it may take: what the offline check
# (`problems`) accepts, and nothing else.
ALLOWED: dict[str, frozenset[str]] = {
    **{keyword: frozenset({value}) for _, group in (LOGIN, FORWARDING, LIVENESS)
       for keyword, value in group},
    TCP_FORWARDING: frozenset({"local", "no"}),
}

# `sshd -T` names PermitRootLogin's prohibit-password by its older, equal name on some OpenSSH
# releases (the first name of the setting in servconf.c's table).
_SAME = {"prohibit-password": "without-password"}
# What separates words on an sshd_config line (servconf.c's WHITESPACE, the newline aside).
_SSHD_SPACE = re.compile(r"[ \t\r]+")


def tcp_forwarding(fleet: Fleet, host: HostSpec) -> tuple[str, str]:
    """(AllowTcpForwarding's value, why), from the model."""
    reached = fleet.reached_through(host.node)
    if reached:
        names = ", ".join(f"{h.node} ({h.bridge_address})" for h in reached)
        return "local", (f"local: SSH reaches {names} through this host (ProxyJump opens a "
                         "direct-tcpip channel: local forwarding); remote forwarding stays off.")
    if host.sshd.tcp_forwarding == "local":
        return "local", "local: sshd.tcp_forwarding of this host's data."
    return "no", "no: SSH reaches no other host through this one."


def sections(fleet: Fleet, host: HostSpec) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """The drop-in as (comment, ((keyword, value), ...)) groups, in file order."""
    value, why = tcp_forwarding(fleet, host)
    return [LOGIN, FORWARDING, LIVENESS, (why, ((TCP_FORWARDING, value),))]


def settings(fleet: Fleet, host: HostSpec) -> dict[str, str]:
    """keyword -> value of the host's drop-in."""
    return {keyword: value for _, group in sections(fleet, host) for keyword, value in group}


def effective(fleet: Fleet, host: HostSpec) -> dict[str, frozenset[str]]:
    """What `sshd -T` must print for each keyword (lower-case, as it prints them): the values
    that mean the declared one."""
    return {keyword.lower(): frozenset({value, _SAME.get(value, value)})
            for keyword, value in settings(fleet, host).items()}


def differences(fleet: Fleet, host: HostSpec, sshd_T: str) -> dict[str, str | None]:
    """keyword -> what `sshd -T` printed for it (None: nothing), for each setting of the host's
    drop-in that `sshd -T`'s output does not show as declared."""
    shown = dict(line.split(" ", 1) for line in sshd_T.splitlines() if " " in line)
    return {keyword: shown.get(keyword) for keyword, means in effective(fleet, host).items()
            if shown.get(keyword) not in means}


def problems(content: str) -> list[str]:
    """What keeps a drop-in from being exactly ours, read as sshd reads it (keywords in any case,
    values as written, `#` comments, blank lines): a line that is not `Keyword value`, a keyword
    or value outside ALLOWED (an Include or Match among them), a keyword set twice (sshd would
    keep the first and ignore the other) or never."""
    found: list[str] = []
    seen: set[str] = set()
    by_lower = {keyword.lower(): keyword for keyword in ALLOWED}
    for number, line in enumerate(content.split("\n"), 1):
        words = _SSHD_SPACE.split(line.strip(" \t\r"))
        if words == [""] or words[0].startswith("#"):
            continue
        where = f"line {number} {line!r}"
        keyword = by_lower.get(words[0].lower())
        if keyword is None:
            found.append(f"{where}: {words[0]!r} is not a keyword this file sets "
                         f"({', '.join(ALLOWED)})")
            continue
        if len(words) != 2:
            found.append(f"{where}: not one keyword and one value")
        elif words[1] not in ALLOWED[keyword]:
            found.append(f"{where}: {keyword} takes {' or '.join(sorted(ALLOWED[keyword]))} here")
        if keyword in seen:
            found.append(f"{where}: {keyword} set twice (sshd keeps the first)")
        seen.add(keyword)
    found += [f"{keyword} is not set" for keyword in ALLOWED if keyword not in seen]
    return found


# Whether the running sshd has read the configuration now on disk (verify). Its start time says
# nothing: `systemctl reload ssh` sends SIGHUP and sshd re-executes itself under the same PID, so
# neither the process's start time nor ssh.service's ExecMainStartTimestamp moves, and systemd
# records no time for a SIGHUP sent by anyone else. But sshd writes its pid file once it has read
# its configuration and bound its sockets, at its start and again after each SIGHUP (sshd.c
# writes it after server_listen(); the SIGHUP handler re-executes sshd, which reads its
# configuration and writes the file again; recent releases remove it first). So the pid
# file's mtime is when the running listener last read its configuration, whoever made it reread,
# and a configuration file modified after it (`find -newer`: full timestamp precision) is one
# the daemon does not run. The pid file must be ssh.service's main process's, or the stamp would
# be another sshd's. A file whose mtime was set back (cp -p, tar) is not seen: the deploy writes
# its drop-in fresh and renames it into place.
def loaded_probe(etc: str = SSH_CONFIG_DIR) -> str:
    """The shell that reads, on a host, what `not_loaded` judges."""
    return (f"""p=$(sshd -T 2>/dev/null | awk '$1 == "pidfile" {{print $2}}')\n"""
            """echo "pidfile $p"\necho "pid $(cat -- "$p" 2>/dev/null)"\n"""
            f"""echo "main $(systemctl show -p MainPID --value {UNIT})"\n"""
            f"""[ -f "$p" ] && find {shlex.quote(f"{etc}/sshd_config")} """
            f"""{shlex.quote(f"{etc}/sshd_config.d")} -maxdepth 1 -type f """
            """\\( -name sshd_config -o -name '*.conf' \\) -newer "$p" -printf 'newer %p\\n'""")


def not_loaded(output: str) -> str | None:
    """Why the running sshd does not run the configuration on disk, from `loaded_probe`'s
    output; None when it does."""
    lines = [line.partition(" ") for line in output.splitlines()]
    read = {tag: value.strip() for tag, _, value in lines if tag in ("pidfile", "pid", "main")}
    newer = [value for tag, _, value in lines if tag == "newer"]
    pidfile, pid, main = read.get("pidfile", ""), read.get("pid", ""), read.get("main", "")
    if not pidfile or pidfile == "none":
        return f"sshd -T names no pid file: {output!r}"
    if not pid:
        return f"{pidfile} is missing: no sshd listener runs"
    if pid != main:
        return (f"{pidfile} holds {pid}, but {UNIT}.service's main process is {main or 'none'}: "
                "the file is not the running sshd's")
    if newer:
        return (f"the running sshd (pid {pid}) last read its configuration before "
                f"{', '.join(newer)} changed: it runs an older one (systemctl reload {UNIT})")
    return None
