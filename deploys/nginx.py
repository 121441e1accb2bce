"""nginx sites: upload and link as one transaction, validated by `nginx -t` before the reload.

A rejected change never reaches the running nginx, and its files are put back as they were, so
a later restart or reboot cannot load it either.
"""

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import NGINX_AVAILABLE, NGINX_ENABLED, RenderedFile
from deploys.journal import commit, pending
from deploys.managed import PathState, symlink, upload
from deploys.units import unit_states

JOURNAL = "nginx"


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState],
           certificate_changes: list) -> None:
    if not spec.nginx_sites:
        return
    changes = [upload(f, states, journal=JOURNAL) for f in rendered.values() if f.kind == "nginx"]
    changes += certificate_changes  # a new provided certificate needs a reload too
    active, enabled = unit_states(["nginx"]).get("nginx") or ("", "")
    for path, target in enabled_links(spec).items():
        # Not installed when the state was read: its package adds Debian's default site.
        changes.append(symlink(name=f"Site link {path}", path=path, target=target,
                               current=states.get(path), may_appear=not enabled, journal=JOURNAL))
    owed = pending(states, JOURNAL) or active != "active"
    commit(name="nginx: validate (nginx -t) and reload", journal=JOURNAL, validate="nginx -t -q",
           activate="systemctl reload-or-restart nginx",
           _if=None if owed else any_changed(*changes))
    if enabled != "enabled":
        server.shell(name="nginx: enable", commands=["systemctl enable nginx"])


def enabled_links(spec: HostSpec) -> dict[str, str | None]:
    """{link in sites-enabled: its target, or None for a link that must not exist}."""
    links: dict[str, str | None] = {f"{NGINX_ENABLED}/{s.config_name}": f"{NGINX_AVAILABLE}/{s.config_name}"
                                    for s in spec.nginx_sites}
    # Debian's catch-all default site would answer for unknown names: ours are the only ones.
    links[f"{NGINX_ENABLED}/default"] = None
    return links
