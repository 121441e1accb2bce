"""Static pages and the SPA builds, copied into the site's web root.

SPAs are built on the control machine, once per run (npm ci, or npm install where the project
has no lockfile), with the Node.js of the deployer's own venv; a prebuilt directory is copied
as it is.
"""

from __future__ import annotations

from pathlib import Path

from aitbc_infra.model import HostSpec, WebContent
from aitbc_infra.sources import source_root
from aitbc_infra.webbuild import build_spa
from deploys.context import once_per_run
from deploys.managed import PathState, sync_tree


def web_trees(spec: HostSpec) -> list[str]:
    return [spec.site_root] if spec.web_content and spec.site_root else []


@once_per_run
def _built(root: Path, content: WebContent) -> Path:
    if content.build:
        build_spa(root / content.build, output=str((root / content.source).relative_to(
            root / content.build)))
    return root / content.source


def content_dir(spec: HostSpec, content: WebContent) -> Path:
    src = _built(source_root(spec), content)
    if not (src / "index.html").exists():
        raise FileNotFoundError(f"host {spec.node}: web_content {content.source!r}: "
                                f"{src}/index.html is missing")
    return src


def deploy(spec: HostSpec, states: dict[str, PathState]) -> None:
    nested = tuple(c.path for c in spec.web_content if c.path)
    for content in spec.web_content:
        dest = f"{spec.site_root}/{content.path}".rstrip("/")
        # The root's own sync leaves the SPA directories to their own syncs.
        sync_tree(content_dir(spec, content), dest, states, keep=nested if not content.path else ())
