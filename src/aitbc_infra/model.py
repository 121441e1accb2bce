"""The typed model of one host's data, field by field.

Everything here checks a single value or a single host; checks that look across hosts
(routes to other nodes, forwards, ports per host) live in `fleet.py`.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import PurePosixPath
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

from aitbc_infra.editables import SOURCE_ROOT, Editable, EditableRefused, is_editable, read_editable
from aitbc_infra.excludes import MAX_PATTERNS, pattern_problem
from aitbc_infra.host_names import (
    ENV_DIR,
    FIREHOL_APPLY_UNIT,
    FIREHOL_REVERT_UNIT,
    RELEASE_SOURCES,
    RELEASES_DIR,
    ROLLBACK_RECORD,
    STATIC_DIR,
    VENV_LINK,
)

# Every pattern is matched whole (fullmatch): `$` would also accept a trailing newline.
# systemd accepts ASCII letters, digits and ":-_.\\" in unit names; we keep to the safe part.
_UNIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}")
# The portable POSIX user name rule used by useradd's default NAME_REGEX.
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_ENV = re.compile(r"[A-Z_][A-Z0-9_]*")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NODE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_DEVICE_NODE = re.compile(r"/dev(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)+")
_DEVICE_GROUP = re.compile(r"(char|block)-[A-Za-z0-9_.*?-]+")
# Linux interface names: at most 15 bytes, no '/', no whitespace.
_INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")
_EMAIL = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,63}}@{_LABEL}(\.{_LABEL})+")
_URL = re.compile(rf"https?://{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?(/[A-Za-z0-9._~/-]*)?")
_ORIGIN = re.compile(rf"https?://{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?")
_ASGI = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*")
_DEB = re.compile(r"[a-z0-9][a-z0-9+.-]{1,100}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# A path segment: no whitespace, quotes, shell or config syntax, and never "." or "..".
_SEGMENT = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_.@+-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Units of Debian and of the packages the deploy installs: a service of ours must not
# replace one (a unit file in /etc/systemd/system wins over the package's).
RESERVED_UNITS = {
    "ssh", "sshd", "nginx", "firehol", "fireqos", "certbot", "dbus", "cron", "getty",
    "networking", "rsync", "apt-daily", "apt-daily-upgrade", "e2scrub", "fstrim", "emergency",
    "rescue", "halt", "poweroff", "reboot", "default", "multi-user", "graphical",
    "postgresql", "redis", "redis-server",
}
RESERVED_USERS = {
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "messagebus",
    "sshd", "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-journal",
    "postgres", "redis",
}


# Groups of Debian's base system and of the packages the deploy installs: a unit given one of
# them as a supplementary group would take its privileges (disk, shadow, sudo, adm, ...).
RESERVED_GROUPS = RESERVED_USERS | {
    "adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape", "sudo",
    "audio", "dip", "operator", "src", "shadow", "utmp", "video", "sasl", "plugdev", "staff",
    "users", "nogroup", "input", "sgx", "kvm", "render", "netdev", "crontab", "ssl-cert", "_ssh",
    "lpadmin", "wheel",
}


def _matches(pattern: re.Pattern[str], what: str):
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"not a valid {what}: {value!r}")
        return value

    return check


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(f"control characters (newline, tab, ...) are not allowed: {value!r}")
    return value


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path must be absolute: {value!r}")
    if posixpath.normpath(value) != value.rstrip("/") or "//" in value:
        raise ValueError(f"path must be normalised (no '..', '.', '//'): {value!r}")
    if value != "/" and not all(_SEGMENT.fullmatch(p) for p in value.strip("/").split("/")):
        raise ValueError(f"path segments take letters, digits and '_.@+-' only: {value!r}")
    return value


def _relative_path(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError(f"path must be relative and stay inside its parent: {value!r}")
    if not all(_SEGMENT.fullmatch(p) for p in value.rstrip("/").split("/")):
        raise ValueError(f"path segments take letters, digits and '_.@+-' only: {value!r}")
    return value


# systemd's unit types: the last dotted part of a unit's full name.
UNIT_TYPES = ("service", "socket", "timer", "target", "path", "mount", "automount", "swap",
              "device", "slice", "scope")


def _unit(value: str) -> str:
    _matches(_UNIT, "systemd unit name")(value)
    base = value.split("@")[0]
    if base in RESERVED_UNITS or base.startswith("systemd-"):
        raise ValueError(f"unit name {value!r} is a system unit's; ours would replace it")
    if base in (FIREHOL_APPLY_UNIT, FIREHOL_REVERT_UNIT):  # transient: made only if no file is
        raise ValueError(f"unit name {value!r} is the deploy's own (a timer of the firewall's)")
    # The deploy adds the type (UNIT.service, UNIT.socket, UNIT.timer): a name already ending
    # in one would be read by systemctl as that unit, not as our service.
    if "." in value and value.rpartition(".")[2] in UNIT_TYPES:
        raise ValueError(f"unit name {value!r} ends in a unit type; give the bare name "
                         f"({value.rpartition('.')[0]!r}): the deploy adds the type")
    return value


def systemd_unit(name: str) -> str:
    """systemd's full name of a unit as the deploy names it: a bare name (a service's, which
    never ends in a unit type) is a service; a socket or timer keeps its own type."""
    return name if "." in name and name.rpartition(".")[2] in UNIT_TYPES else f"{name}.service"


def _user(value: str) -> str:
    _matches(_USER, "unix user name")(value)
    if value in RESERVED_USERS or value.startswith("systemd-"):
        raise ValueError(f"{value!r} is a system account; apps run as their own users")
    return value


def _group_name(value: str) -> str:
    """A group the data declares (`unix_groups`): a user name's pattern, never a system group."""
    _matches(_USER, "unix group name")(value)
    if value in RESERVED_GROUPS or value.startswith("systemd-"):
        raise ValueError(f"{value!r} is a system group; a shared directory's group is one of ours")
    return value


def _owner(value: str) -> str:
    """Who owns a shared directory or generated file: root, or a user of the data."""
    return value if value == "root" else _user(value)


def _group_ref(value: str) -> str:
    """A shared directory's or generated file's group: root, a group of the data or a user's own."""
    return value if value == "root" else _group_name(value)


_MODE = re.compile(r"[0-7]{3,4}")


def _mode(value: str) -> str:
    """An octal mode as a string of 3 or 4 digits ("750" is 0750), never a number: 0o750 in
    Python data would be 488."""
    if not _MODE.fullmatch(value):
        raise ValueError(f"not an octal mode of 3 or 4 digits (e.g. '2750'): {value!r}")
    return value


def _command(value: str) -> str:
    """Arguments of ExecStart: systemd expands $VAR and %-specifiers and splits on quotes, so a
    command is refused where it would mean more than the words it shows."""
    _one_line(value)
    for char, why in (("$", "systemd would expand it (a secret belongs in env, not argv)"),
                      ("%", "systemd would expand it as a specifier"),
                      ("\\", "systemd would read it as an escape")):
        if char in value:
            raise ValueError(f"{char!r} is not allowed in a command: {why}: {value!r}")
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"unbalanced quotes in command {value!r}: {exc}") from None
    if ";" in words:
        raise ValueError(f"a lone ';' would start a second command: {value!r}")
    return value


def _step_argument(value: str) -> str:
    """One argument of a release step's python, written into ExecStart= inside double quotes
    (so blanks, ';' and single quotes are its own): what would still mean more than the
    characters it shows there is refused."""
    _one_line(value)
    for char, why in (('"', "it would end the argument's quotes"),
                      ("$", "systemd would expand it (a secret belongs in env, not argv)"),
                      ("%", "systemd would expand it as a specifier"),
                      ("\\", "systemd would read it as an escape")):
        if char in value:
            raise ValueError(f"{char!r} is not allowed in a step's argument: {why}: {value!r}")
    return value


def _description(value: str) -> str:
    """A unit's Description=: one line; a backslash could continue it onto the next setting."""
    _one_line(value)
    if "\\" in value:
        raise ValueError(f"backslashes are not allowed in a description: {value!r}")
    return value


def _nginx_text(value: str) -> str:
    """A quoted nginx string: quotes and backslashes are escaped by the template, but nginx
    expands $variables in it and has no escape for '$'."""
    _one_line(value)
    if "$" in value:
        raise ValueError(f"'$' is not allowed (nginx would expand it): {value!r}")
    return value


def _exclude_pattern(value: str) -> str:
    problem = pattern_problem(value)
    if problem:
        raise ValueError(f"not an exclude pattern ({problem}): {value!r}")
    return value


def _device(value: str) -> str:
    # DeviceAllow= globs only device groups of /proc/devices ("char-nvidia*"), never node paths.
    if _DEVICE_NODE.fullmatch(value) or _DEVICE_GROUP.fullmatch(value):
        return value
    raise ValueError(f"not a device node (/dev/..., no wildcards) or group (char-X, block-X): {value!r}")


