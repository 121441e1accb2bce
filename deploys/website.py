"""Static pages and the two SPA builds, copied into the site's web root."""

from __future__ import annotations

from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.model import HostSpec
from deploys.managed import PathState, sync_tree


def web_trees(spec: HostSpec) -> list[str]:
    return [spec.site_root] if spec.web_content and spec.site_root else []


def deploy(spec: HostSpec, states: dict[str, PathState]) -> None:
    sources = Path(spec.app_sources)
    sources = sources if sources.is_absolute() else PROJECT_ROOT / sources
    nested = tuple(c.path for c in spec.web_content if c.path)
    for content in spec.web_content:
        src = sources / content.source
        if not (src / "index.html").exists():
            raise FileNotFoundError(f"host {spec.node}: web_content {content.source!r}: "
                                    f"{src}/index.html is missing (SPA not built?)")
        dest = f"{spec.site_root}/{content.path}".rstrip("/")
        # The root's own sync leaves the SPA directories to their own syncs.
        sync_tree(src, dest, states, keep=nested if not content.path else ())
