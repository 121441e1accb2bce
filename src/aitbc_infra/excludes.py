"""Exclude patterns: the paths of a source tree that the data leaves out of every copy of it.

A pattern is matched against an entry's path under the tree it is given for (`src/app/main.py`
under `apps/wallet-daemon`), one segment at a time: `*` and `?` match within a segment, never
across a '/'; a segment `**` matches any number of segments, none included (so `tests/**` also
matches `tests` itself). A pattern without '/' matches a name at any depth (`*.ptau` is
`**/*.ptau`). A directory that matches is left out whole: the walk never enters it.

The walk (source_tree.py) asks before it looks at an entry, so an excluded path is never
judged, hashed, packed or copied: an absolute symlink left out is no longer refused, because
nothing would read it.

Patterns are data and bounded: relative, plain segments (letters, digits, `_.@+-`, and the
wildcards `*`, `?`), no `.` or `..`, at most MAX_LENGTH characters, at most MAX_PATTERNS per
list. Matching simulates the pattern's segments as a set of states over the path's segments,
so its cost is the product of the two lengths whatever the pattern (no backtracking).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

MAX_LENGTH = 200
MAX_PATTERNS = 64
ANY_SEGMENTS = "**"
_SEGMENT = re.compile(r"[A-Za-z0-9_.@+*?-]+")


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is no exclude pattern, or None."""
    if not pattern:
        return "an empty pattern"
    if len(pattern) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if pattern.startswith("/"):
        return "absolute: a pattern is a path under the tree"
    segments = pattern.split("/")
    if "" in segments:
        return "an empty segment ('//' or a '/' at either end)"
    if any(s in (".", "..") for s in segments):
        return "'.' or '..' segments: a pattern stays under the tree"
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        return "segments take letters, digits, '_.@+-' and the wildcards '*', '?' only"
    if any(ANY_SEGMENTS in s and s != ANY_SEGMENTS for s in segments):
        return "'**' is a whole segment ('**/x', 'x/**'), never part of one"
    return None


def _compile(pattern: str) -> tuple[re.Pattern[str] | None, ...]:
    """The pattern's segments: a compiled one-segment glob each, None for `**`."""
    segments = pattern.split("/") if "/" in pattern else [ANY_SEGMENTS, pattern]
    # fnmatch.translate gives `*` no backtracking of its own (atomic groups); `[` never gets
    # here (pattern_problem), so `*` and `?` are its only wildcards.
    return tuple(None if s == ANY_SEGMENTS else re.compile(fnmatch.translate(s))
                 for s in segments)


def _literal_prefix(pattern: str) -> tuple[str, ...]:
    """The pattern's leading segments without wildcards: a path it matches begins with them
    (`apps/wallet/**`: apps, wallet). A walk asks every pattern about every entry of a tree of
    thousands; most patterns name a directory, and this settles most answers at once."""
    if "/" not in pattern:
        return ()  # a name at any depth
    prefix = []
    for segment in pattern.split("/"):
        if "*" in segment or "?" in segment:
            break
        prefix.append(segment)
    return tuple(prefix)


def _matches(segments: tuple[re.Pattern[str] | None, ...], parts: list[str]) -> bool:
    def closure(states: set[int]) -> set[int]:
        # A `**` may match no segment: the state after it is reached at once.
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(segments) and segments[i] is None and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return states

    states = closure({0})
    for part in parts:
        following = set()
        for i in states:
            if i == len(segments):
                continue
            glob = segments[i]
            if glob is None:
                following.add(i)  # `**` takes this segment and may take more
            elif glob.fullmatch(part):
                following.add(i + 1)
        states = closure(following)
        if not states:
            return False
    return len(segments) in states


def _matches_fast(segments: tuple[re.Pattern[str] | None, ...], parts: list[str]) -> bool:
    """_matches, with a name at any depth (`**`, then one glob) answered by the path's last
    segment alone, which is what that pattern's states come down to."""
    if len(segments) == 2 and segments[0] is None and segments[1] is not None:
        return segments[1].fullmatch(parts[-1]) is not None
    return _matches(segments, parts)


@dataclass(frozen=True)
class Exclude:
    """Exclude patterns (each valid: pattern_problem), as a test of paths under a tree."""

    patterns: tuple[str, ...] = ()
    _compiled: tuple = field(default=(), init=False, repr=False, compare=False)
    _prefixes: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(_compile(p) for p in self.patterns))
        object.__setattr__(self, "_prefixes", tuple(_literal_prefix(p) for p in self.patterns))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matching(self, path: str) -> str | None:
        """The first pattern that leaves `path` (POSIX, under the tree) out, or None."""
        if not self.patterns:
            return None
        parts = path.split("/")
        return next((pattern for pattern, prefix, segments in zip(
                         self.patterns, self._prefixes, self._compiled, strict=True)
                     if tuple(parts[:len(prefix)]) == prefix and _matches_fast(segments, parts)),
                    None)
