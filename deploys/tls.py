"""The proxy's certificate through ACME (certbot, webroot HTTP-01), issued once, renewed by certbot.

Let's Encrypt in production, the sandbox's pebble in the sandbox: the directory URL is data.
"""

from io import StringIO

from pyinfra.operations import files, server

from aitbc_infra.model import HostSpec
from aitbc_infra.render import ACME_WEBROOT, LETSENCRYPT_LIVE, NGINX_ENABLED, _template
from deploys.managed import PathState, directory

BOOTSTRAP_SITE = f"{NGINX_ENABLED}/aitbc-acme-bootstrap"


def certificate_paths(spec: HostSpec) -> list[str]:
    """Paths whose state this role reads: each certificate, and the ACME webroot."""
    tls_sites = [s for s in spec.nginx_sites if s.tls]
    return [f"{LETSENCRYPT_LIVE}/{_lineage(spec, s)}/fullchain.pem" for s in tls_sites] + (
        [ACME_WEBROOT] if tls_sites else [])


def _lineage(spec: HostSpec, site) -> str:
    return spec.sites[site.server_name].certificate or site.server_name


def deploy(spec: HostSpec, states: dict[str, PathState]) -> None:
    tls_sites = [s for s in spec.nginx_sites if s.tls]
    if not tls_sites:
        return
    # certbot trusts the ACME server through the system store (the sandbox adds its CA there).
    directory(name="ACME webroot", path=ACME_WEBROOT, mode="0755", user="root", group="root",
              current=states.get(ACME_WEBROOT))
    for site in tls_sites:
        lineage = _lineage(spec, site)
        if f"{LETSENCRYPT_LIVE}/{lineage}/fullchain.pem" in states:
            continue
        files.put(name=f"ACME bootstrap site for {site.server_name}",
                  src=StringIO(_template("nginx/acme-bootstrap.conf.j2",
                                         server_name=site.server_name,
                                         acme_webroot=ACME_WEBROOT)),
                  dest=BOOTSTRAP_SITE)
        server.shell(
            name=f"Issue certificate {lineage} for {site.server_name}",
            commands=[
                f"rm -f {NGINX_ENABLED}/default {NGINX_ENABLED}/{site.config_name}",
                "nginx -t -q && (systemctl reload nginx || systemctl start nginx)",
                f"certbot certonly --non-interactive --agree-tos -m {spec.acme_email} "
                f"--server {spec.acme_server} --webroot -w {ACME_WEBROOT} "
                f"--cert-name {lineage} -d {site.server_name} "
                "--deploy-hook 'systemctl reload nginx'",
                f"rm -f {BOOTSTRAP_SITE}",
            ],
        )
