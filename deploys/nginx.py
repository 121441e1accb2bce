"""nginx sites: upload, enable, validate with `nginx -t`, reload only when something changed."""

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import NGINX_AVAILABLE, NGINX_ENABLED, RenderedFile
from deploys.managed import PathState, symlink, upload
from deploys.units import converge, unit_states


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], states: dict[str, PathState],
           certificate_changes: list) -> None:
    if not spec.nginx_sites:
        return
    changes = [upload(f, states) for f in rendered.values() if f.kind == "nginx"]
    changes += certificate_changes  # a new provided certificate needs a reload too
    nginx_state = unit_states(["nginx"]).get("nginx")
    # Not installed yet when the state was read: its package will add Debian's default site.
    fresh = not nginx_state or not nginx_state[1]
    for path, target in enabled_links(spec).items():
        changes.append(symlink(name=f"Site link {path}", path=path, target=target,
                               current=states.get(path), may_appear=fresh))
    validate = server.shell(name="Validate nginx configuration", commands=["nginx -t -q"],
                            _if=any_changed(*changes))
    converge("nginx", nginx_state, [validate], reload=True)


def enabled_links(spec: HostSpec) -> dict[str, str | None]:
    """{link in sites-enabled: its target, or None for a link that must not exist}."""
    links: dict[str, str | None] = {f"{NGINX_ENABLED}/{s.config_name}": f"{NGINX_AVAILABLE}/{s.config_name}"
                                    for s in spec.nginx_sites}
    # Debian's catch-all default site would answer for unknown names: ours are the only ones.
    links[f"{NGINX_ENABLED}/default"] = None
    return links