# A path inside the app source root: plain segments only, so it can never climb out of it.
_SOURCE_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def _source_path(value: str) -> str:
    parts = value.split("/")
    if not value or not all(_SOURCE_SEGMENT.fullmatch(p) for p in parts):
        raise ValueError(f"not a path under the source root (plain names joined by '/'): {value!r}")
    return value


def _tree_path(value: str) -> str:
    """A source path, or "." for the source root itself (a monorepo's root project, or the
    whole checkout as one tree)."""
    return value if value == SOURCE_ROOT else _source_path(value)


def path_in_tree(tree: str, path: str) -> str | None:
    """`path` (under the source root) as named under `tree` ("" for the tree itself), or None
    when it lies outside it; the tree "." holds every path."""
    if tree == SOURCE_ROOT:
        return "" if path == SOURCE_ROOT else path
    if path == tree:
        return ""
    return path[len(tree) + 1:] if path.startswith(f"{tree}/") else None


# What pip takes for a local file rather than a distribution of the index (pip's
# ARCHIVE_EXTENSIONS): `foo.whl` or `foo.tar.gz` names a file, not a package.
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz",
                     ".txz", ".tlz", ".tar.lz", ".tar.lzma")
# A comment in a pip requirements file, as pip strips it (req_file.COMMENT_RE).
_REQUIREMENT_COMMENT = re.compile(r"(^|\s+)#.*$")


