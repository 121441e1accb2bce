"""A command's --json output: one JSON document on stdout (its shape in schemas/), every log
line on stderr, so that stdout parses as the document alone."""

from __future__ import annotations

import contextlib
import json
import sys
from contextlib import AbstractContextManager


def logs_to_stderr(json_output: bool) -> AbstractContextManager:
    """With --json, what the command prints meanwhile goes to stderr: stdout is the document's.
    Without, nothing changes."""
    return contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext()


def print_document(document: dict) -> None:
    print(json.dumps(document, indent=2), flush=True)
