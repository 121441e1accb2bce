"""Managed files: one round trip reads the state of all of a host's files; each changed file is
written atomically (temporary file with its final owner and mode, then rename), so an interrupted
run never leaves a half-written or briefly world-readable file. Secret files show no diff.
"""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO
from pathlib import PurePosixPath

from pyinfra import host, logger, state
from pyinfra.api import FactBase, FileUploadCommand, operation
from pyinfra.operations.util.files import generate_color_diff

from aitbc_infra.render import RenderedFile
from deploys.facts import FileContent

TEMP_SUFFIX = ".aitbc-new"


class ManagedFiles(FactBase):
    """{path: (mode, user, group, sha256)} for existing files, None for missing ones."""

    def command(self, paths: list[str]) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        return (f'for p in {quoted}; do if [ -f "$p" ]; then '
                'echo "$(stat -c "%a %U %G" "$p") $(sha256sum "$p" | cut -d" " -f1) $p"; '
                'else echo "- - - - $p"; fi; done')

    def process(self, output) -> dict:
        result = {}
        for line in output:
            mode, user, group, digest, path = line.split(" ", 4)
            result[path] = None if mode == "-" else (mode.zfill(4), user, group, digest)
        return result


def current_state(files: list[RenderedFile]) -> dict:
    if not files:
        return {}
    return host.get_fact(ManagedFiles, paths=sorted(f.path for f in files))


def _show_diff(f: RenderedFile, existed: bool) -> None:
    verb = "modify" if existed else "create"
    if f.secret:
        host.log(f"Will {verb} {f.path} (holds secrets: content not shown)", logger.info)
        return
    host.log(f"Will {verb} {f.path}", logger.info)
    current = host.get_fact(FileContent, path=f.path).splitlines(keepends=True) if existed else []
    for line in generate_color_diff([line if line.endswith("\n") else line + "\n"
                                     for line in current], f.content.splitlines(keepends=True)):
        logger.info("  %s", line)


@operation()
def put_rendered(f: RenderedFile, current: tuple | None):
    digest = hashlib.sha256(f.content.encode()).hexdigest()
    wanted_meta = (f.mode.zfill(4), f.owner, f.group)
    if current and current[3] == digest:
        if current[:3] != wanted_meta:
            yield f"chown {f.owner}:{f.group} {f.path} && chmod {f.mode} {f.path}"
        else:
            host.noop(f"{f.path} is up to date")
        return
    if state.config.DIFF:
        _show_diff(f, existed=current is not None)
    temp = f"{f.path}{TEMP_SUFFIX}"
    parent = str(PurePosixPath(f.path).parent)
    yield f"mkdir -p {parent} && install -m {f.mode} -o {f.owner} -g {f.group} /dev/null {temp}"
    yield FileUploadCommand(StringIO(f.content), temp)
    yield f"mv -f {temp} {f.path}"


def upload(f: RenderedFile, existing: dict):
    """One managed file, given the batch state from `current_state`."""
    return put_rendered(name=f"Upload {f.path}", f=f, current=existing.get(f.path))