def requirement_problem(text: str) -> str | None:
    """Why `text` is not a requirement a release may take, or None.

    A requirement names a distribution of the index, with extras, versions and environment
    markers: never a URL, a local file or directory, an include (-r, -c), an editable (-e) or
    an option of pip (--extra-index-url, --hash...), which would bypass the wheelhouse and the
    constraints. One rule for the `requirements` of the data and each line of a requirements
    file; the reason never repeats the text, which may come from a file that holds anything.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    if _CONTROL.search(text):
        return "a control character (tab, newline...) is not part of a requirement"
    if "$" in text:  # pip expands ${VAR} in requirements files
        return "'$' is not allowed (pip expands ${VAR} in requirements files)"
    if any(word.startswith("-") for word in text.split()):
        return "an option of pip (-r, -c, -e, --extra-index-url, --hash...), not a requirement"
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return "not a requirement (a package name, extras, versions, markers)"
    if req.url:  # a URL would bypass the wheelhouse and the constraints
        return f"requirement {req.name}: a URL, not a package and versions"
    if any(s.operator == "===" for s in req.specifier):  # any string, a path included
        return f"requirement {req.name}: '===' (arbitrary equality) is not a version"
    target = text.split(";", 1)[0].strip().lower()
    if target.endswith(_ARCHIVE_SUFFIXES) or req.name.lower().endswith(_ARCHIVE_SUFFIXES):
        return f"requirement {req.name}: a file name (pip would install a local file)"
    return None


def _requirement_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line number, requirement, continued) of each line that is neither blank nor a comment,
    numbered as pip numbers them; a line pip would join to the next is `continued`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.endswith("\\") and not _REQUIREMENT_COMMENT.match(line):
            found.append((number, line, True))
            continue
        requirement = _REQUIREMENT_COMMENT.sub("", line).strip()
        if requirement:
            found.append((number, requirement, False))
    return found


def requirement_file_problems(text: str) -> list[tuple[int, str]]:
    """(line number, reason) of each line of a pip requirements file that is neither blank,
    a comment, a requirement (requirement_problem) nor an editable line naming a directory by a
    plain path (editables.py; whether it names a project of the tree is the sources' to say)."""
    problems = []
    for number, requirement, continued in _requirement_lines(text):
        if continued:
            # pip would join the next line to this one: one requirement per line instead.
            problems.append((number, "a line continuation ('\\'): give one requirement a line"))
        elif is_editable(requirement):
            try:
                read_editable(number, requirement)
            except EditableRefused as exc:
                problems.append((number, str(exc)))
        elif reason := requirement_problem(requirement):
            problems.append((number, reason))
    return problems


def requirement_file_lines(text: str) -> list[str]:
    """The requirements of a requirements file, its editable lines left out
    (requirement_file_problems must be empty)."""
    return [line for _, line, _ in _requirement_lines(text) if not is_editable(line)]


def requirement_file_editables(text: str) -> list[Editable]:
    """The editable lines of a requirements file (requirement_file_problems must be empty)."""
    return [read_editable(number, line) for number, line, _ in _requirement_lines(text)
            if is_editable(line)]


def _requirement(value: str) -> str:
    if value != value.strip():
        raise ValueError(f"a requirement is one specifier, no surrounding space: {value!r}")
    reason = requirement_problem(value)
    if reason:
        raise ValueError(f"{reason}: {value!r}")
    return value


def _url_path(value: str) -> str:
    if (not value.startswith("/") or _CONTROL.search(value)
            or any(c in value for c in " ;{}\"'\\$#")):
        raise ValueError(f"not a URL path (must start with '/', no spaces, quotes, ';', '{{}}', "
                         f"'$', '#' or backslashes): {value!r}")
    return value


# Calendar events (systemd.time(7)) for a timer's OnCalendar=, a safe subset. The event is
# written into the unit file as it is, so only these shapes pass, each number in its field's
# range; systemd would read anything else differently, later, or not at all (at the deploy's
# `systemd-analyze verify`, on the host):
#   a shorthand (daily, hourly, ...), or [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]],
#   a date or a time at least, then optionally " UTC" (the host's own zone otherwise).
# WEEKDAYS: Mon..Sun joined by ',' or ranged by '..' ("Mon..Fri,Sun"); a date or time field:
# '*', or values, ranges (a..b) and repetitions (a/step, a..b/step) joined by ','. No '~', no
# fraction of a second, no other zone, no specifier: the characters [A-Za-z0-9*,./:-] and
# single spaces are all an event may hold.
CALENDAR_SHORTHANDS = ("minutely", "hourly", "daily", "weekly", "monthly", "quarterly",
                       "semiannually", "yearly", "annually")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CALENDAR_CHARS = re.compile(r"[A-Za-z0-9*,./: -]{1,200}")
_CALENDAR_ITEM = re.compile(r"(?P<first>[0-9]+)(\.\.(?P<last>[0-9]+))?(/(?P<step>[0-9]+))?")
# (name, lowest, highest, digits) of each field of a date and of a time.
_DATE_FIELDS = (("year", 1970, 2199, 4), ("month", 1, 12, 2), ("day", 1, 31, 2))
_TIME_FIELDS = (("hour", 0, 23, 2), ("minute", 0, 59, 2), ("second", 0, 59, 2))
_CALENDAR_FORM = ("[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [UTC], or one of "
                  + ", ".join(CALENDAR_SHORTHANDS))


def _calendar_field(text: str, name: str, low: int, high: int, digits: int) -> str | None:
    """Why one field of a date or time is refused, or None."""
    if text == "*":
        return None
    for item in text.split(","):
        found = _CALENDAR_ITEM.fullmatch(item)
        if not found:
            return (f"{name} {text!r} is not '*' or values, ranges (a..b) and repetitions "
                    f"(a/step) joined by ','")
        numbers = [found["first"], *([found["last"]] if found["last"] else [])]
        if any(len(n) > digits or (name == "year" and len(n) != 4) for n in numbers):
            return f"{name} {item!r} takes {digits if name == 'year' else f'1-{digits}'} digits"
        first, last = int(numbers[0]), int(numbers[-1])
        if not (low <= first <= high and low <= last <= high):
            return f"{name} {item!r} is outside {low}..{high}"
        if last < first:
            return f"{name} range {item!r} runs backwards"
        if found["step"] is not None and not 1 <= int(found["step"]) <= high:
            return f"{name} repetition {item!r} takes a step of 1..{high}"
    return None


def _weekdays_problem(text: str) -> str | None:
    for item in text.split(","):
        days = item.split("..")
        if len(days) > 2 or not all(d in WEEKDAYS for d in days):
            return (f"weekdays {text!r} are not {', '.join(WEEKDAYS)} joined by ',' or "
                    f"ranged by '..'")
        if WEEKDAYS.index(days[0]) > WEEKDAYS.index(days[-1]):
            return f"weekday range {item!r} runs backwards (weeks run Mon..Sun)"
    return None


def calendar_problem(value: str) -> str | None:
    """Why `value` is not a calendar event of the safe subset above, or None."""
    if not _CALENDAR_CHARS.fullmatch(value):
        bad = next((c for c in value if not re.fullmatch(r"[A-Za-z0-9*,./: -]", c)), None)
        if bad is None:
            return "empty, or longer than 200 characters"
        why = {"%": " (systemd would expand it as a specifier)",
               "\\": " (systemd would read it as an escape or a line continuation)"}.get(bad, "")
        return f"{bad!r} is not part of a calendar event{why}"
    words = value.split(" ")
    if "" in words:
        return "its parts are separated by single spaces, with none before or after"
    if words[-1] == "UTC" and len(words) > 1:
        words.pop()
    if len(words) == 1 and words[0] in CALENDAR_SHORTHANDS:
        return None
    weekdays = words.pop(0) if words and words[0][:1].isalpha() else None
    date = words.pop(0) if words and "-" in words[0] else None
    time = words.pop(0) if words and ":" in words[0] else None
    if words or not (date or time):
        return f"not of the form {_CALENDAR_FORM}"
    if weekdays and (found := _weekdays_problem(weekdays)):
        return found
    for text, fields, sep in ((date, _DATE_FIELDS, "-"), (time, _TIME_FIELDS, ":")):
        if text is None:
            continue
        parts = text.split(sep)
        named = {3: fields, 2: fields[1:] if sep == "-" else fields[:2]}.get(len(parts))
        if named is None:
            return f"{text!r} is not {'[YEAR-]MONTH-DAY' if sep == '-' else 'HOUR:MINUTE[:SECOND]'}"
        for part, field in zip(parts, named, strict=True):
            if found := _calendar_field(part, *field):
                return found
    return None


def _calendar(value: str) -> str:
    _one_line(value)
    found = calendar_problem(value)
    if found:
        raise ValueError(f"not a calendar event of the accepted form ({_CALENDAR_FORM}): "
                         f"{found}: {value!r}")
    return value


UnitName = Annotated[str, AfterValidator(_unit)]
UserName = Annotated[str, AfterValidator(_user)]
NodeName = Annotated[str, AfterValidator(_matches(NODE_NAME, "node name (a-z, 0-9, '-')"))]
Interface = Annotated[str, AfterValidator(_matches(_INTERFACE, "network interface name"))]
Email = Annotated[str, AfterValidator(_matches(_EMAIL, "e-mail address"))]
HttpUrl = Annotated[str, AfterValidator(_matches(_URL, "http(s) URL"))]
Origin = Annotated[str, AfterValidator(_matches(_ORIGIN, "http(s) origin (scheme://host[:port])"))]
AsgiRef = Annotated[str, AfterValidator(_matches(_ASGI, "module:attribute reference"))]
DebPackage = Annotated[str, AfterValidator(_matches(_DEB, "Debian package name"))]
ChainId = Annotated[str, AfterValidator(_matches(_CHAIN_ID, "chain id"))]
OneLine = Annotated[str, AfterValidator(_one_line)]
Description = Annotated[str, AfterValidator(_description)]
Identifier = Annotated[str, AfterValidator(_matches(re.compile(r"[a-z_][a-z0-9_]{0,63}"),
                                                    "lower-case identifier"))]
Command = Annotated[str, AfterValidator(_command)]
StepArgument = Annotated[str, AfterValidator(_step_argument)]
GroupName = Annotated[str, AfterValidator(_group_name)]
Owner = Annotated[str, AfterValidator(_owner)]
GroupRef = Annotated[str, AfterValidator(_group_ref)]
Mode = Annotated[str, AfterValidator(_mode)]
# A template of this project for a generated file: templates/files/NAME.
TemplateName = Annotated[str, AfterValidator(_matches(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.j2"),
                                                      "template file name (NAME.j2)"))]
NginxText = Annotated[str, AfterValidator(_nginx_text)]
EnvName = Annotated[str, AfterValidator(_matches(_ENV, "environment variable name"))]
HostName = Annotated[str, AfterValidator(_matches(_HOSTNAME, "DNS host name"))]
FileName = Annotated[str, AfterValidator(_matches(_FILENAME, "file name"))]
AbsPath = Annotated[str, AfterValidator(_absolute_path)]
RelPath = Annotated[str, AfterValidator(_relative_path)]
UrlPath = Annotated[str, AfterValidator(_url_path)]
Device = Annotated[str, AfterValidator(_device)]
SourcePath = Annotated[str, AfterValidator(_source_path)]
TreePath = Annotated[str, AfterValidator(_tree_path)]  # a source path, or "." (the root)
Requirement = Annotated[str, AfterValidator(_requirement)]
# A distribution's name on the index (PEP 508's form), no versions or extras.
DistributionName = Annotated[str, AfterValidator(_matches(
    re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"), "distribution name"))]
CalendarEvent = Annotated[str, AfterValidator(_calendar)]
# Paths of a tree left out of it (excludes.py): relative, bounded, `*`, `?` and `**` only. A
# tuple: a web content is hashed (its build is cached per run), and a list is not hashable.
Excludes = Annotated[tuple[Annotated[str, AfterValidator(_exclude_pattern)], ...],
                     Field(max_length=MAX_PATTERNS)]
# The env names the model sets itself (generated_env.py), by the key an app's `env_names`
# renames one with: a release that reads another name (a newer AITBC node reads CORS_ORIGINS
# for ALLOW_ORIGINS) gets the same checked value under it. systemd's LISTEN_* are not here:
# systemd sets them, under its own names.
InjectedEnv = Literal["allow_origins", "chain_id", "block_time_seconds", "sync_interval_seconds",
                      "peers", "rpc_bind_host", "rpc_bind_port"]
# An env value: strings (and list items) take {root} and {url:UNIT} placeholders
# (placeholders.py); lists are encoded as the app reads them.
EnvValue = bool | int | OneLine | list[OneLine]
# Numbers are numbers: to Python a bool is an int (True == 1), and pydantic's lax mode would take
# True, 8000.0 or "8000" for 8000 (`port: True` becoming port 1). Every port, count, limit and
# size is a StrictInt: an int, nothing else.
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


def _address_text(value: object) -> object:
    """An IPv4 address is written as text: pydantic would also read an int, a bool or bytes as
    one (`True` is 0.0.0.1)."""
    if not isinstance(value, str | IPv4Address):
        raise ValueError(f"an IPv4 address is written as text (e.g. '10.1.223.1'), not "
                         f"{type(value).__name__} {value!r}")
    return value


Address = Annotated[IPv4Address, BeforeValidator(_address_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(Strict):
    """When a scheduled job runs: its timer's calendar event or fixed interval (one of them)."""

    # OnCalendar=: wall-clock times, e.g. "Mon..Fri *-*-* 03:00:00", "*:0/15", "daily".
    calendar: CalendarEvent | None = None
    # OnActiveSec= and OnUnitActiveSec=: a first run this long after the timer starts (at
    # boot, or when a deploy starts it), then this long after each run began.
    every_seconds: StrictInt | None = Field(default=None, ge=1, le=366 * 86400)
    # A calendar run missed while the host was down runs once it is back (Persistent=).
    persistent: bool = False
    # Each run starts up to this much later, at random (RandomizedDelaySec=): the same job on
    # many hosts does not run on all of them at once.
    randomized_delay_seconds: StrictInt = Field(default=0, ge=0, le=86400)

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.calendar is None) == (self.every_seconds is None):
            raise ValueError("a schedule gives exactly one of 'calendar' or 'every_seconds'")
        if self.persistent and self.calendar is None:
            raise ValueError("'persistent' is for a 'calendar' schedule (an interval has no "
                             "missed time to catch up on)")
        return self


# An app's data store: a name of its own (the snapshot's file is named after it).
_DATA_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
ROOT_PLACEHOLDER = "{root}"


def _data_path(value: str) -> str:
    """An absolute path, or one under the app's root written `{root}/...` (as its env values
    are): no other placeholder, and whole once `{root}` is filled in (App checks that)."""
    _one_line(value)
    rest = value.removeprefix(ROOT_PLACEHOLDER)
    if "{" in rest or "}" in rest:
        raise ValueError(f"a data path takes {ROOT_PLACEHOLDER} at its start and no other "
                         f"placeholder: {value!r}")
    if rest == value:
        return _absolute_path(value)
    if not rest.startswith("/"):
        raise ValueError(f"a data path under the app's root is written '{ROOT_PLACEHOLDER}/...': "
                         f"{value!r}")
    # The root is a normalised absolute path itself: the whole is one when the rest is.
    _absolute_path(rest)
    return value


class SqliteData(Strict):
    """A SQLite database file of an app: before a release goes live it is copied with SQLite's
    online backup into the outgoing release (deploys/scripts/activate-release.sh), whence
    deploys/scripts/restore-data.sh puts it back.

    `kind` tells how a store is snapshotted and restored. A PostgreSQL database, once an app
    has one, is a class of its own (`kind: "postgresql"`, its database and role, `pg_dump`)
    joined to this one in `AppData` as a union told apart by `kind`; the scripts dispatch on
    the same word."""

    name: Annotated[str, AfterValidator(_matches(_DATA_NAME, "data name (a-z, 0-9, '_', '-')"))]
    kind: Literal["sqlite"]
    path: Annotated[str, AfterValidator(_data_path)]


AppData = SqliteData


class Service(Strict):
    """One process of an app release: one systemd unit."""

    unit: UnitName
    description: Description = ""
    # Arguments to the venv's python; placeholders {host}, {port}, {root} and {url:UNIT}
    # (placeholders.py: checked when the inventory is validated).
    command: Command | None = None
    asgi: AsgiRef | None = None  # module:attribute, served by uvicorn
    # Working directory: one of the app's `data_dirs` (for a program that writes where it runs),
    # or a path of one of its `trees` (source-relative, "." the root of a "." tree); else the
    # app root.
    workdir: TreePath | None = None
    workers: StrictInt | None = Field(default=None, ge=1, le=1024)
    port: Port | None = None
    bind: Literal["loopback", "bridge", "any"] = "loopback"
    after: list[UnitName] = []
    env: dict[EnvName, EnvValue] = {}
    health: UrlPath | None = None
    # A read the release must answer 2xx with the data already there (GET, after `health`
    # answers), as a candidate and at the live gate: a release whose code no longer reads
    # that data (a column it expects, missing) fails there and is rolled back.
    data_probe: UrlPath | None = None
    devices: list[Device] = []  # device nodes the unit may open (rw); all others stay closed
    # A directory the code hard-codes, seen by this unit alone as one of its app's `data_dirs`
    # (BindPaths=): {"/var/lib/aitbc": "data/bridge"}. Under /var or /srv only, and never over
    # the app's own root (its release). It changes this unit's view alone: what it hides there
    # (another app's files, the deployer's state) the unit no longer reaches.
    bind_paths: Annotated[dict[AbsPath, RelPath], Field(max_length=8)] = {}
    # A step that runs to its end (Type=oneshot) before the units naming it in `after` start,
    # which then require it: e.g. a database schema created by one process, not raced by every
    # process of the app that opens the fresh database at once.
    oneshot: bool = False
    # A job run to its end on a schedule by its own timer (UNIT.timer), never by the deploy:
    # a new release or a changed unit reaches it at its next run.
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _one_way_to_start(self) -> Service:
        if (self.command is None) == (self.asgi is None):
            raise ValueError(f"service {self.unit}: give exactly one of 'command' or 'asgi'")
        if self.oneshot and (self.command is None or self.port is not None):
            raise ValueError(f"service {self.unit}: a 'oneshot' step is a 'command' without a 'port'")
        if self.schedule and (self.command is None or self.port is not None or self.oneshot):
            raise ValueError(f"service {self.unit}: a scheduled job ('schedule') is a 'command' "
                             "without a 'port', and no 'oneshot' step: its timer starts it, "
                             "nothing waits for it")
        if self.asgi and self.port is None:
            raise ValueError(f"service {self.unit}: an 'asgi' service needs a 'port'")
        if self.health and self.port is None:
            raise ValueError(f"service {self.unit}: a 'health' path needs a 'port'")
        if self.data_probe and not self.health:
            raise ValueError(f"service {self.unit}: a 'data_probe' is asked after the 'health' "
                             "path answers: give the service a 'health' path")
        return self

    @property
    def started_unit(self) -> str:
        """The unit the deploy starts and restarts for this service: the service itself, or a
        scheduled job's timer (which alone starts the job)."""
        return f"{self.unit}.timer" if self.schedule else self.unit

    @property
    def argv(self) -> str:
        """The python arguments, placeholders still to be filled in. uvicorn serves on the
        socket systemd listens on for it (fd 3), which outlives its restarts."""
        if self.asgi:
            workers = f" --workers {self.workers}" if self.workers else ""
            return f"-m uvicorn {self.asgi} --fd 3{workers}"
        return self.command or ""


# A release step's name: part of its unit's name (UNIT-step-NAME@RELEASE), so no '-' (the
# service's unit and the step's name stay apart) and never "candidate" (a candidate's unit).
_STEP_NAME = re.compile(r"(?!candidate\Z)[a-z][a-z0-9_]{0,31}")


class Step(Strict):
    """A one-shot command bound to a release: run to its end in the NEW release (its python,
    its sources, its import roots) before that release goes live, e.g. a database migration.
    It runs as the app's user with the env file of one of its services (`service`), hardened
    as that service's unit, in that service's working directory unless `workdir` says another
    (deploys/scripts/activate-release.sh runs it; templates/systemd/step.j2 renders it)."""

    name: Annotated[str, AfterValidator(_matches(_STEP_NAME, "step name (a-z, 0-9, '_'; not "
                                                             "'candidate')"))]
    # Arguments to the release's python, one word each: e.g. ["-m", "alembic", "upgrade",
    # "head"] or ["migrate.py"]. Placeholders {root} and {url:UNIT} (placeholders.py).
    command: Annotated[list[StepArgument], Field(min_length=1, max_length=64)]
    # The service whose env file the step reads (its settings and secrets, as that service
    # gets them); may be left out when the app has a single service.
    service: UnitName | None = None
    # As a service's: one of the app's `data_dirs`, or a path of its `trees`.
    workdir: TreePath | None = None
    # A step still running then is stopped, and fails its release (TimeoutStartSec=).
    timeout_seconds: StrictInt = Field(default=300, ge=1, le=3600)


class App(Strict):
    """An app release: sources installed into one venv, run as one user by its services.

    What goes into a release, every path relative to the host's `app_sources` root ("." is the
    root itself): `packages` are Python projects (pyproject.toml) built as wheels, their path
    dependencies with them; `requirements` are extra distributions the sources import without
    declaring; `requirement_files` are pip requirements files, whose editable lines name more
    projects of the tree (editables.py); `trees` are source directories copied into the
    release as they are, for apps that run from their sources, and `import_roots` the
    directories of them its units import from (PYTHONPATH).
    """

    name: FileName
    packages: list[TreePath] = []
    requirements: list[Requirement] = []
    requirement_files: list[SourcePath] = []
    trees: list[TreePath] = []
    # Paths under each of the `trees` the release leaves out (excludes.py), e.g. tests or large
    # data files: neither checked, nor part of the release id, nor in the release. For the root
    # project (a package "."), also what its wheel is built from. (Not for other `packages`:
    # pip builds a project from all of it.)
    exclude: Excludes = ()
    # Directories of its `trees` (source-relative, "." the root of a "." tree) its units import
    # from, first to last: the PYTHONPATH of every unit, inside the release's own sources.
    import_roots: Annotated[list[TreePath], Field(max_length=32)] = []
    # Files a static server of the app serves, copied into the release's own `static/`
    # directory (the `{static}` placeholder): such a server is given that directory, never a
    # source tree, so it cannot hand out the app's code or settings.
    static_files: list[SourcePath] = []
    # Pins for the build, a file of this project; else the host's.
    constraints: SourcePath | None = None
    user: UserName
    root: AbsPath
    data_dirs: list[RelPath] = []
    # What of the app's data a release must not lose: snapshotted into the outgoing release
    # before a new one goes live (its path under a directory the app writes: one of its
    # `data_dirs` or a shared directory it writes; fleet.py checks the latter).
    data: list[AppData] = []
    cors: bool = False
    # How list values reach the app: a JSON list (pydantic-settings) or a comma-separated string.
    list_format: Literal["json", "comma"] = "json"
    chain: bool = False  # a chain node: gets the chain's settings and PEERS
    # Another name for what the model sets itself (generated_env.py), e.g.
    # {"allow_origins": "CORS_ORIGINS"}; every other one keeps its own name.
    env_names: dict[InjectedEnv, EnvName] = {}
    env: dict[EnvName, EnvValue] = {}
    secrets: list[EnvName] = []
    secret_lists: list[EnvName] = []  # secrets holding a list (comma or JSON in the secret source)
    # How the app authenticates (documentation only: rendered nowhere).
    auth: dict[Identifier, StrictInt | OneLine | list[OneLine]] | None = None
    peers: list[Annotated[str, AfterValidator(_matches(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*"),
                                                       "site or unit name"))]] = []
    # Where the node reports the heads it saw from its peers ({"peers": [{"url", "height"}]});
    # verify checks cross-site sync only where this is declared.
    sync_status: UrlPath | None = None
    # A new release runs beside the active one (a candidate on a scratch socket) and must be
    # healthy before it takes traffic. False for an app that must never run twice at once,
    # such as a node writing its chain database: its release restarts in place, then is gated.
    side_by_side: bool = True
    services: list[Service] = Field(min_length=1)
    # One-shot steps bound to a release, in order (a database migration): each run to its end
    # in the new release before it goes live; a step that fails leaves the running release as
    # it was and fails the run naming it. Run when the release changes, or when the step's own
    # unit file or the env file it reads changes; never by a rollback.
    steps: Annotated[list[Step], Field(max_length=16)] = []

    @model_validator(mode="after")
    def _installs_something(self) -> App:
        if not (self.packages or self.requirements or self.requirement_files or self.trees):
            raise ValueError(f"app {self.name}: give its sources: packages, requirements, "
                             "requirement_files or trees")
        names = [posixpath.basename(f) for f in self.static_files]
        if len(set(names)) != len(names):
            raise ValueError(f"app {self.name}: static_files share a file name: {names}")
        if any(t == STATIC_DIR or t.startswith(f"{STATIC_DIR}/") for t in self.trees):
            raise ValueError(f"app {self.name}: a tree may not be named {STATIC_DIR!r}: the "
                             "release's static files live there")
        if SOURCE_ROOT in self.trees and len(self.trees) > 1:
            raise ValueError(f"app {self.name}: the tree '.' (the source root) holds every other "
                             f"tree {[t for t in self.trees if t != SOURCE_ROOT]}: give it alone, and "
                             "leave out what the app does not need with `exclude`")
        for i, tree in enumerate(self.trees):
            inside = [t for j, t in enumerate(self.trees)
                      if j != i and path_in_tree(tree, t) is not None]
            if inside:
                raise ValueError(f"app {self.name}: the tree {tree!r} holds the trees {inside}: "
                                 "their files would be copied into the release twice")
        for svc in self.services:
            if svc.workdir and svc.workdir not in self.data_dirs and not self.in_trees(svc.workdir):
                raise ValueError(f"service {svc.unit}: workdir {svc.workdir!r} is neither a data "
                                 f"dir {self.data_dirs} nor in the app's trees {self.trees}")
            for target, source in svc.bind_paths.items():
                self._check_bind_path(svc.unit, target, source)
        for path in self.import_roots:
            if not self.in_trees(path):
                raise ValueError(f"app {self.name}: import root {path!r} is in none of the app's "
                                 f"trees {self.trees}: a unit imports only from its release")
        if len(set(self.import_roots)) != len(self.import_roots):
            raise ValueError(f"app {self.name}: import_roots name a directory twice: "
                             f"{self.import_roots}")
        names = [d.name for d in self.data]
        if len(set(names)) != len(names):
            raise ValueError(f"app {self.name}: data names repeat: {names}")
        for entry in self.data:
            try:
                _absolute_path(self.data_path(entry))
            except ValueError as exc:
                raise ValueError(f"app {self.name}: data {entry.name}: {exc}") from None
        paths = [self.data_path(d) for d in self.data]
        if len(set(paths)) != len(paths):
            raise ValueError(f"app {self.name}: two data entries name one file: {paths}")
        self._check_steps()
        return self

    def _check_steps(self) -> None:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"app {self.name}: step names repeat: {names}")
        units = [svc.unit for svc in self.services]
        for step in self.steps:
            if step.service is None and len(units) > 1:
                raise ValueError(f"app {self.name}: step {step.name}: name the service whose "
                                 f"env file it reads ('service'), one of {units}")
            if step.service is not None and step.service not in units:
                raise ValueError(f"app {self.name}: step {step.name}: service "
                                 f"{step.service!r} is none of the app's {units}")
            if step.workdir and step.workdir not in self.data_dirs and not self.in_trees(step.workdir):
                raise ValueError(f"app {self.name}: step {step.name}: workdir {step.workdir!r} is "
                                 f"neither a data dir {self.data_dirs} nor in the app's trees "
                                 f"{self.trees}")

    def _check_bind_path(self, unit: str, target: str, source: str) -> None:
        where = f"service {unit}: bind_paths[{target!r}]"
        if source not in self.data_dirs:
            raise ValueError(f"{where}: {source!r} is not one of the app's data dirs "
                             f"{self.data_dirs}")
        if not target.startswith(("/var/", "/srv/")) or target.startswith(("/var/run/", "/var/lock/")):
            raise ValueError(f"{where}: only a directory under /var or /srv is given another "
                             "view (never the system's own, /etc, /usr, /run...)")
        root = PurePosixPath(self.root)
        if PurePosixPath(target) == root or PurePosixPath(target) in root.parents \
                or root in PurePosixPath(target).parents:
            raise ValueError(f"{where}: it would hide the app's own root {self.root} (its "
                             "release and data) from the unit, or lie in it")

    def in_trees(self, path: str) -> bool:
        """Whether `path` (under the source root) lies in one of the app's trees."""
        return any(path_in_tree(tree, path) is not None for tree in self.trees)

    def release_path(self, path: str) -> str:
        """Where `path` of the app's trees lies in the active release ("." its sources' root)."""
        sources = f"{self.venv}/{RELEASE_SOURCES}"
        return sources if path == SOURCE_ROOT else f"{sources}/{path}"

    @property
    def python_path(self) -> str | None:
        """The units' PYTHONPATH: the import roots in the active release, in their order (none
        of them holds ':', a source path's segments cannot)."""
        return ":".join(self.release_path(p) for p in self.import_roots) or None

    def data_path(self, entry: AppData) -> str:
        """The data file's absolute path: `{root}` filled in with the app's root."""
        if entry.path.startswith(ROOT_PLACEHOLDER):
            return self.root + entry.path.removeprefix(ROOT_PLACEHOLDER)
        return entry.path

    @property
    def all_secrets(self) -> list[str]:
        return sorted({*self.secrets, *self.secret_lists})

    def candidate(self, svc: Service) -> bool:
        """Whether a release of this service is proven beside the running one first."""
        return self.side_by_side and svc.port is not None

    def workdir(self, svc: Service) -> str:
        """The unit's working directory: a data dir, the active release's copied sources, or the root."""
        return self._directory(svc.workdir)

    def _directory(self, workdir: str | None) -> str:
        if workdir in self.data_dirs:
            return f"{self.root}/{workdir}"
        return self.release_path(workdir) if workdir else self.root

    def step_service(self, step: Step) -> Service:
        """The service whose env file (and, unless the step names its own, working directory)
        the step takes."""
        return next(s for s in self.services if s.unit == (step.service or self.services[0].unit))

    def step_workdir_path(self, step: Step) -> str | None:
        """The step's working directory as the data says it (a data dir, a path of a tree, or
        None: the app root)."""
        return step.workdir if step.workdir is not None else self.step_service(step).workdir

    def step_workdir(self, step: Step) -> str:
        """The step's working directory on the host: where its service runs unless it says."""
        return self._directory(self.step_workdir_path(step))

    @property
    def venv(self) -> str:
        """What the units run: a symlink to the active release under `releases`."""
        return f"{self.root}/{VENV_LINK}"

    @property
    def releases(self) -> str:
        return f"{self.root}/{RELEASES_DIR}"

    @property
    def rollback_record(self) -> str:
        """There while the app runs a release `aitbc-infra rollback` put back."""
        return f"{self.root}/{ROLLBACK_RECORD}"

    @property
    def static_dir(self) -> str:
        """The active release's static files (`static_files`), and nothing else."""
        return f"{self.venv}/{RELEASE_SOURCES}/{STATIC_DIR}"


_PLAIN_LOCATION = re.compile(r"/[A-Za-z0-9_/-]*")
# A response header nginx adds: a token (RFC 9110), not a header nginx manages itself.
_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


# A proxy route's `"service": "nginx"`: the target host's plain nginx site, not a unit ("nginx"
# is a reserved unit name, so no service of ours can be called that).
NGINX_SITE = "nginx"


def _route_service(value: str) -> str:
    return value if value == NGINX_SITE else _unit(value)


@dataclass(frozen=True)
class UnitTarget:
    """A proxy route to a service: `unit` on `node` (None: the route's own host)."""

    node: str | None
    unit: str


@dataclass(frozen=True)
class SiteTarget:
    """A proxy route to another host's plain nginx site (its server_name picks the site)."""

    node: str | None


class Route(Strict):
    """One nginx location."""

    location: UrlPath
    match: Literal["prefix", "exact"] = "prefix"
    type: Literal["static", "spa", "alias", "proxy", "redirect", "status"]
    path: str | None = None  # alias: directory under the root; proxy: URI to rewrite to
    node: NodeName | None = None  # proxy: another host of the inventory
    # proxy: a unit with a port, or "nginx" for that host's site (see `target`)
    service: Annotated[str, AfterValidator(_route_service)] | None = None
    websocket: bool = False
    to: UrlPath | None = None  # redirect target
    status: StrictInt | None = Field(default=None, ge=200, le=599)
    body: NginxText | None = None
    # proxy: the upstream gets the path without `location` ("/Exchange/x" -> "/x", "/Exchange"
    # -> "/"), for an app that serves its pages at its own root.
    strip_prefix: bool = False
    # What a user's GET of this route gets: the path to ask (default: the location) and the
    # status it answers (default: 200; a redirect's 301; a status route's own). verify and the
    # sandbox's request loops hold the route to it.
    probe: UrlPath | None = None
    expect: StrictInt | None = Field(default=None, ge=200, le=599)
    # One of the host's `rate_limits`, per client address (None: no limit).
    rate_limit: Identifier | None = None

    # A class-level table, not a field (ClassVar: pydantic would copy it into every route).
    _REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {
        "alias": ("path",),
        "proxy": ("service",),
        "redirect": ("to",),
        "status": ("status",),
    }

    @model_validator(mode="after")
    def _fields_for_type(self) -> Route:
        missing = [f for f in self._REQUIRED.get(self.type, ()) if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} route needs {', '.join(missing)}")
        if self.type == "alias":
            _relative_path(self.path or "")
            # nginx replaces the location by the alias: `location /static { alias
            # .../static/; }` serves "/static../x" from ".../static/../x" (alias traversal),
            # and `location /docs/ { alias .../docs; }` serves "/docs/-old/x" from
            # ".../docs-old/x". A prefix and its directory end alike.
            if self.match == "prefix" and self.location.endswith("/") != (self.path or "").endswith("/"):
                raise ValueError(f"an alias route's location and path end in '/' both or neither: "
                                 f"location {self.location!r} with path {self.path!r} would let a "
                                 f"request reach beside the directory (nginx alias traversal); "
                                 f"write location {self.location.rstrip('/') + '/'!r} and path "
                                 f"{(self.path or '').rstrip('/') + '/'!r}")
        if self.type == "proxy" and self.path is not None:
            _url_path(self.path)
        if self.strip_prefix:
            if self.type != "proxy" or self.path is not None or self.match != "prefix":
                raise ValueError("strip_prefix is for a prefix proxy route without 'path'")
            if not _PLAIN_LOCATION.fullmatch(self.location):
                raise ValueError(f"strip_prefix takes a location of letters, digits, '_', '-' "
                                 f"and '/' only (it becomes a regular expression): "
                                 f"{self.location!r}")
        if self.match == "exact" and self.probe not in (None, self.location):
            raise ValueError(f"an exact route answers only {self.location!r}, not probe "
                             f"{self.probe!r}")
        if self.probe and self.match == "prefix" and not self.probe.startswith(self.location):
            raise ValueError(f"probe {self.probe!r} is not under location {self.location!r}")
        return self

    @property
    def probe_path(self) -> str:
        return self.probe or self.location

    @property
    def expected_status(self) -> int:
        if self.expect is not None:
            return self.expect
        if self.type == "redirect":
            return 301
        if self.type == "status":
            return self.status or 200
        return 200

    @property
    def nginx_location(self) -> str:
        return f"= {self.location}" if self.match == "exact" else self.location

    @property
    def target(self) -> UnitTarget | SiteTarget | None:
        """What a proxy route sends to; None for every other type. `Fleet.upstream` resolves it."""
        if self.type != "proxy" or self.service is None:
            return None
        if self.service == NGINX_SITE:
            return SiteTarget(self.node)
        return UnitTarget(self.node, self.service)


HeaderName = Annotated[str, AfterValidator(_matches(_HEADER, "HTTP header name"))]


class Site(Strict):
    """One nginx server block and its configuration file."""

    config_name: FileName
    server_name: HostName
    listen: Port = 80
    tls: bool = False
    root: AbsPath | None = None
    error_page_404: UrlPath | None = None
    # Response headers of a TLS site: these, all of them, or None for the host's
    # `security_headers`.
    headers: dict[HeaderName, NginxText] | None = None
    routes: list[Route] = Field(min_length=1)

    @model_validator(mode="after")
    def _root_for_files(self) -> Site:
        needs_root = [r.location for r in self.routes if r.type in ("static", "spa", "alias")]
        if needs_root and not self.root:
            raise ValueError(f"routes {needs_root} serve files but the site has no 'root'")
        return self


ANY = "any"


def _source(value: str) -> str:
    """Who a rule admits: "any", a site or node name (resolved to its public address by
    `exposure.py`), or an IPv4 address or network."""
    if value == ANY or _HOSTNAME.fullmatch(value):
        return value
    try:
        IPv4Network(value)
    except ValueError:
        raise ValueError(f"not 'any', a site or node name, or an IPv4 address/network: "
                         f"{value!r}") from None
    return value


Source = Annotated[str, AfterValidator(_source)]
# Nothing is open to every address unless the data writes "any": `allow` has no default.
Allow = Annotated[list[Source], Field(min_length=1)]


class Opening(Strict):
    """A port the host's public address answers, and who may reach it."""

    port: Port
    name: Identifier  # what answers there, as the rules and the docs name it ("ssh", "https")
    allow: Allow


class Forward(Strict):
    """A public port forwarded to a container of this host, and who may reach it."""

    port: Port
    node: NodeName
    allow: Allow


class Firewall(Strict):
    """The host's packet filter: every other port of its public address, and every container
    behind it, is closed to the wan (default deny, in and forward)."""

    open: list[Opening] = Field(min_length=1)
    forwards: list[Forward] = []
    # New rules stay only once the deploy reaches the host over a new SSH connection; unless it
    # does within this many seconds of the apply, the host puts the previous rules back by
    # itself (deploys/scripts/firehol-activate.sh arms a timer). The confirmation normally
    # comes a few seconds after the apply (firehol's start, one SSH handshake); a minute leaves
    # room for a slow start (large rule sets, ipsets) and a slow link, so good rules are never
    # taken back, and bounds how long bad ones lock the operator out. At least 10: firehol's
    # start counts in the window. At most 600: a lock-out is an outage of its own.
    confirm_seconds: StrictInt = Field(default=60, ge=10, le=600)


class User(Strict):
    name: UserName
    home: AbsPath
    system: bool = True


class UnixGroup(Strict):
    """A group of the host besides each user's own: the group of a shared directory or a
    generated file, given to the units that may read it (SupplementaryGroups=)."""

    name: GroupName


# Bits of an octal mode (shared_state.py reads them the way the kernel does).
SETUID, SETGID, STICKY = 0o4000, 0o2000, 0o1000
OTHERS = 0o007
EXECUTE = 0o111


class SharedDir(Strict):
    """A directory apps of the host share (aitbc_infra/shared_state.py): each writer's units may
    write it (ReadWritePaths=), each reader's only read it (ProtectSystem=strict keeps it
    read-only for them), and who may enter it at all is its owner, group and mode."""

    path: AbsPath
    owner: Owner
    group: GroupRef
    # E.g. "2750": the owner writes, the group reads, others nothing; the setgid bit gives the
    # files a writer makes the directory's group.
    mode: Mode
    writers: list[FileName] = []  # app names
    readers: list[FileName] = []

    @model_validator(mode="after")
    def _closed(self) -> SharedDir:
        bits = int(self.mode, 8)
        if bits & SETUID:
            raise ValueError(f"mode {self.mode}: the setuid bit means nothing on a directory; "
                             "give 2xxx (setgid) or 3xxx (setgid and sticky)")
        if bits & OTHERS:
            raise ValueError(f"mode {self.mode} gives every other user of the host access "
                             f"(last digit {self.mode[-1]}): who may enter a shared directory is "
                             "its writers and readers, declared; the last digit is 0")
        if not (self.writers or self.readers):
            raise ValueError(f"shared directory {self.path} names no writer or reader app")
        return self


TemplateValue = StrictInt | bool | OneLine | list[StrictInt | bool | OneLine]


class GeneratedFile(Strict):
    """A file written from data: a template of this project (templates/files/NAME.j2) filled
    with the host's facts, the entry's `values` and its `secrets`, or one secret's value as it
    is (`secret`). It lives in one of the host's shared directories; a change restarts the
    units of `used_by` (aitbc_infra/activation.py: ReadBy)."""

    path: AbsPath
    owner: Owner = "root"  # root: the apps read it, none can rewrite it
    group: GroupRef
    mode: Mode
    template: TemplateName | None = None
    values: dict[Identifier, TemplateValue] = {}  # the template's `values`
    secrets: list[EnvName] = []  # the template's `secrets`, by name (secrets.py)
    secret: EnvName | None = None  # the file is this secret's value, exactly
    used_by: list[FileName] = []  # the apps whose units read it at their start

    @model_validator(mode="after")
    def _one_source(self) -> GeneratedFile:
        if (self.template is None) == (self.secret is None):
            raise ValueError(f"generated file {self.path}: give exactly one of 'template' or "
                             "'secret'")
        if self.secret and (self.values or self.secrets):
            raise ValueError(f"generated file {self.path}: 'values' and 'secrets' fill a "
                             "'template'; a 'secret' file is the secret's value alone")
        bits = int(self.mode, 8)
        if bits & (SETUID | SETGID | STICKY | EXECUTE) or bits & 0o002:
            raise ValueError(f"generated file {self.path}: mode {self.mode}: a data file is "
                             "neither executable nor writable by others, and takes no "
                             "setuid, setgid or sticky bit")
        if self.holds_secrets and bits & ~0o640:
            raise ValueError(f"generated file {self.path} holds secrets: mode {self.mode} "
                             "gives more than 0640 (owner read-write, group read)")
        return self

    @property
    def secret_names(self) -> list[str]:
        return [self.secret] if self.secret else list(self.secrets)

    @property
    def holds_secrets(self) -> bool:
        return bool(self.secret_names)

    @property
    def format(self) -> str:
        """How its values are written: JSON-encoded in a `.json.j2` template, else as text."""
        return "json" if self.template and self.template.endswith(".json.j2") else "text"


class WebContent(Strict):
    """A directory of the app sources copied into the site root."""

    source: SourcePath  # the directory copied (for an SPA its build output, e.g. "apps/x/dist")
    path: str  # directory under the site root ("" for the root itself)
    # An npm project whose `npm run build` writes `source`, built on the control machine first;
    # without a package.json there, a `source` already built is deployed as it is.
    build: SourcePath | None = None
    # Paths under `source` left out of the web root (excludes.py): neither checked nor copied.
    # (Not for `build`: npm reads its project whole.)
    exclude: Excludes = ()

    @model_validator(mode="after")
    def _relative(self) -> WebContent:
        if self.path:
            _relative_path(self.path)
        if self.build and not self.source.startswith(f"{self.build}/"):
            raise ValueError(f"source {self.source!r} must be the output of build "
                             f"{self.build!r} (a directory under it)")
        return self


class SiteFact(Strict):
    scheme: Literal["http", "https"]
    certificate: FileName | None = None  # the certificate's lineage name
    # acme: issued and renewed by certbot; provided: files given in the host's `tls_provided`.
    tls: Literal["acme", "provided"] = "acme"


class ProvidedCertificate(Strict):
    """A certificate and key on the control machine, uploaded as they are."""

    fullchain: AbsPath
    privkey: AbsPath


class RateLimit(Strict):
    """nginx's limit_req: `rate` requests per `per` for one client on one route, `burst`
    more at once; beyond that the client gets 429."""

    rate: StrictInt = Field(ge=1, le=100000)
    per: Literal["s", "m"] = "s"
    burst: StrictInt = Field(default=0, ge=0, le=100000)


class Chain(Strict):
    chain_id: ChainId
    block_time_seconds: StrictInt = Field(ge=1)
    sync_interval_seconds: StrictInt = Field(ge=1)


# What a Debian release gives the releases built for it: the glibc its manylinux wheels may
# need at most, and the CPython its python3 package ships (the data's python.version default).
@dataclass(frozen=True)
class DebianRelease:
    codename: str
    glibc: tuple[int, int]
    python: str
    postgresql: int  # the major version its `postgresql` package installs (paths name it)


DEBIAN_RELEASES = {
    12: DebianRelease("bookworm", (2, 36), "3.11.2", 15),
    13: DebianRelease("trixie", (2, 41), "3.13.5", 17),
}


# PostgreSQL names (roles, databases): lower-case SQL identifiers of at most 63 bytes, which
# need no quoting anywhere they land (a URL, pg_hba.conf, psql's :"name"), and none of the
# names PostgreSQL keeps for itself or pg_hba.conf reads as a keyword.
PG_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
PG_HBA_KEYWORDS = {"all", "sameuser", "samerole", "samegroup", "replication"}
RESERVED_PG_ROLES = PG_HBA_KEYWORDS | {"postgres", "public", "none", "current_user",
                                       "current_role", "session_user", "user"}
RESERVED_PG_DATABASES = PG_HBA_KEYWORDS | {"postgres", "template0", "template1"}


def _pg_name(what: str, reserved: set[str]):
    def check(value: str) -> str:
        _matches(PG_NAME, f"PostgreSQL {what} name (a-z, 0-9, '_', at most 63)")(value)
        if value in reserved or value.startswith("pg_"):
            raise ValueError(f"{value!r} is a name PostgreSQL keeps for itself (or pg_hba.conf "
                             f"reads as a keyword): give the {what} a name of its own")
        return value

    return check


PgRole = Annotated[str, AfterValidator(_pg_name("role", RESERVED_PG_ROLES))]
PgDatabase = Annotated[str, AfterValidator(_pg_name("database", RESERVED_PG_DATABASES))]


class Database(Strict):
    """A database of the host's PostgreSQL and the role owning it, which logs in with the
    password of a secret (secrets.py: one value per site, never shown)."""

    name: PgDatabase
    owner: PgRole
    password_secret: EnvName


class PostgreSQL(Strict):
    """Debian's PostgreSQL on the host, listening on 127.0.0.1 only: its databases, each owned
    by a role that logs in from there alone (pg_hba.conf, scram-sha-256). An app reads one
    through `{postgresql:DATABASE}` in its env (aitbc_infra/databases.py)."""

    port: Port = 5432
    databases: list[Database] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_password_per_role(self) -> PostgreSQL:
        names = [db.name for db in self.databases]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"databases {twice} declared more than once")
        secrets: dict[str, str] = {}
        for db in self.databases:
            known = secrets.setdefault(db.owner, db.password_secret)
            if known != db.password_secret:
                raise ValueError(f"role {db.owner} owns databases with different password "
                                 f"secrets ({known}, {db.password_secret}): a role has one "
                                 "password")
        return self

    @property
    def roles(self) -> dict[str, str]:
        """Each owner role and the secret holding its password, in declaration order."""
        return {db.owner: db.password_secret for db in self.databases}

    def database(self, name: str) -> Database | None:
        return next((db for db in self.databases if db.name == name), None)


# Redis's own default count of logical databases: `{redis:N}` names one of them.
REDIS_DATABASES = 16
REDIS_EVICTION = Literal["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                         "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]


class Redis(Strict):
    """Debian's Redis on the host, bound to 127.0.0.1 only, protected mode on. An app reads it
    through `{redis}` or `{redis:N}` (logical database N) in its env."""

    port: Port = 6379
    # A memory bound (maxmemory, in MiB), and what Redis does at it (maxmemory-policy).
    maxmemory_mb: StrictInt | None = Field(default=None, ge=1, le=1024 * 1024)
    maxmemory_policy: REDIS_EVICTION | None = None

    @model_validator(mode="after")
    def _policy_with_bound(self) -> Redis:
        if self.maxmemory_policy and self.maxmemory_mb is None:
            raise ValueError("maxmemory_policy says what Redis does at its memory bound: give "
                             "maxmemory_mb too")
        return self


class Python(Strict):
    """The interpreter a host builds its release venvs with: X.Y or, so that a project's
    `requires-python` like ">=3.13.5" is judged as the host will, X.Y.Z."""

    version: Annotated[str, Field(pattern=r"^3\.[0-9]{1,2}(\.[0-9]{1,3})?$")] = "3.11.2"
    executable: AbsPath = "/usr/bin/python3"
    # Pins for every wheelhouse build (a file of this project); part of each release id.
    constraints: SourcePath | None = None
    # Distributions with no wheel on the index, built here from their sdists into wheels. Each
    # build runs the sdist's own code on the control machine, so each is named: never implied.
    # Only a pure-Python wheel is taken (the control machine's interpreter is not the host's).
    build_from_source: Annotated[list[DistributionName], Field(max_length=64)] = []


class Rollout(Strict):
    """How releases are activated: the health gate's patience and how many releases stay; how
    much of the deploy history a host keeps."""

    keep_releases: StrictInt = Field(default=3, ge=2)  # the active one and at least one to roll back to
    health_timeout_seconds: StrictInt = Field(default=30, ge=1, le=600)
    # A candidate release listens on 127.0.0.1 at its service's port plus this offset.
    candidate_port_offset: StrictInt = Field(default=20000, ge=1, le=60000)
    # The deploy history on each host keeps its last this many lines (aitbc_infra/history.py):
    # a line is a few hundred bytes to a few KiB, so the log stays small whatever the runs.
    history_lines: StrictInt = Field(default=1000, ge=10, le=100000)


# An incus image: a local alias ("aitbc-sandbox-...") or REMOTE:ALIAS ("images:debian/12").
_IMAGE = re.compile(r"([a-z][a-z0-9-]{0,62}:)?[A-Za-z0-9][A-Za-z0-9_./-]{0,200}")
# incus's limits.memory: a size with a unit (or a percentage of the host's memory).
_MEMORY = re.compile(r"[1-9][0-9]{0,9}(kB|MB|GB|TB|KiB|MiB|GiB|TiB|%)")
IncusImage = Annotated[str, AfterValidator(_matches(_IMAGE, "incus image (ALIAS or REMOTE:ALIAS)"))]


class IncusNetwork(Strict):
    """The bridge an incus host's containers sit on. Its subnet is the host's own
    `bridge_address`/`bridge_prefix` (the gateway), so the address plan is written once."""

    name: Interface
    # True: an incus managed bridge that provision creates and corrects (ipv4.address, NAT).
    # False: an existing bridge incus only attaches to (nictype bridged), as in the sandbox.
    managed: bool = True
    nat: bool = True


class IncusHost(Strict):
    """A host running incus: the network and storage pool its containers get."""

    network: IncusNetwork
    storage_pool: FileName = "default"
    # Where incusd runs for this host: on the host itself (production), or on the control
    # machine (the sandbox: incus does not run nested in its machines). "control" is for a
    # sandbox host (deploy_environment "sandbox") on an existing bridge (network.managed false):
    # provision would otherwise create the host's network, NAT and dnsmasq on the control
    # machine (Fleet._check_containers refuses it).
    daemon: Literal["self", "control"] = "self"


class ContainerLimits(Strict):
    cpu: StrictInt | None = Field(default=None, ge=1, le=1024)  # limits.cpu
    memory: Annotated[str, AfterValidator(_matches(_MEMORY, "memory size (e.g. 4GiB)"))] | None = None


class ContainerSsh(Strict):
    """How the deploy reaches the container: root by key, sshd from openssh-server."""

    # Files on the control machine ("~" allowed); provision installs them in the container,
    # after reading them: authorized_key must be one OpenSSH public key (a .pub file), never a
    # private key (incus.public_key).
    authorized_key: OneLine = "~/.ssh/id_ed25519.pub"
    # A private host key to install (the sandbox writes known_hosts before anything boots);
    # None: the container keeps the host keys it generates itself.
    host_key: OneLine | None = None


class Container(Strict):
    """An incus container, provisioned on `host`; its static IPv4 is the host spec's own
    `bridge_address`, inside the incus host's network."""

    host: NodeName
    image: IncusImage
    limits: ContainerLimits = ContainerLimits()
    autostart: bool = True
    ssh: ContainerSsh = ContainerSsh()
    # /etc/hosts entries where no DNS serves the names (the sandbox).
    hosts: dict[HostName, Address] = {}


class Sshd(Strict):
    """What an operator may change of a host's sshd. Everything else of it is fixed for every
    host (aitbc_infra/sshd.py: keys only, root by key, no X11, agent, tunnel or socket
    forwarding); only closed choices here, so no value can become a line of its own."""

    # TCP forwarding. "jumps": allowed (local forwarding only) on a host the deploy reaches a
    # container through (ProxyJump: Fleet.jump_host), refused everywhere else. "local": allowed
    # on this host whatever the jumps, e.g. for an operator's `ssh -L` to a loopback service.
    tcp_forwarding: Literal["jumps", "local"] = "jumps"


class KeyPair(Strict):
    """Two secrets of a host's apps that must agree: a private key and the address it controls
    (aitbc_infra/key_pairs.py). Each site's values are checked before any connection, and the
    sandbox generates a matching pair."""

    key: EnvName
    address: EnvName
    # How the address derives from the key; one kind so far (key_pairs.KINDS).
    kind: Literal["secp256k1-ethereum"]

    @model_validator(mode="after")
    def _two_secrets(self) -> KeyPair:
        if self.key == self.address:
            raise ValueError(f"a pair is two secrets: key and address are both {self.key!r}")
        return self


class HostSpec(Strict):
    """Everything one host is: inventory data merged with its groups' data."""

    name: Annotated[str, AfterValidator(_matches(re.compile(r"@?[A-Za-z0-9][A-Za-z0-9_.-]{0,252}"),
                                                 "inventory host name"))]  # "@local" possible
    node: NodeName  # our name for it, used in cross-host references and file paths
    groups: list[str]
    # The one role group (a Python name, as pyinfra's groups are): its group_data file says
    # what the host is.
    role: Annotated[str, AfterValidator(_matches(re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}"),
                                                 "group name"))] | None = None
    deploy_environment: Literal["production", "sandbox"] = "production"
    public_address: Address | None = None
    bridge_address: Address | None = None
    wan_interface: Interface = "eth0"
    bridge_interface: Interface = "incusbr0"
    # The bridge's prefix length: containers (and forward targets) sit inside it.
    bridge_prefix: StrictInt = Field(default=24, ge=8, le=30)
    acme_server: HttpUrl = "https://acme-v02.api.letsencrypt.org/directory"
    acme_ca_bundle: AbsPath | None = None
    acme_root_file: AbsPath | None = None  # sandbox: the ACME server's root, trusted on hosts
    acme_email: Email = "admin@bubuit.net"
    # The AITBC source tree the apps come from: relative to this project, or absolute.
    # The AITBC_SRC environment variable overrides it for every host.
    app_sources: OneLine = "payload"
    # Where the tree's own files say its checkout lies on their hosts (upstream: /opt/aitbc): an
    # editable line `-e file:///opt/aitbc/X` of a requirements file names X of the source root.
    editable_root: AbsPath | None = None
    # The host's Debian release: the glibc its releases' wheels are chosen for.
    debian: Literal[12, 13] = 12
    python: Python = Python()
    secrets_file: OneLine | None = None
    # Secrets one value of which every site may hold (group_data/all.py; normally none):
    # any other secret shared by two sites is refused (aitbc_infra/secrets.py).
    shared_secrets: list[EnvName] = []
    # Secrets of this host's apps that are a private key and the address it controls: each
    # site's values must match (aitbc_infra/secrets.py), the sandbox generates matching ones.
    key_pairs: list[KeyPair] = []
    tls_provided: dict[FileName, ProvidedCertificate] = {}  # lineage -> files, for tls="provided"
    env_dir: AbsPath = ENV_DIR
    sites: dict[HostName, SiteFact]
    chain: Chain
    cors_origins: list[Origin] = []
    base_packages: list[DebPackage] = []
    packages: list[DebPackage] = []
    users: list[User] = []
    # Groups besides each user's own, and what apps share (aitbc_infra/shared_state.py).
    unix_groups: list[UnixGroup] = []
    shared_dirs: list[SharedDir] = []
    generated_files: list[GeneratedFile] = []
    apps: list[App] = []
    # Services from Debian packages, configured from the data (aitbc_infra/databases.py): the
    # host installs their packages (`postgresql`, `redis-server`: Fleet refuses a host
    # without them).
    postgresql: PostgreSQL | None = None
    redis: Redis | None = None
    web_content: list[WebContent] = []
    nginx_sites: list[Site] = []
    # Response headers every TLS site sends unless it lists its own `headers` (all.py).
    security_headers: dict[HeaderName, NginxText] = {}
    rate_limits: dict[Identifier, RateLimit] = {}
    firewall: Firewall | None = None
    rollout: Rollout = Rollout()

    @model_validator(mode="before")
    @classmethod
    def _python_of_the_release(cls, data: Any) -> Any:
        """Unless the data names one, a host builds for the python3 its Debian release ships
        (a trixie host is not built for bookworm's 3.11)."""
        if not isinstance(data, dict):
            return data
        debian = data.get("debian", 12)
        # Any other value is refused by the field itself (a list would not even be a key).
        release = DEBIAN_RELEASES.get(debian) if type(debian) is int else None
        python = data.get("python", {})
        if release and isinstance(python, dict) and "version" not in python:
            data = {**data, "python": {**python, "version": release.python}}
        return data
    incus: IncusHost | None = None  # an incus host: its containers' network
    container: Container | None = None  # an incus container: how provision creates it
    sshd: Sshd = Sshd()

    @property
    def services(self) -> list[tuple[App, Service]]:
        return [(app, svc) for app in self.apps for svc in app.services]

    @property
    def bridge_network(self) -> IPv4Interface | None:
        """The host's bridge: its address as the gateway, with the subnet's prefix."""
        if self.bridge_address is None:
            return None
        return IPv4Interface(f"{self.bridge_address}/{self.bridge_prefix}")

    def candidate_port(self, svc: Service) -> int:
        """Where a candidate release of `svc` listens (on 127.0.0.1), beside the live one."""
        return (svc.port or 0) + self.rollout.candidate_port_offset

    @property
    def plain_site(self) -> Site | None:
        """The site another host's proxy reaches: the first one without TLS."""
        return next((s for s in self.nginx_sites if not s.tls), None)

    @property
    def site_root(self) -> str | None:
        return next((s.root for s in self.nginx_sites if s.root), None)
