"""The proxy's certificate through ACME (certbot, webroot HTTP-01): issued once here, renewed by
certbot's own timer. The ACME directory URL is data: Let's Encrypt in production, the sandbox's
pebble in the sandbox. A `provided` certificate is an upload of the plan (nginx's journal).
"""

from __future__ import annotations

from pyinfra.operations import server

from aitbc_infra.host_names import ACME_BOOTSTRAP_SITE, ACME_WEBROOT, NGINX_ENABLED
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.render import acme_bootstrap_site, certificate_files, certificate_lineage
from deploys import state
from deploys.shell import quoted


def deploy(spec: HostSpec, plan: HostPlan) -> None:
    """Issue each ACME site's certificate the first time (certbot trusts the ACME server
    through the system store; the sandbox adds its CA there)."""
    for site in spec.nginx_sites:
        if not site.tls or spec.sites[site.server_name].tls == "provided":
            continue
        chain, _ = certificate_files(spec, site)
        if state.of(plan, chain):
            continue  # renewals are certbot's own (timer + deploy hook reloading nginx)
        lineage = certificate_lineage(spec, site)
        server.shell(
            name=f"Issue certificate {lineage} for {site.server_name}",
            commands=issue_commands(email=spec.acme_email, server=spec.acme_server, lineage=lineage,
                                    domains=[site.server_name], config_name=site.config_name,
                                    bootstrap=acme_bootstrap_site(site)),
        )
        # The issue takes the site's link away (nginx serves only the bootstrap meanwhile): the
        # nginx role, deciding after this, puts it back and reloads, whether or not it was there
        # when the state was read (a certificate's lineage changed, its files deleted).
        state.removed(plan, f"{NGINX_ENABLED}/{site.config_name}")


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
                   config_name: str, bootstrap: str) -> list[str]:
    """Serve only the bootstrap site while certbot answers the challenge, then drop it."""
    return [
        f"printf '%s' {quoted(bootstrap)} | {quoted('tee', '--', ACME_BOOTSTRAP_SITE)} > /dev/null",
        quoted("rm", "-f", "--", f"{NGINX_ENABLED}/default", f"{NGINX_ENABLED}/{config_name}"),
        "nginx -t -q && (systemctl reload nginx || systemctl start nginx)",
        certbot_command(email=email, server=server, webroot=ACME_WEBROOT, lineage=lineage,
                        domains=domains),
        quoted("rm", "-f", "--", ACME_BOOTSTRAP_SITE),
    ]
