"""Static pages and the two SPA builds, copied into the site's web root."""

from pathlib import Path

from pyinfra.operations import files

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.model import HostSpec


def deploy(spec: HostSpec) -> None:
    if not spec.web_content:
        return
    sources = Path(spec.app_sources)
    sources = sources if sources.is_absolute() else PROJECT_ROOT / sources
    for content in spec.web_content:
        src = sources / content.source
        if not (src / "index.html").exists():
            raise FileNotFoundError(f"host {spec.node}: web_content {content.source!r}: "
                                    f"{src}/index.html is missing (SPA not built?)")
        dest = f"{spec.site_root}/{content.path}".rstrip("/")
        # Only changed files are sent; files removed from a build go too (not empty dirs).
        files.sync(name=f"Web content {content.source} -> {dest}", src=str(src), dest=dest,
                   mode="0644", dir_mode="0755", delete=content.path != "",
                   exclude_dir=[c.path.rstrip("/") for c in spec.web_content if c.path]
                   if content.path == "" else None)
