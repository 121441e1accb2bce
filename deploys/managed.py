"""Operations over the paths of a host's plan, each comparing against the host's state.

Every operation reads the current state of its path from the `State` deploys/state.py read (one
round trip per host for the whole plan), passed beside the plan, and yields commands only where
it differs (aitbc_infra/drift.py says what differs; `aitbc-infra verify` reads the same).
Changed files are written atomically: a temporary file with its final owner and mode, then a
rename, so an interrupted run never leaves a half-written or briefly world-readable file. A
file or link of a journaled activation is listed in its journal first, with a copy of what it
replaces (deploys/journal.py). Secret files never show a diff.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path, PurePosixPath

from pyinfra import host, logger
from pyinfra import state as pyinfra_state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.operations.util.files import generate_color_diff

from aitbc_infra.activation import Activation
from aitbc_infra.drift import (
    State,
    directory_drift,
    file_drift,
    link_drift,
    local_sha256,
    only_ownership,
    sha256,
    tree_files,
)
from aitbc_infra.host_names import TEMP_SUFFIX
from aitbc_infra.plan import TREE_DIR_MODE, TREE_FILE_MODE, Directory, HostPlan, Link, Tree, Upload
from aitbc_infra.render import RenderedFile
from aitbc_infra.source_tree import SourceFile, checked_files
from deploys.facts import FileContent
from deploys.journal import add_command, mark_command
from deploys.shell import quoted
from deploys.state import of


def _journaled(dest: str, activation: Activation) -> list[str]:
    """What runs just before `dest` is replaced: its journal's entry, or the restart marks of
    the units that read it (activation.ReadBy)."""
    journal = getattr(activation, "journal", None)
    marks = getattr(activation, "marks", ())
    return [*([add_command(journal, dest)] if journal else []),
            *([mark_command(marks)] if marks else [])]


# Directories ---------------------------------------------------------------------------


def directory(plan: HostPlan, state: State, d: Directory) -> Iterator[str]:
    differences = directory_drift(of(plan, state, d.path), d.mode, d.user, d.group)
    if not differences:
        return
    if only_ownership(differences):
        yield ownership_command(d.path, exact_dir_mode(d.mode), d.user, d.group)
    else:
        yield install_dir_command(d.path, exact_dir_mode(d.mode), d.user, d.group)


def exact_dir_mode(mode: str) -> str:
    """A directory's mode with a leading 0 more: GNU chmod and install keep a directory's
    setgid bit under a mode of four digits that lacks it, and clear it only under five, so a
    directory planned without it would differ on every run."""
    return f"0{mode.zfill(4)}"


def install_dir_command(path: str, mode: str, user: str, group: str) -> str:
    return quoted("install", "-d", "-m", mode, "-o", user, "-g", group, "--", path)


def ownership_command(path: str, mode: str, user: str, group: str) -> str:
    return f"{quoted('chown', '--', f'{user}:{group}', path)} && {quoted('chmod', '--', mode, path)}"


# Links ---------------------------------------------------------------------------------


def link(plan: HostPlan, state: State, entry: Link) -> Iterator[str]:
    """A symlink to its target, or no link at all when the target is None."""
    differences = link_drift(of(plan, state, entry.path), entry.target)
    if entry.target is None:
        package_to_come = entry.may_appear and not of(plan, state, str(PurePosixPath(entry.path).parent))
        if differences or package_to_come:
            yield from _journaled(entry.path, entry.activation)
            yield quoted("rm", "-f", "--", entry.path)
        return
    if not differences:
        return
    yield from _journaled(entry.path, entry.activation)
    yield quoted("ln", "-sfn", "--", entry.target, entry.path)


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


def put(plan: HostPlan, state: State, dest: str, content: bytes | Path, mode: str,
        user: str = "root", group: str = "root", secret: bool = False,
        activation: Activation = None) -> Iterator:
    """`content` is the bytes to write, or a local file to send as it is (read only to be sent:
    its digest is computed once per run, however many hosts hold it)."""
    current = of(plan, state, dest)
    local = isinstance(content, Path)
    differences = file_drift(current, local_sha256(content) if local else sha256(content), mode,
                             user, group)
    if not differences:
        return
    if only_ownership(differences):
        yield ownership_command(dest, mode, user, group)
        return
    if pyinfra_state.config.DIFF:
        _show_diff(dest, content.read_bytes() if local else content, secret,
                   existed=current is not None)
    temp = f"{dest}{TEMP_SUFFIX}"
    yield temp_file_command(dest, mode, user, group)
    yield FileUploadCommand(str(content) if local else BytesIO(content), temp)
    yield from _journaled(dest, activation)
    yield quoted("mv", "-f", "--", temp, dest)


def temp_file_command(dest: str, mode: str, user: str, group: str) -> str:
    """The empty temporary file an upload fills: its final owner and mode before any byte."""
    parent, temp = str(PurePosixPath(dest).parent), dest + TEMP_SUFFIX
    return (f"{quoted('mkdir', '-p', '--', parent)} && "
            f"{quoted('install', '-m', mode, '-o', user, '-g', group, '--', '/dev/null', temp)}")


def file(plan: HostPlan, state: State, f: RenderedFile) -> Iterator:
    """One rendered file of the plan."""
    return put(plan, state, f.path, f.content.encode(), f.mode, f.owner, f.group, f.secret, f.activation)


def upload(plan: HostPlan, state: State, u: Upload) -> Iterator:
    """One local file of the plan, uploaded as it is."""
    local = Path(u.local)
    if not local.is_file():
        raise FileNotFoundError(f"host {plan.node}: {u.local} (for {u.path}) does not exist")
    return put(plan, state, u.path, local, u.mode, secret=u.secret, activation=u.activation)


Entry = Directory | Link | RenderedFile | Upload
_COMMANDS = {Directory: directory, Link: link, RenderedFile: file, Upload: upload}


def entries(plan: HostPlan, state: State, group: list[Entry], name: str) -> OperationMeta | None:
    """One operation for a group of the plan's entries (all an activation covers), with commands
    only for those that differ from the state read; none at all for a group as planned, so a
    converged host costs no operation."""
    commands = [c for entry in group for c in _COMMANDS[type(entry)](plan, state, entry)]
    return run(batched(commands), name=name) if commands else None


@operation()
def run(commands: list):
    """Commands computed from the state read (the functions here), in as few round trips as
    `batched` made them."""
    yield from commands


# One shell line stays well under Linux's bound on one argument (128 KiB): the SSH server hands
# the whole line to the shell as one.
LINE_LIMIT = 64 * 1024


def batched(commands: list) -> list:
    """The commands of one operation in as few round trips as their order allows: every shell
    command up to the first upload and every temporary file (`put` makes each just before its
    upload) as one line, the uploads, then all the rest (journal entries, renames, ...) in
    their order as one line. Each file is still whole before it is renamed into place, and each
    command runs only when the ones before it succeeded, as before."""
    uploads = [i for i, c in enumerate(commands) if isinstance(c, FileUploadCommand)]
    if not uploads:
        return lines(commands)
    first = [c for i, c in enumerate(commands) if i < uploads[0] or i + 1 in uploads]
    rest = [c for i, c in enumerate(commands) if i > uploads[0] and i + 1 not in uploads
            and i not in uploads]
    return [*lines(first), *(commands[i] for i in uploads), *lines(rest)]


def lines(commands: list[str]) -> list[str]:
    """Shell commands as few lines of `{ A; } && { B; }`, each under LINE_LIMIT."""
    out: list[list[str]] = []
    size = 0
    for command in commands:
        if not out or size + len(command) > LINE_LIMIT:
            out.append([])
            size = 0
        out[-1].append(command)
        size += len(command) + 12
    return [group[0] if len(group) == 1 else " && ".join(f"{{ {c}; }}" for c in group)
            for group in out]


def remove_command(paths: list[str]) -> str:
    return quoted("rm", "-f", "--", *paths)


# Trees ---------------------------------------------------------------------------------


def tree(plan: HostPlan, state: State, entry: Tree, local: Path | list[SourceFile], name: str,
         mode: str = TREE_FILE_MODE, dir_mode: str = TREE_DIR_MODE) -> OperationMeta | None:
    """Make the tree hold exactly the files of `local` (files under `keep` subtrees are left
    alone): only files whose content, owner or mode differ are sent; stale files are removed.
    No operation when it does already. `local` is a directory of this machine's own (the
    wheelhouse), or the files a walk of a source root found (source_tree.py), each where it
    resolves."""
    files = checked_files(local, local, expect="dir") if isinstance(local, Path) else local
    states = state.paths
    wanted = {f"{entry.path}/{f.name}": f.path for f in files}
    commands = []
    for path in sorted({str(PurePosixPath(d).parent) for d in wanted} | {entry.path}):
        current = states.get(path)
        if not current or current.kind != "d":
            commands.append(install_dir_command(path, dir_mode, "root", "root"))
    for remote, source in wanted.items():
        commands += put(plan, state, remote, source, mode)
    stale = sorted(p for p in tree_files(entry, states) if p not in wanted)
    if stale:
        commands.append(remove_command(stale))
    return run(batched(commands), name=name) if commands else None
