"""Placeholders in commands, env values and release steps: `{root}`, `{host}`, `{port}`,
`{static}` and `{url:UNIT}`; in env values also the URLs of the host's own services from Debian
packages, `{postgresql:DATABASE}` (or `{postgresql:DATABASE:DRIVER}`) and `{redis}` (or
`{redis:N}`), filled in by aitbc_infra/databases.py.

A placeholder is `{name}` or `{name:argument}`, the name in lower-case letters; braces around
anything else ("{}", "{0}", JSON) are literal text. Each placeholder is checked when the
inventory is validated: an unknown name, a `{url:UNIT}` naming no service with a port on the
host, or `{host}`/`{port}` in a service that listens nowhere is refused there, naming host,
field and value, so `fill` at render time only ever meets placeholders it can fill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from aitbc_infra.model import PG_NAME, REDIS_DATABASES, App, HostSpec, Service

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^{}]*))?\}")



@dataclass(frozen=True)
class Kind:
    """A kind of text that is filled in: what it is called, the placeholders it may hold."""

    name: str
    allowed: tuple[str, ...]


# What each kind of text may hold: only a command runs where its own socket is known (a
# release step listens nowhere), and only an env file keeps what it holds from other users of
# the host (a command line is theirs to read): a database URL, which carries its role's
# password, goes into env alone.
COMMAND = Kind("a command", ("host", "port", "root", "static", "url"))
ENV = Kind("an env value", ("root", "url", "postgresql", "redis"))
STEP = Kind("a step's argument", ("root", "url"))
SERVICE_URLS = ("postgresql", "redis")
# A SQLAlchemy dialect's driver, as `postgresql+DRIVER://` names it (psycopg, asyncpg, ...).
_DRIVER = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class Placeholder:
    name: str
    argument: str | None  # {url:UNIT}: the unit

    def __str__(self) -> str:
        return "{" + self.name + ("" if self.argument is None else f":{self.argument}") + "}"


def parse(text: str) -> list[Placeholder]:
    return [Placeholder(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(text)]


_SHOWN = {"url": "{url:UNIT}", "postgresql": "{postgresql:DATABASE}", "redis": "{redis}"}


def _shown(names: tuple[str, ...]) -> str:
    return ", ".join(_SHOWN.get(n, f"{{{n}}}") for n in names)


def database_argument(argument: str) -> tuple[str, str | None]:
    """`DATABASE` or `DATABASE:DRIVER` of a `{postgresql:...}` placeholder."""
    database, _, driver = argument.partition(":")
    return database, driver or None


def texts(app: App) -> Iterator[tuple[str, Service | None, str, Kind]]:
    """(field under the app, its service or None, text, placeholders it may hold) for every
    text that is filled in: env values (each list item on its own), commands and the release
    steps' arguments."""

    def env(prefix: str, values: dict, svc: Service | None):
        for key, value in values.items():
            if isinstance(value, str):
                yield f"{prefix}env.{key}", svc, value, ENV
            elif isinstance(value, list):
                for k, item in enumerate(value):
                    yield f"{prefix}env.{key}[{k}]", svc, item, ENV

    yield from env("", app.env, None)
    for j, svc in enumerate(app.services):
        if svc.command:
            yield f"services[{j}].command", svc, svc.command, COMMAND
        yield from env(f"services[{j}].", svc.env, svc)
    for j, step in enumerate(app.steps):
        for k, argument in enumerate(step.command):
            yield f"steps[{j}].command[{k}]", None, argument, STEP


def _service_url_problem(ph: Placeholder, host: HostSpec) -> str | None:
    """Why a `{postgresql:...}` or `{redis...}` placeholder of an env value cannot be filled."""
    if ph.name == "redis":
        if host.redis is None:
            return f"{ph} is the host's Redis, but the host declares no redis"
        if ph.argument is not None and not (ph.argument.isdigit() and ph.argument.isascii()
                                            and int(ph.argument) < REDIS_DATABASES):
            return (f"{ph}: a Redis database is a number of 0..{REDIS_DATABASES - 1} "
                    "({redis} is 0)")
        return None
    if host.postgresql is None:
        return f"{ph} is a database of the host's PostgreSQL, but the host declares no postgresql"
    if not ph.argument:
        return f"{ph} names no database: write {{postgresql:DATABASE}}"
    database, driver = database_argument(ph.argument)
    if not PG_NAME.fullmatch(database) or host.postgresql.database(database) is None:
        declared = ", ".join(repr(db.name) for db in host.postgresql.databases)
        return f"{ph} names no database of the host's postgresql (declared: {declared})"
    if driver is not None and not _DRIVER.fullmatch(driver):
        return (f"{ph}: the driver {driver!r} is not a dialect's driver (a-z, 0-9, '_'; e.g. "
                "psycopg for postgresql+psycopg://)")
    return None


def _problem(ph: Placeholder, kind: Kind, svc: Service | None,
             urls: set[str], app: App, host: HostSpec) -> str | None:
    if ph.name in SERVICE_URLS and kind is not ENV:
        return (f"{ph} is a URL for the app's env, never its command: a command line is read by "
                "every user of the host (a database URL holds its role's password)")
    if ph.name not in kind.allowed:
        return f"unknown placeholder {ph}: {kind.name} takes {_shown(kind.allowed)}"
    if ph.name in SERVICE_URLS:
        return _service_url_problem(ph, host)
    if ph.name == "url":
        if not ph.argument:
            return f"{ph} names no unit: write {{url:UNIT}}"
        if ph.argument not in urls:
            return f"{ph} names no service with a port on this host"
        return None
    if ph.argument is not None:
        return f"{ph} takes no argument"
    if ph.name == "static" and not app.static_files:
        return f"{ph} is the release's static files, but the app declares no static_files"
    if ph.name in ("host", "port") and (svc is None or svc.port is None):
        return f"{ph} is the service's own listen address, but {svc.unit if svc else 'it'} has no port"
    return None


def problems(host: HostSpec) -> list[tuple[str, str]]:
    """(field, message) for every placeholder of the host that cannot be filled."""
    urls = {svc.unit for _, svc in host.services if svc.port is not None}
    found = []
    for i, app in enumerate(host.apps):
        for field, svc, text, kind in texts(app):
            for ph in parse(text):
                message = _problem(ph, kind, svc, urls, app, host)
                if message:
                    found.append((f"apps[{i}].{field}", f"{message} (value {text!r})"))
    return found


def service_urls(app: App, svc: Service) -> dict[str, set[str | None]]:
    """{`postgresql` or `redis`: the arguments its placeholders give} in the env `svc` runs
    with (its app's and its own): which of the host's databases and Redis it reads."""
    found: dict[str, set[str | None]] = {}
    for _, owner, text, _ in texts(app):
        if owner is None or owner is svc:
            for ph in parse(text):
                if ph.name in SERVICE_URLS:
                    found.setdefault(ph.name, set()).add(
                        database_argument(ph.argument)[0] if ph.name == "postgresql" and ph.argument
                        else ph.argument)
    return found


def fill(text: str, values: dict[str, str], url: Callable[[str], str],
         named: Mapping[str, Callable[[str | None], str]] | None = None) -> str:
    """Replace every placeholder (validated beforehand): {url:UNIT} by `url(UNIT)`, one of
    `named` ({postgresql:...}, {redis}) by its function of the argument, the others from
    `values`."""

    def one(match: re.Match) -> str:
        name, argument = match.group(1), match.group(2)
        if name == "url":
            return url(argument)
        if named and name in named:
            return named[name](argument)
        return values[name]

    return PLACEHOLDER.sub(one, text)
