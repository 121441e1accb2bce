"""One bounded walk of a source tree, for everything that reads one: `check`, the release key,
the release tar and the copy into a web root.

A source root is a checkout, not code this project vouches for, and every hostile tree found so
far got through a walk that trusted it: a tree (or a directory inside it) linking out of the
root put a private key into a release tar or the public web root; a FIFO made open() wait
forever; two links to `.` made the walk exponential. So here every path is judged where it
resolves: nothing is read that does not resolve inside the (resolved) source root, nothing is
opened that is not a regular file, each directory is entered once (a link loop or a second way
into one directory is named), and the walk gives up after MAX_ENTRIES entries or MAX_DEPTH
levels, so it ends in bounded time whatever the tree. `check` and the readers share this walk:
what `check` accepts is what a deploy reads, and a reader refuses what `check` would. What it
leaves out (`Skips`: debris by name, and the data's exclude patterns) it decides before it
looks at an entry: a path left out is neither judged nor read, by any of them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal

from aitbc_infra.excludes import Exclude

# Far above any source tree or web build (the AITBC tree without its skipped directories holds
# a few thousand entries), far below what would make `check` or `diff` slow.
MAX_ENTRIES = 200_000
MAX_DEPTH = 64
CHUNK = 1 << 20  # files are hashed in chunks of this size: a large file never sits in memory

_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class SourceTreeError(Exception):
    """A source cannot be read safely; `problems` names each path and why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Skips:
    """What a walk leaves out (never judged, never read): names of build, cache and VCS debris,
    and the paths the data's exclude patterns name (excludes.py)."""

    dirs: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    exclude: Exclude = Exclude()

    def dir(self, name: str) -> bool:
        return name in self.dirs or name.endswith(self.suffixes)

    def file(self, name: str) -> bool:
        return name in self.files or name.endswith(self.suffixes)

    def excluding(self, patterns: Iterable[str]) -> Skips:
        """These skips, and the paths `patterns` match."""
        return replace(self, exclude=Exclude(tuple(patterns)))

    def left_out(self, path: str, directory: bool = False) -> str | None:
        """Why the file (or `directory`) `path` under the tree is left out by the walk, or
        None: a directory above it or the path itself skipped by name, or matched by an
        exclude pattern."""
        parts = path.split("/")
        for depth, name in enumerate(parts, start=1):
            here = "/".join(parts[:depth])
            if self.dir(name) if directory or depth < len(parts) else self.file(name):
                return f"{here!r} is never copied (build, cache or VCS debris)"
            if pattern := self.exclude.matching(here):
                return f"{here!r} is left out by the exclude pattern {pattern!r}"
        return None


NOTHING = Skips()


@dataclass(frozen=True)
class SourceFile:
    name: str  # under the tree, POSIX, through the links' names ("" when the tree is one file)
    path: Path  # where it resolves: a regular file inside the source root
    executable: bool


