"""Shell command lines built from data.

Paths, names, emails and URLs come from the inventory: each must reach its program as exactly
one argument, whatever characters it holds, so a value can never become shell code or a second
argument even where the model's validation would have let it through.
"""

from __future__ import annotations

import shlex


def quoted(*args: object) -> str:
    """The words as one command line; plain words (options, safe paths) print unchanged."""
    return " ".join(shlex.quote(str(a)) for a in args)
