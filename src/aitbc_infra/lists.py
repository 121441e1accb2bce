"""List values: one way to write a list into an env value, one way to read each back.

An app reads a list setting in its `list_format`: "json" (a JSON array, as pydantic-settings
reads it) or "comma" (items joined by ","). A comma list cannot carry every item: an item
holding a comma would read back as two, an empty one or one with surrounding space would be
dropped or trimmed, so such an item is refused (`item_problem`), never written.

A list secret is stored as a JSON array of non-empty strings (when it starts with "[") or as
comma-separated non-empty items, whatever the list format of the apps reading it;
`parse_secret` is the one reading of it, for the secrets check and for the render alike.

No message here shows an item: list secrets pass through these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

from aitbc_infra.model import App, HostSpec

JSON, COMMA = "json", "comma"
# What no env file line can hold (as the model's one-line rule), and lone surrogates, which
# are no text to write.
_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class ListValueError(ValueError):
    """A list that cannot be written or read; the message names the item by index only."""


def item_problem(item: str, list_format: str) -> str | None:
    """Why an item cannot travel in `list_format` unchanged (None: it can)."""
    if _UNWRITABLE.search(item):
        return "holds a control character or a lone surrogate"
    if list_format == COMMA:
        if "," in item:
            return ("holds a comma, which the comma list format reads as two items "
                    "(list_format 'json' carries it)")
        if not item.strip():
            return "is empty, which the comma list format drops (list_format 'json' carries it)"
        if item != item.strip():
            return ("has leading or trailing space, which the comma list format trims "
                    "(list_format 'json' carries it)")
    return None


def encode(items: Sequence[str], list_format: str) -> str:
    """The env value an app reads back as exactly `items`; ListValueError for an item the
    format cannot carry."""
    for k, item in enumerate(items):
        why = item_problem(item, list_format)
        if why:
            raise ListValueError(f"item {k} {why}")
    return json.dumps(list(items)) if list_format == JSON else ",".join(items)


def decode(value: str, list_format: str) -> list[str]:
    """How the app reads an encoded list (the inverse of `encode`)."""
    if list_format == JSON:
        items = json.loads(value)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ListValueError("not a JSON array of strings")
        return items
    return [item.strip() for item in value.split(",")] if value.strip() else []


def parse_secret(raw: str) -> list[str]:
    """A list secret as stored: a JSON array of non-empty strings, or comma-separated
    non-empty items (space around each is dropped). ListValueError says what is wrong with
    it, never what it holds."""
    text = raw.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ListValueError("starts with '[' but is not a JSON array (write a JSON array "
                                 "of strings, or items separated by commas)") from None
        if not isinstance(items, list):
            raise ListValueError("starts with '[' but is not a JSON array")
        for k, item in enumerate(items):
            if not isinstance(item, str):
                raise ListValueError(f"item {k} is a JSON {_json_type(item)}, not a string")
            if not item.strip():
                raise ListValueError(f"item {k} is empty")
    else:
        items = [item.strip() for item in text.split(",")]
        for k, item in enumerate(items):
            if not item:
                raise ListValueError(f"item {k} is empty (a comma too many?)")
    for k, item in enumerate(items):
        if _UNWRITABLE.search(item):
            raise ListValueError(f"item {k} holds a control character or a lone surrogate")
    return items


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "object"


def _env_lists(app: App) -> Iterator[tuple[str, list[str]]]:
    """(field under the app, items) for every list the data gives the app's env."""
    for key, value in app.env.items():
        if isinstance(value, list):
            yield f"env.{key}", value
    for j, svc in enumerate(app.services):
        for key, value in svc.env.items():
            if isinstance(value, list):
                yield f"services[{j}].env.{key}", value


def problems(host: HostSpec) -> list[tuple[str, str]]:
    """(field, message) for every env list item its app's list_format cannot carry. Items
    are checked as written: the placeholders they may hold ({root}, {url:UNIT}) are filled
    with paths and URLs, which hold no comma or space."""
    found = []
    for i, app in enumerate(host.apps):
        for field, items in _env_lists(app):
            for k, item in enumerate(items):
                why = item_problem(item, app.list_format)
                if why:
                    found.append((f"apps[{i}].{field}[{k}]",
                                  f"app {app.name}: item {k} {why} (value {item!r})"))
    return found
