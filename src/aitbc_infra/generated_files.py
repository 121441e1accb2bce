"""What a generated file (model.GeneratedFile) holds: a template of templates/files/ filled in,
or one secret's value exactly as given.

A value reaches a template's output only through an expression `{{ ... }}`, and the environment
encodes each one for the file's format (Jinja's `finalize`), whatever the template says:
- a `.json.j2` template writes every expression as a JSON value (json.dumps, ASCII only): a
  string is one quoted JSON string whatever it holds, so no value can close it or add a key.
  Structure is written in the template itself or with `{% %}` tags; the whole output must
  parse as JSON;
- any other template writes each expression as text, and refuses one that is not a single line
  without control characters: no value adds a line of its own.
A template sees `node` (the host's node name), `chain` (its chain settings), `values` (the
entry's own) and `secrets` (each of the entry's `secrets` by name: the value, or offline its
`<redacted:NAME>` stand-in). No error names a value: a secret may be one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache

import jinja2

from aitbc_infra.model import GeneratedFile, HostSpec
from aitbc_infra.shared_state import FILE_TEMPLATES

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class GeneratedFileError(ValueError):
    """A template that cannot be filled in: the message names the template, never a value."""


def _json_value(value: object) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises: an unknown name is an error, not a value (StrictUndefined)
    return json.dumps(value, ensure_ascii=True)


def _text_value(value: object) -> str:
    text = str(value)
    if _CONTROL.search(text):
        raise GeneratedFileError("a value holds a newline or another control character, which "
                                 "a text template would write as lines of its own")
    return text


@cache
def _environment(file_format: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(FILE_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_json_value if file_format == "json" else _text_value,
    )


def content(host: HostSpec, entry: GeneratedFile, secret: Callable[[str], str]) -> str:
    """The file's content; `secret(NAME)` gives a secret's value (or its offline stand-in)."""
    if entry.secret:
        return secret(entry.secret)
    assert entry.template is not None  # the model holds one of the two
    try:
        text = _environment(entry.format).get_template(entry.template).render(
            node=host.node, chain=host.chain.model_dump(), values=dict(entry.values),
            secrets={name: secret(name) for name in entry.secrets})
    except GeneratedFileError as exc:
        raise GeneratedFileError(f"template {entry.template}: {exc}") from None
    except jinja2.TemplateError as exc:
        line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise GeneratedFileError(f"template {entry.template}{line}: "
                                 f"{exc.message or type(exc).__name__}") from None
    if entry.format == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise GeneratedFileError(f"template {entry.template} does not render JSON: "
                                     f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return text
