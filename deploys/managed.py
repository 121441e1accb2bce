"""Managed paths, read in one round trip per host and changed only where they differ.

`PathStates` returns owner, mode and checksum of every managed file and directory (and of every
file under the synced trees) in a single command; the operations below compare against it, so
a converged host costs one round trip for all its files instead of two per file. Changed files
are written atomically: a temporary file with its final owner and mode, then a rename, so an
interrupted run never leaves a half-written or briefly world-readable file. Secret files never
show a diff.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath

from pyinfra import host, logger, state
from pyinfra.api import FactBase, FileUploadCommand, operation
from pyinfra.operations.util.files import generate_color_diff

from aitbc_infra.render import RenderedFile
from deploys.facts import FileContent
from deploys.journal import before_write
from deploys.shell import quoted

TEMP_SUFFIX = ".aitbc-new"
_STAT = 'stat -c "%a %U %G"'
_SHA = 'sha256sum < "$f" | cut -c1-64'


@dataclass(frozen=True)
class PathState:
    kind: str  # "f", "d" or "l" (symlink)
    mode: str  # four octal digits
    user: str
    group: str
    sha256: str  # "-" for directories, the target for symlinks


class PathStates(FactBase):
    """{path: PathState} for the given paths (missing ones absent) and every file under `trees`."""

    def command(self, paths: list[str], trees: list[str]) -> str:
        # printf, not echo: dash's echo would rewrite backslashes in a file name.
        one = (f'if [ -L "$f" ]; then printf "%s\\n" "l 0777 root root $(readlink "$f") $f"; '
               f'elif [ -d "$f" ]; then printf "%s\\n" "d $({_STAT} "$f") - $f"; '
               f'elif [ -f "$f" ]; then printf "%s\\n" "f $({_STAT} "$f") $({_SHA}) $f"; fi')
        listed = f"for f in {' '.join(shlex.quote(p) for p in paths)}; do {one}; done"
        if not trees:
            return listed
        walk = (f"for t in {' '.join(shlex.quote(t) for t in trees)}; do [ -d \"$t\" ] && "
                f"find \"$t\" -exec sh -c '" + f"for f; do {one}; done".replace("'", "'\\''")
                + "' _ {} +; done; true")
        return f"{listed}; {walk}"

    @staticmethod
    def default() -> dict:  # a bare host: nothing printed, nothing managed yet
        return {}

    def process(self, output) -> dict[str, PathState]:
        result = {}
        for line in output:
            kind, mode, user, group, digest, path = line.split(" ", 5)
            result[path] = PathState(kind, mode.zfill(4), user, group, digest)
        return result


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Directories ---------------------------------------------------------------------------


@operation()
def directory(path: str, mode: str, user: str, group: str, current: PathState | None):
    if current and current.kind == "d":
        if (current.mode, current.user, current.group) == (mode.zfill(4), user, group):
            host.noop(f"directory {path} is as declared")
            return
        yield ownership_command(path, mode, user, group)
        return
    yield install_dir_command(path, mode, user, group)


def install_dir_command(path: str, mode: str, user: str, group: str) -> str:
    return quoted("install", "-d", "-m", mode, "-o", user, "-g", group, "--", path)


def ownership_command(path: str, mode: str, user: str, group: str) -> str:
    return f"{quoted('chown', '--', f'{user}:{group}', path)} && {quoted('chmod', '--', mode, path)}"


@operation()
def symlink(path: str, target: str | None, current: PathState | None, may_appear: bool = False,
            journal: str | None = None):
    """A symlink to `target`, or no link at all when `target` is None.

    `may_appear`: a package this run installs may create the path after its state was read.
    `journal`: keep the replaced link for `journal.commit` to restore (see deploys/journal.py).
    """
    if target is None:
        if current or may_appear:
            yield from _journaled(path, journal, ())
            yield quoted("rm", "-f", "--", path)
        else:
            host.noop(f"{path} is absent")
        return
    if current and current.kind == "l" and current.sha256 == target:
        host.noop(f"{path} -> {target}")
        return
    yield from _journaled(path, journal, ())
    yield quoted("ln", "-sfn", "--", target, path)


def _journaled(dest: str, journal: str | None, marks: tuple[str, ...]):
    command = before_write(dest, journal, marks)
    return [command] if command else []


# Files ---------------------------------------------------------------------------------


def _show_diff(dest: str, content: bytes, secret: bool, existed: bool) -> None:
    verb = "modify" if existed else "create"
    if secret:
        host.log(f"Will {verb} {dest} (holds secrets: content not shown)", logger.info)
        return
    host.log(f"Will {verb} {dest}", logger.info)
    try:
        desired = content.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        logger.info("  (binary file)")
        return
    current = host.get_fact(FileContent, path=dest).splitlines(keepends=True) if existed else []
    for line in generate_color_diff([c if c.endswith("\n") else c + "\n" for c in current], desired):
        logger.info("  %s", line)


@operation()
def put(dest: str, content: bytes, mode: str, user: str, group: str, current: PathState | None,
        secret: bool = False, journal: str | None = None, marks: tuple[str, ...] = ()):
    """`journal`, `marks`: see deploys/journal.py; both are written before `dest` changes."""
    wanted = (mode.zfill(4), user, group)
    if current and current.kind == "f" and current.sha256 == sha256(content):
        if (current.mode, current.user, current.group) != wanted:
            yield ownership_command(dest, mode, user, group)
        else:
            host.noop(f"{dest} is up to date")
        return
    if state.config.DIFF:
        _show_diff(dest, content, secret, existed=current is not None)
    temp = f"{dest}{TEMP_SUFFIX}"
    yield temp_file_command(dest, mode, user, group)
    yield FileUploadCommand(BytesIO(content), temp)
    yield from _journaled(dest, journal, marks)
    yield quoted("mv", "-f", "--", temp, dest)


def temp_file_command(dest: str, mode: str, user: str, group: str) -> str:
    """The empty temporary file an upload fills: its final owner and mode before any byte."""
    parent, temp = str(PurePosixPath(dest).parent), dest + TEMP_SUFFIX
    return (f"{quoted('mkdir', '-p', '--', parent)} && "
            f"{quoted('install', '-m', mode, '-o', user, '-g', group, '--', '/dev/null', temp)}")


def upload(f: RenderedFile, states: dict[str, PathState], journal: str | None = None,
           marks: tuple[str, ...] = ()):
    """One rendered file."""
    return put(name=f"Upload {f.path}", dest=f.path, content=f.content.encode(), mode=f.mode,
               user=f.owner, group=f.group, current=states.get(f.path), secret=f.secret,
               journal=journal, marks=marks)


@operation()
def remove(paths: list[str]):
    yield quoted("rm", "-f", "--", *paths)


def sync_tree(src: Path, dest: str, states: dict[str, PathState], *, keep: tuple[str, ...] = (),
              mode: str = "0644", dir_mode: str = "0755") -> list:
    """Make `dest` hold exactly the files of `src` (files under `keep` subtrees are left alone).

    Only files whose content, owner or mode differ are sent; stale files are removed.
    """
    ops = []
    wanted = {f"{dest}/{p.relative_to(src).as_posix()}": p for p in sorted(src.rglob("*"))
              if p.is_file()}
    for directory_path in sorted({str(PurePosixPath(d).parent) for d in wanted} | {dest}):
        current = states.get(directory_path)
        if not current or current.kind != "d":
            ops.append(directory(name=f"Directory {directory_path}", path=directory_path,
                                 mode=dir_mode, user="root", group="root", current=current))
    for remote, local in wanted.items():
        data = local.read_bytes()
        current = states.get(remote)
        if current and current.sha256 == sha256(data) and current.mode == mode.zfill(4):
            continue
        ops.append(put(name=f"Sync {remote}", dest=remote, content=data, mode=mode, user="root",
                       group="root", current=current))
    kept = tuple(f"{dest}/{k.strip('/')}/" for k in keep)
    stale = sorted(p for p, s in states.items() if s.kind == "f" and p.startswith(f"{dest}/")
                   and p not in wanted and not p.startswith(kept))
    if stale:
        ops.append(remove(name=f"Remove {len(stale)} stale file(s) under {dest}", paths=stale))
    return ops
