"""The proxy's certificate through ACME (certbot, webroot HTTP-01), issued once, renewed by certbot.

Let's Encrypt in production, the sandbox's pebble in the sandbox: the directory URL is data.
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

from aitbc_infra.model import HostSpec
from aitbc_infra.render import ACME_WEBROOT, LETSENCRYPT_LIVE, NGINX_ENABLED, _template
from deploys.facts import PathExists

ACME_CA_FILE = "/etc/aitbc/acme-server-ca.pem"
BOOTSTRAP_SITE = f"{NGINX_ENABLED}/aitbc-acme-bootstrap"


def deploy(spec: HostSpec) -> None:
    tls_sites = [s for s in spec.nginx_sites if s.tls]
    if not tls_sites:
        return
    files.directory(name="ACME webroot", path=ACME_WEBROOT, mode="0755")
    env = ""
    if spec.acme_ca_bundle:
        # The sandbox's ACME server has its own CA; production uses the system store.
        files.put(name="ACME server CA", src=spec.acme_ca_bundle, dest=ACME_CA_FILE, mode="0644")
        env = f"REQUESTS_CA_BUNDLE={ACME_CA_FILE} "
    for site in tls_sites:
        lineage = spec.sites[site.server_name].certificate or site.server_name
        if host.get_fact(PathExists, path=f"{LETSENCRYPT_LIVE}/{lineage}/fullchain.pem"):
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
                f"{env}certbot certonly --non-interactive --agree-tos -m {spec.acme_email} "
                f"--server {spec.acme_server} --webroot -w {ACME_WEBROOT} "
                f"--cert-name {lineage} -d {site.server_name} "
                "--deploy-hook 'systemctl reload nginx'",
                f"rm -f {BOOTSTRAP_SITE}",
            ],
        )
