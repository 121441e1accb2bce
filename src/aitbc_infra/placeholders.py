"""Placeholders in commands and env values: `{root}`, `{host}`, `{port}`, `{static}` and
`{url:UNIT}`.

A placeholder is `{name}` or `{name:argument}`, the name in lower-case letters; braces around
anything else ("{}", "{0}", JSON) are literal text. Each placeholder is checked when the
inventory is validated: an unknown name, a `{url:UNIT}` naming no service with a port on the
host, or `{host}`/`{port}` in a service that listens nowhere is refused there, naming host,
field and value, so `fill` at render time only ever meets placeholders it can fill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aitbc_infra.model import App, HostSpec, Service

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^{}]*))?\}")

# What each kind of text may hold: only a command runs where its own socket is known.
COMMAND = ("host", "port", "root", "static", "url")
ENV = ("root", "url")


@dataclass(frozen=True)
class Placeholder:
    name: str
    argument: str | None  # {url:UNIT}: the unit

    def __str__(self) -> str:
        return "{" + self.name + ("" if self.argument is None else f":{self.argument}") + "}"


def parse(text: str) -> list[Placeholder]:
    return [Placeholder(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(text)]


def _shown(names: tuple[str, ...]) -> str:
    return ", ".join("{url:UNIT}" if n == "url" else f"{{{n}}}" for n in names)


def texts(app: App) -> Iterator[tuple[str, Service | None, str, tuple[str, ...]]]:
    """(field under the app, its service or None, text, placeholders it may hold) for every
    text that is filled in: env values (each list item on its own) and commands."""

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


def _problem(ph: Placeholder, allowed: tuple[str, ...], svc: Service | None,
             urls: set[str], app: App) -> str | None:
    if ph.name not in allowed:
        kind = "a command" if allowed is COMMAND else "an env value"
        return f"unknown placeholder {ph}: {kind} takes {_shown(allowed)}"
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
        for field, svc, text, allowed in texts(app):
            for ph in parse(text):
                message = _problem(ph, allowed, svc, urls, app)
                if message:
                    found.append((f"apps[{i}].{field}", f"{message} (value {text!r})"))
    return found


def fill(text: str, values: dict[str, str], url: Callable[[str], str]) -> str:
    """Replace every placeholder (validated beforehand): {url:UNIT} by `url(UNIT)`, the others
    from `values`."""

    def one(match: re.Match) -> str:
        name, argument = match.group(1), match.group(2)
        return url(argument) if name == "url" else values[name]

    return PLACEHOLDER.sub(one, text)
