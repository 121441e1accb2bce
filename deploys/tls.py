"""The proxy's certificate: through ACME (certbot, webroot HTTP-01), issued once and renewed by
certbot, or `provided` (uploaded as given). The ACME directory URL is data: Let's Encrypt in
production, the sandbox's pebble in the sandbox.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from pyinfra.operations import files, server

from aitbc_infra.model import HostSpec
from aitbc_infra.render import (
    ACME_WEBROOT,
    NGINX_ENABLED,
    certificate_dir,
    certificate_lineage,
    render_template,
)
from deploys.managed import PathState, directory, put
from deploys.nginx import JOURNAL as NGINX_JOURNAL
from deploys.shell import quoted

BOOTSTRAP_SITE = f"{NGINX_ENABLED}/aitbc-acme-bootstrap"


def _tls_sites(spec: HostSpec):
    return [s for s in spec.nginx_sites if s.tls]


def _provided(spec: HostSpec, site) -> bool:
    return spec.sites[site.server_name].tls == "provided"


def certificate_paths(spec: HostSpec) -> list[str]:
    """Paths whose state this role reads: each certificate's files, and the ACME webroot."""
    paths = [f"{certificate_dir(spec, s)}/{name}" for s in _tls_sites(spec)
             for name in ("fullchain.pem", "privkey.pem")]
    return paths + ([ACME_WEBROOT] if _tls_sites(spec) else [])


def deploy(spec: HostSpec, states: dict[str, PathState]) -> list:
    """Returns the operations that changed a certificate nginx must reload for."""
    changes = []
    for site in _tls_sites(spec):
        if _provided(spec, site):
            changes += _upload_provided(spec, site, states)
        else:
            _issue_once(spec, site, states)
    return changes


def _upload_provided(spec: HostSpec, site, states: dict[str, PathState]) -> list:
    given = spec.tls_provided[certificate_lineage(spec, site)]
    target = certificate_dir(spec, site)
    ops = []
    for name, local, mode in (("fullchain.pem", given.fullchain, "0644"),
                              ("privkey.pem", given.privkey, "0600")):
        if not Path(local).is_file():
            raise FileNotFoundError(f"host {spec.node}: tls_provided: {local} does not exist")
        dest = f"{target}/{name}"
        ops.append(put(name=f"Certificate {dest}", dest=dest, content=Path(local).read_bytes(),
                       mode=mode, user="root", group="root", current=states.get(dest),
                       secret=name == "privkey.pem", journal=NGINX_JOURNAL))
    return ops


def _issue_once(spec: HostSpec, site, states: dict[str, PathState]) -> None:
    # certbot trusts the ACME server through the system store (the sandbox adds its CA there).
    directory(name="ACME webroot", path=ACME_WEBROOT, mode="0755", user="root", group="root",
              current=states.get(ACME_WEBROOT))
    if f"{certificate_dir(spec, site)}/fullchain.pem" in states:
        return  # renewals are certbot's own (timer + deploy hook reloading nginx)
    lineage = certificate_lineage(spec, site)
    files.put(name=f"ACME bootstrap site for {site.server_name}",
              src=StringIO(render_template("nginx/acme-bootstrap.conf.j2",
                                           server_name=site.server_name,
                                           acme_webroot=ACME_WEBROOT)),
              dest=BOOTSTRAP_SITE)
    server.shell(
        name=f"Issue certificate {lineage} for {site.server_name}",
        commands=issue_commands(email=spec.acme_email, server=spec.acme_server, lineage=lineage,
                                domains=[site.server_name], config_name=site.config_name),
    )


def certbot_command(*, email: str, server: str, webroot: str, lineage: str,
                    domains: list[str]) -> str:
    """certbot's HTTP-01 issue through the webroot; certbot's own timer renews it.

    Values go in `--option=value` form, so one starting with "-" is still the option's value.
    """
    for domain in domains:
        if "," in domain:  # certbot splits a --domains value at commas
            raise ValueError(f"a domain cannot hold a comma: {domain!r}")
    return quoted("certbot", "certonly", "--non-interactive", "--agree-tos", f"--email={email}",
                  f"--server={server}", "--webroot", f"--webroot-path={webroot}",
                  f"--cert-name={lineage}", *(f"--domains={domain}" for domain in domains),
                  "--deploy-hook", "systemctl reload nginx")


def issue_commands(*, email: str, server: str, lineage: str, domains: list[str],
                   config_name: str) -> list[str]:
    """Serve only the bootstrap site while certbot answers the challenge, then drop it."""
    return [
        quoted("rm", "-f", "--", f"{NGINX_ENABLED}/default", f"{NGINX_ENABLED}/{config_name}"),
        "nginx -t -q && (systemctl reload nginx || systemctl start nginx)",
        certbot_command(email=email, server=server, webroot=ACME_WEBROOT, lineage=lineage,
                        domains=domains),
        quoted("rm", "-f", "--", BOOTSTRAP_SITE),
    ]
