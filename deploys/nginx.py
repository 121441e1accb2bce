"""nginx sites: upload, enable, validate with `nginx -t`, reload only when something changed."""

from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from aitbc_infra.model import HostSpec
from aitbc_infra.render import NGINX_AVAILABLE, NGINX_ENABLED, RenderedFile
from deploys.upload import upload


def deploy(spec: HostSpec, rendered: dict[str, RenderedFile], existing: dict) -> None:
    if not spec.nginx_sites:
        return
    changes = [upload(f, existing) for f in rendered.values() if f.kind == "nginx"]
    for site in spec.nginx_sites:
        changes.append(files.link(name=f"Enable site {site.config_name}",
                                  path=f"{NGINX_ENABLED}/{site.config_name}",
                                  target=f"{NGINX_AVAILABLE}/{site.config_name}"))
    # Debian's catch-all default site would answer for unknown names: ours are the only ones.
    changes.append(files.link(name="Disable the default site", path=f"{NGINX_ENABLED}/default",
                              present=False))
    validate = server.shell(name="Validate nginx configuration", commands=["nginx -t -q"],
                            _if=any_changed(*changes))
    systemd.service(name="nginx enabled and running", service="nginx.service", running=True,
                    enabled=True)
    systemd.service(name="Reload nginx", service="nginx.service", reloaded=True,
                    _if=any_changed(validate))
