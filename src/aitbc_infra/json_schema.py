"""Validation against the JSON Schemas of schemas/ (the documents `deploy`, `diff` and `verify`
print with --json), without a dependency: the tests hold every document to its schema.

Only the part of JSON Schema (draft 2020-12) those schemas use is understood: type, enum,
const, minimum, required, properties, additionalProperties, items, anyOf and `$ref` into the
schema's own `$defs`; annotations (title, description, $schema, $comment) are read past. A
schema using any other keyword is refused, so it never checks less than it seems to. A
consumer with the `jsonschema` package validates the same files with it.
"""

from __future__ import annotations

import json

from aitbc_infra import PROJECT_ROOT

SCHEMAS = PROJECT_ROOT / "schemas"

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description"}
_CHECKED = {"type", "enum", "const", "minimum", "required", "properties",
            "additionalProperties", "items", "anyOf", "$ref"}


class SchemaError(ValueError):
    """The schema uses what this validator does not understand."""


def load(name: str) -> dict:
    """schemas/NAME.json."""
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def problems(document, schema: dict) -> list[str]:
    """Every way `document` breaks `schema`, each as `PATH: what` (PATH `$` is the whole)."""
    return _problems(document, schema, schema, "$")


def _problems(value, schema: dict, root: dict, path: str) -> list[str]:
    found: list[str] = []
    _check(value, schema, root, path, found)
    return found


def _resolve(ref: str, root: dict) -> dict:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix):] not in root.get("$defs", {}):
        raise SchemaError(f"$ref {ref!r}: only the schema's own #/$defs/NAME are understood")
    return root["$defs"][ref[len(prefix):]]


def _check(value, schema: dict, root: dict, path: str, found: list[str]) -> None:
    unknown = set(schema) - _ANNOTATIONS - _CHECKED
    if unknown:
        raise SchemaError(f"{path}: keywords {sorted(unknown)} are not understood")
    if "$ref" in schema:
        _check(value, _resolve(schema["$ref"], root), root, path, found)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            found.append(f"{path}: {json.dumps(value)[:60]} is not of type {' or '.join(types)}")
            return
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        found.append(f"{path}: {json.dumps(value)[:60]} is not one of {schema['enum']}")
    if "const" in schema and not _equal(value, schema["const"]):
        found.append(f"{path}: {json.dumps(value)[:60]} is not {json.dumps(schema['const'])}")
    if "minimum" in schema and _TYPES["number"](value) and value < schema["minimum"]:
        found.append(f"{path}: {value} is below {schema['minimum']}")
    if "anyOf" in schema and all(_problems(value, s, root, path) for s in schema["anyOf"]):
        found.append(f"{path}: matches none of the schemas it may match")
    if isinstance(value, dict):
        _object(value, schema, root, path, found)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{path}[{i}]", found)


def _equal(a, b) -> bool:
    """JSON's equality: true is not 1, as Python's would have it."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _object(value: dict, schema: dict, root: dict, path: str, found: list[str]) -> None:
    properties = schema.get("properties", {})
    found += [f"{path}: {name!r} is missing" for name in schema.get("required", [])
              if name not in value]
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            _check(item, properties[name], root, where, found)
        elif extra is False:
            found.append(f"{where}: not a property the schema allows")
        elif isinstance(extra, dict):
            _check(item, extra, root, where, found)
