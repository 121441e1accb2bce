"""Editable lines of a central requirements file: the source tree's own projects.

A monorepo keeps one dependency list for all its apps (upstream AITBC since 2026: requirements.txt
at its root), and lists its own projects there as editable lines written for the place its
checkout has on its hosts: `-e file:///opt/aitbc/packages/aitbc-shared ; python_full_version >=
"3.13.5"`. Such a line names a project of the source root: the host's `editable_root` (there
/opt/aitbc) stands for the root, so that line names `packages/aitbc-shared`; a relative path
(`-e ./packages/x`, `-e .` for the root project) is read from the root, as pip reads it run from
the checkout. The release builds the project as a wheel, like the app's `packages` (never an
editable install: a release is a copy, and no checkout is on the host), when the line's marker
holds for the host's interpreter.

Anything else on an editable line is refused, by a reason that never repeats the line (a
requirements file could hold anything): a URL (VCS, archive, a `file://` with a host), extras,
a path of anything but plain names, a `..` that climbs out, an absolute path outside
`editable_root` (or any absolute path where the host declares none), and, once mapped, a path
that resolves out of the source root (source_tree's rule, `resolve_inside`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, Marker

from aitbc_infra.source_tree import resolve_inside

SOURCE_ROOT = "."  # the source root itself, as a path of the data names it
# The forms pip reads as an editable line: `-e TARGET`, `--editable TARGET` or
# `--editable=TARGET`, then an optional environment marker after ';' (poetry export writes one).
# (`-e=TARGET` is no such line: pip's short option would take "=TARGET" as the path.)
_EDITABLE = re.compile(r"(?:-e[ \t]+|--editable(?:[ \t]+|=))(?P<target>[^ \t;]+)"
                       r"(?:[ \t]*;[ \t]*(?P<marker>.*))?")
_OPTION = re.compile(r"(?:-e|--editable)(?:[ \t]|\Z)|--editable=")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_FILE_URL = "file://"
# A path segment of the tree: the rule of the data's source paths (model.SourcePath).
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class EditableRefused(ValueError):
    """An editable line that names no project of the source tree; the reason, never the line."""


@dataclass(frozen=True)
class Editable:
    """One editable line: its number in the file, the path it names (absolute, or relative to
    the source root, "." the root itself), normalised, and its marker."""

    number: int
    path: str
    marker: str | None = None

    def holds_for(self, python: str) -> bool:
        """Whether the line applies to a host building with CPython `python` (X.Y[.Z])."""
        return self.marker is None or Marker(self.marker).evaluate(host_environment(python))


def is_editable(line: str) -> bool:
    """Whether a requirements file's line (comment stripped) is an editable line."""
    return bool(_OPTION.match(line))


def read_editable(number: int, line: str) -> Editable:
    """The editable line `line` (is_editable) as its path and marker; EditableRefused naming
    why it names no directory of a tree."""
    if _CONTROL.search(line):
        raise EditableRefused("a control character (tab, newline...) is not part of a requirement")
    if "$" in line:
        raise EditableRefused("'$' is not allowed (pip expands ${VAR} in requirements files)")
    found = _EDITABLE.fullmatch(line)
    if not found:
        raise EditableRefused("an editable line is '-e PATH' with an optional '; MARKER'")
    target, marker = found["target"], found["marker"]
    if marker is not None:
        try:
            Marker(marker)
        except InvalidMarker:
            raise EditableRefused("not an environment marker after ';'") from None
    return Editable(number, _path(target), marker)


def _path(target: str) -> str:
    if _SCHEME.match(target):
        if not target.startswith(f"{_FILE_URL}/"):
            raise EditableRefused("a URL: an editable line names a directory of the source tree "
                                  "(file:///PATH or a path)")
        target = target[len(_FILE_URL):]
    if "[" in target or "]" in target:
        raise EditableRefused("extras on an editable line: list the distributions they add")
    absolute = target.startswith("/")
    parts = target.strip("/").split("/") if target.strip("/") else []
    if ".." in parts:
        raise EditableRefused("'..' in an editable path: it may climb out of the source tree")
    parts = [p for p in parts if p != "."]
    if not all(_SEGMENT.fullmatch(p) for p in parts) or "//" in target:
        raise EditableRefused("an editable path takes plain names joined by '/' (letters, "
                              "digits, '_.+-')")
    if absolute:
        return "/" + "/".join(parts)
    return "/".join(parts) or SOURCE_ROOT


def tree_path(editable: Editable, editable_root: str | None) -> str:
    """The path under the source root that `editable` names ("." the root itself): a relative
    one as it is, an absolute one under `editable_root` (the checkout's place on its hosts)."""
    if not editable.path.startswith("/"):
        return editable.path
    if editable_root is None:
        raise EditableRefused("an absolute editable path, and the host declares no "
                              "editable_root to read it in the source tree")
    if editable.path == editable_root:
        return SOURCE_ROOT
    prefix = editable_root.rstrip("/") + "/"
    if not editable.path.startswith(prefix):
        raise EditableRefused(f"an absolute editable path outside editable_root {editable_root}: "
                              "only the source tree's own projects are built")
    return editable.path[len(prefix):]


def project_dir(root: Path, path: str) -> Path:
    """The directory `path` (tree_path) names under `root`, as named (a link kept), refused
    (SourceTreeError) unless it resolves inside the root."""
    named = root if path == SOURCE_ROOT else root / path
    resolve_inside(root, named)
    return named


def host_environment(python: str) -> dict[str, str]:
    """The values of PEP 508 markers on a host: CPython `python` (X.Y[.Z]) on Linux x86_64,
    the only kind of host the releases are built for (wheelhouse.py)."""
    parts = python.split(".")
    full = python if len(parts) == 3 else f"{python}.0"
    return {
        "implementation_name": "cpython", "implementation_version": full,
        "platform_python_implementation": "CPython", "python_full_version": full,
        "python_version": ".".join(parts[:2]), "os_name": "posix", "sys_platform": "linux",
        "platform_system": "Linux", "platform_machine": "x86_64", "platform_release": "",
        "platform_version": "", "extra": "",
    }