def _is_dir(path: Path) -> bool:
    """Whether `path` leads to a directory (through a link too): which skip rule names it."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:  # broken or looping: not a directory
        return False


def _kind(mode: int) -> str:
    return next((what for test, what in _SPECIAL if test(mode)), "a special file")


def resolve_inside(root: Path, path: Path) -> Path:
    """Where `path` resolves, when that is inside `root`; SourceTreeError otherwise."""
    real, problem = _resolve(Path(root).resolve(), Path(path))
    if problem:
        raise SourceTreeError([problem])
    assert real is not None
    return real


def _resolve(base: Path, path: Path, shown: Path | None = None) -> tuple[Path | None, str | None]:
    """(where `path` resolves, None) or (None, why it may not be read, naming it as `shown`)."""
    shown = shown or path
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return None, (f"{shown}: broken symlink" if path.is_symlink() else f"{shown} does not exist")
    except (OSError, RuntimeError) as exc:  # ELOOP; RuntimeError is pathlib's own loop error
        return None, f"{shown}: broken or looping symlink ({exc})"
    if not real.is_relative_to(base):
        how = "links to" if path.is_symlink() else "resolves to"
        return None, f"{shown} {how} {real}, outside the source root {base}"
    return real, None


def walk(root: Path, tree: Path, skips: Skips = NOTHING,
         expect: Literal["dir", "file"] | None = None, *, max_entries: int = MAX_ENTRIES,
         max_depth: int = MAX_DEPTH) -> tuple[list[SourceFile], list[str]]:
    """The regular files of `tree` (a directory, or a single file), sorted by name, and every
    problem that forbids reading it, each naming its path. Nothing is opened: only listed and
    stat()ed."""
    tree = Path(tree)
    base = Path(root).resolve()
    real, problem = _resolve(base, tree)
    if problem:
        return [], [problem]
    assert real is not None
    top = os.lstat(real)
    if stat.S_ISREG(top.st_mode) and expect != "dir":
        return [SourceFile("", real, os.access(real, os.X_OK))], []
    if not stat.S_ISDIR(top.st_mode) or expect == "file":
        what = "a directory" if stat.S_ISDIR(top.st_mode) else (
            "a regular file" if stat.S_ISREG(top.st_mode) else _kind(top.st_mode))
        want = {"dir": "a directory", "file": "a regular file"}.get(expect or "",
                                                                    "a directory or regular file")
        return [], [f"{tree} is {what}, not {want}"]

    files: list[SourceFile] = []
    problems: list[str] = []
    first_seen = {(top.st_dev, top.st_ino): tree}
    # (path as named, where it resolves, name under the tree, depth, directories above it)
    todo = [(tree, real, "", 0, frozenset(first_seen))]
    entries = 0
    while todo:
        named, here, prefix, depth, above = todo.pop()
        names: list[str] = []
        try:
            with os.scandir(here) as listing:
                for entry in listing:  # a directory of millions of names is not listed whole
                    names.append(entry.name)
                    if entries + len(names) > max_entries:
                        break
        except OSError as exc:
            problems.append(f"{named}: cannot be listed ({exc.strerror})")
            continue
        subdirs = []
        for name in sorted(names):
            entries += 1
            if entries > max_entries:
                return files, [*problems, f"{tree}: more than {max_entries} entries; not read"]
            path, target = named / name, here / name
            if skips.exclude.matching(f"{prefix}{name}"):
                continue  # the data leaves it out: never judged nor read, wherever it leads
            if skips.dir(name) if _is_dir(target) else skips.file(name):
                continue  # left out of every copy, whatever it holds: never judged nor read
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"{str(path)!r}: file name is not UTF-8")
                continue
            try:
                info = os.lstat(target)
            except OSError as exc:  # removed while walked
                problems.append(f"{path}: {exc.strerror}")
                continue
            if stat.S_ISLNK(info.st_mode):  # judged where it resolves, read there
                resolved, problem = _resolve(base, target, shown=path)
                if problem:
                    problems.append(problem)
                    continue
                assert resolved is not None
                target, info = resolved, os.lstat(resolved)
            if stat.S_ISREG(info.st_mode):
                files.append(SourceFile(f"{prefix}{name}", target, os.access(target, os.X_OK)))
                continue
            if not stat.S_ISDIR(info.st_mode):
                problems.append(f"{path} is {_kind(info.st_mode)}: only regular files and "
                                "directories can be read")
                continue
            key = (info.st_dev, info.st_ino)
            if key in above:
                problems.append(f"{path}: link loop: leads back to {first_seen[key]}")
            elif key in first_seen:
                problems.append(f"{path}: the directory {first_seen[key]} a second time "
                                "(a link to it): each directory is read once")
            elif depth + 1 > max_depth:
                problems.append(f"{path}: more than {max_depth} directories deep; not read")
            else:
                first_seen[key] = path
                subdirs.append((path, target, f"{prefix}{name}/", depth + 1, above | {key}))
        todo += reversed(subdirs)  # depth first, in name order: problems come out sorted
    return sorted(files, key=lambda f: f.name), problems


def checked_files(root: Path, tree: Path, skips: Skips = NOTHING,
                  expect: Literal["dir", "file"] | None = None) -> list[SourceFile]:
    """The files `walk` finds; SourceTreeError naming every problem when there is one."""
    files, problems = walk(root, tree, skips, expect)
    if problems:
        raise SourceTreeError(problems)
    return files


@contextmanager
def open_regular(path: Path, follow: bool = False) -> Iterator[BinaryIO]:
    """`path` open for reading, refused unless it is a regular file. O_NONBLOCK: a FIFO put in
    its place since it was walked cannot make open() wait; O_NOFOLLOW: nor can a link."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SourceTreeError([f"{path}: cannot be opened ({exc.strerror})"]) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SourceTreeError([f"{path} is {_kind(mode)}, not a regular file"])
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def sha256_file(path: Path, follow: bool = False) -> str:
    """sha256 of a regular file, read in chunks."""
    h = hashlib.sha256()
    with open_regular(path, follow) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
