"""Whether what runs on a host runs the files on its disk, decided from timestamps.

A process reads its unit, socket and env files (and nginx its configuration) when it starts; a
file changed after that start is one the running process has not seen: it "runs an older
config". `aitbc-infra verify` reads, in its one script per host, when each process started and
when each of its files last changed (the commands below); everything else here is pure: parsing
what those commands print, and the decision.

Clocks. Both sides are the host's realtime clock. systemd records a unit's start in realtime
microseconds: ExecMainStartTimestamp for a service's main process, ActiveEnterTimestamp for a
socket (it has no process). The kernel stamps a file's mtime from its coarse clock, at most a
tick behind the true time, so a file written before a start never looks newer than it. An nginx
worker's start is known only in clock ticks since boot (/proc/PID/stat, 10 ms): the probe places
it on the realtime clock through a process it starts itself (that process's own start in ticks,
then the time; /proc/uptime is not used: lxcfs shows a container's own uptime there), which is
right within about a tick, so only a change more than NGINX_SLACK after the start counts.

mtime, not ctime: the deploy puts a rejected file back by renaming the copy it kept with `cp -a`
(deploys/scripts/lib.sh), which keeps the file's mtime but gives it a new ctime; by ctime a
service the rejected change never reached would look stale. For the same reason no directory's
time counts: renaming files back after a rejection moves their directory's times, and so does
removing the `.aitbc-prev` copies kept beside the files right after nginx's reload (on the
sandbox, sites-enabled's mtime moved 5-6 ms before the new workers started: a race). A file
put in place with an old mtime (`cp -p`, `touch -d`) is not seen as a change; its content is
still compared with the plan by the path checks.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from aitbc_infra.activation import ReadBy, Restart
from aitbc_infra.host_names import NGINX_CONFIG
from aitbc_infra.model import HostSpec, systemd_unit
from aitbc_infra.render import RenderedFile, certificate_files

# An nginx worker's start is read in ticks and placed on the realtime clock within about one;
# five 10 ms ticks of slack keep a file written just before a reload from ever looking newer.
NGINX_SLACK = 0.05
UNIT_PROPERTIES = ("Id", "ActiveState", "NeedDaemonReload", "ExecMainStartTimestamp",
                   "ActiveEnterTimestamp")


def _quoted(words: Iterable[object]) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


# What each unit reads when it starts ---------------------------------------------------------


def unit_inputs(host: HostSpec, files: Iterable[RenderedFile]) -> dict[str, list[str]]:
    """{unit: the paths it reads when it starts} for every unit of the host's apps.

    A service reads its unit, env and socket files (a changed socket is restarted, and its
    service with it: the service holds the old listening socket), the generated files its app
    uses, and runs its app's release, the `.venv` link; a socket reads its own unit file only,
    and keeps running through its service's restarts. Each is a file whose change the deploy
    answers with a restart."""
    own: dict[str, list[RenderedFile]] = {}
    for f in files:
        if isinstance(f.activation, Restart):
            own.setdefault(f.activation.unit, []).append(f)
        elif isinstance(f.activation, ReadBy):
            for reader in f.activation.units:
                own.setdefault(reader.unit, []).append(f)
    inputs = {}
    for app in host.apps:
        for svc in app.services:
            mine = own.get(svc.started_unit, [])
            if svc.schedule:
                # A timer reads its own file; the job it starts reads its unit and env files
                # and the release afresh at each run, and runs nothing in between.
                inputs[svc.started_unit] = sorted(f.path for f in mine)
                continue
            inputs[svc.unit] = [*sorted(f.path for f in mine), app.venv]
            if svc.port:
                inputs[f"{svc.unit}.socket"] = [f.path for f in mine if f.kind == "socket"]
    return inputs


def nginx_inputs(host: HostSpec) -> list[str]:
    """What nginx reads when it loads its configuration: /etc/nginx, and each TLS site's
    certificate and key (certbot's live links, or the provided files)."""
    return [NGINX_CONFIG, *(path for site in host.nginx_sites if site.tls
                            for path in certificate_files(host, site))]


# The probes -----------------------------------------------------------------------------------


def units_command(units: Iterable[str]) -> str:
    """The state and start of each unit, in one systemctl call (realtime, microseconds)."""
    properties = [w for p in UNIT_PROPERTIES for w in ("-p", p)]
    return _quoted(["systemctl", "show", "--timestamp=us+utc", *properties, "--",
                    *map(systemd_unit, units)])


def mtimes_command(paths: Iterable[str]) -> str:
    """`MTIME PATH` of each path that exists (a link's own mtime: the `.venv` switch)."""
    paths = sorted(set(paths))
    if any(not p.startswith("/") for p in paths):  # find would read "-x" as an option
        raise ValueError(f"absolute paths only: {paths}")
    if not paths:  # find with no path reads "."
        return "true"
    return f"{_quoted(['find', *paths])} -maxdepth 0 -printf '%T@ %p\\n' 2>/dev/null"


def nginx_command(paths: Iterable[str]) -> str:
    """nginx's workers and the files it reads, printed as:
        clock TICKS REALTIME HZ    this probe's own `cut`: its start in ticks, then the time
        worker TICKS TITLE         each child of nginx's main process: start in ticks, title
        changed MTIME PATH         every non-directory under the paths, link and target both
    """
    paths = sorted(set(paths))
    if any(not p.startswith("/") for p in paths):
        raise ValueError(f"absolute paths only: {paths}")
    where = _quoted(paths)
    return (
        "m=$(systemctl show -P MainPID nginx); "
        "echo \"clock $(cut -d' ' -f22 /proc/self/stat) $(date +%s.%N) $(getconf CLK_TCK)\"; "
        # Field 22 of /proc/PID/stat counted after the command name, which may hold blanks.
        "for p in $(cat \"/proc/$m/task/$m/children\" 2>/dev/null); do "
        "echo \"worker $(sed 's/.*) //' \"/proc/$p/stat\" | cut -d' ' -f20) "
        "$(tr '\\0' ' ' < \"/proc/$p/cmdline\")\"; done; "
        f"find {where} ! -type d -printf 'changed %T@ %p\\n' 2>/dev/null; "
        f"find -L {where} ! -type d -printf 'changed %T@ %p\\n' 2>/dev/null; true"
    )


# Parsing ----------------------------------------------------------------------------------------


def parse_units(output: str) -> dict[str, dict[str, str]]:
    """`systemctl show` of several units: {Id: {property: value}} (blocks split by blank lines)."""
    units, current = {}, {}
    for line in [*output.splitlines(), ""]:
        if line.strip():
            key, _, value = line.partition("=")
            current[key] = value
        elif current:
            units[current.get("Id", "")] = current
            current = {}
    return units


def systemd_time(value: str) -> float | None:
    """A timestamp as `systemctl show --timestamp=us+utc` prints it ("Fri 2026-12-04
    19:09:20.229433 UTC"), in seconds since the epoch; None when it never happened."""
    words = value.split()
    if len(words) != 4 or words[3] != "UTC":
        return None
    return datetime.strptime(f"{words[1]} {words[2]}", "%Y-%m-%d %H:%M:%S.%f").replace(
        tzinfo=UTC).timestamp()


def parse_mtimes(output: str, prefix: str = "") -> dict[str, float]:
    """{path: newest mtime} of `[PREFIX ]MTIME PATH` lines; any other line is ignored."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        if prefix:
            tag, _, line = line.partition(" ")
            if tag != prefix:
                continue
        stamp, _, path = line.partition(" ")
        try:
            when = float(stamp)
        except ValueError:
            continue
        if path:
            found[path] = max(when, found.get(path, when))
    return found


@dataclass(frozen=True)
class NginxReading:
    loaded: float | None  # the oldest serving worker's start: nginx's last (re)load
    changed: dict[str, float]


def parse_nginx(output: str) -> NginxReading:
    """What `nginx_command` printed. A worker `is shutting down` after a reload still serves its
    open connections with the old configuration, but does not say which one nginx loaded."""
    boot, hz, starts = None, None, []
    for line in output.splitlines():
        tag, _, rest = line.partition(" ")
        words = rest.split()
        try:
            if tag == "clock" and len(words) == 3:
                hz = int(words[2])
                boot = float(words[1]) - int(words[0]) / hz
            elif tag == "worker" and words and rest.partition(" ")[2].startswith(
                    "nginx: worker process") and "shutting down" not in rest:
                starts.append(int(words[0]))
        except ValueError:
            continue
    loaded = boot + min(starts) / hz if boot is not None and starts else None
    return NginxReading(loaded, parse_mtimes(output, prefix="changed"))


# The decisions ----------------------------------------------------------------------------------


def when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def changed_after(started: float, changed: dict[str, float], slack: float = 0.0) -> list[str]:
    """The paths changed more than `slack` seconds after `started`, newest first."""
    late = [(t, p) for p, t in changed.items() if t > started + slack]
    return [p for _, p in sorted(late, reverse=True)]


def unit_problems(unit: str, show: dict[str, str], changed: dict[str, float]) -> list[str]:
    """Why `unit` does not run the files on disk ([] when it does). A unit that is not active
    runs nothing: whether it should is the "active and enabled" check's question."""
    if show.get("ActiveState") != "active":
        return []
    problems = []
    if show.get("NeedDaemonReload") != "no":
        problems.append(f"systemd has not loaded its unit file since it changed "
                        f"(NeedDaemonReload={show.get('NeedDaemonReload') or '?'})")
    started = (systemd_time(show.get("ExecMainStartTimestamp", ""))
               or systemd_time(show.get("ActiveEnterTimestamp", "")))
    if started is None:
        return [*problems, "systemd gives no start time"]
    problems += [f"runs an older config: {path} changed {when(changed[path])}, after it started "
                 f"{when(started)}" for path in changed_after(started, changed)]
    return problems


def nginx_problems(reading: NginxReading) -> list[str]:
    if reading.loaded is None:
        return ["no nginx worker process (is nginx running?)"]
    newer = changed_after(reading.loaded, reading.changed, NGINX_SLACK)
    return [f"runs an older config: {path} changed {when(reading.changed[path])}, after nginx "
            f"last loaded its configuration {when(reading.loaded)}" for path in newer]
