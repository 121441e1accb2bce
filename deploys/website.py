"""Static pages and the SPA builds, copied into the site's web root.

SPAs are built on the control machine, once per run (npm ci, or npm install where the project
has no lockfile), with the Node.js of the deployer's own venv; a prebuilt directory is copied
as it is.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host

from aitbc_infra.drift import State
from aitbc_infra.model import HostSpec, WebContent
from aitbc_infra.plan import HostPlan
from aitbc_infra.source_tree import SourceFile, resolve_inside
from aitbc_infra.sources import source_root, web_files
from aitbc_infra.webbuild import build_spa
from deploys import managed
from deploys.context import once_per_run


@once_per_run
def _built(root: Path, content: WebContent) -> Path:
    if content.build:
        # npm reads the project where it resolves: never a directory outside the source root.
        resolve_inside(root, root / content.build)
        build_spa(root / content.build, output=str((root / content.source).relative_to(
            root / content.build)))
    return root / content.source


def content_files(spec: HostSpec, content: WebContent) -> list[SourceFile]:
    """The files copied into the web root, each judged where it resolves (sources.web_files)."""
    src = _built(source_root(spec), content)
    if not (src / "index.html").exists():
        raise FileNotFoundError(f"host {spec.node}: web_content {content.source!r}: "
                                f"{src}/index.html is missing")
    return web_files(spec, content)


def deploy(spec: HostSpec, plan: HostPlan, state: State) -> None:
    """The web trees: a change sets off nothing (nginx reads the files as they are asked for)."""
    for tree in host.loop([t for t in plan.trees if t.source is not None]):
        managed.tree(plan, state, tree, content_files(spec, tree.source), name=f"Sync {tree.path}")
