"""The proxy's certificate through ACME (certbot, webroot HTTP-01): issued once here, renewed by
certbot's own timer. The ACME directory URL is data: Let's Encrypt in production, the sandbox's
pebble in the sandbox. A `provided` certificate is an upload of the plan (nginx's journal).
"""

from __future__ import annotations

from pyinfra.operations import server

from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.host_names import ACME_BOOTSTRAP_SITE, ACME_WEBROOT, NGINX_ENABLED
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.render import acme_bootstrap_site
from deploys.shell import quoted
from deploys.state import removed


def deploy(spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    """Issue each ACME site's certificate the first time, as decided (certbot trusts the ACME
    server through the system store; the sandbox adds its CA there). Renewals are certbot's
    own (its timer, and a deploy hook reloading nginx)."""
    for site in spec.nginx_sites:
        owed = decision.certificates.get(site.server_name)
        if owed is None:
            continue
        server.shell(
            name=f"Issue certificate {owed.lineage} for {site.server_name}",
            commands=issue_commands(email=spec.acme_email, server=spec.acme_server,
                                    lineage=owed.lineage, domains=[site.server_name],
                                    config_name=site.config_name,
                                    bootstrap=acme_bootstrap_site(site)),
        )
        # The issue takes the site's link away (nginx serves only the bootstrap meanwhile): the
        # nginx role writes it back, whether or not it was there when the state was read (a
        # certificate's lineage changed, its files deleted), and reloads (the decision says so).
        removed(plan, state, f"{NGINX_ENABLED}/{site.config_name}")


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
