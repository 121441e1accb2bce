"""at1's certificate comes from the sandbox ACME server through certbot's real HTTP-01 flow;
TLS meets Mozilla's "intermediate" profile; a forced renewal is served without restarts."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_helpers import PROXY_IP, SITE, fetch

from aitbc_infra.sandbox import paths, ssh_run


def _served_certificate() -> dict:
    context = ssl.create_default_context(cafile=str(paths().pebble_root))
    with socket.create_connection((PROXY_IP, 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=SITE) as tls:
        return tls.getpeercert()


def _unit_starts(host: str) -> str:
    return ssh_run(host, "systemctl show -p MainPID -p ActiveEnterTimestamp nginx "
                   "'aitbc-*' --no-pager", check=True).stdout


def test_certificate_issued_by_the_acme_server_for_the_domain(deployed_inventory):
    cert = _served_certificate()  # verification against the ACME root and the name is implied
    issuer = dict(pair[0] for pair in cert["issuer"])
    assert issuer["commonName"].startswith("Pebble Intermediate")
    assert ("DNS", SITE) in cert["subjectAltName"]
    renewal = ssh_run("at1", "cat /etc/letsencrypt/renewal/bubuit.net.conf", check=True).stdout
    assert "authenticator = webroot" in renewal and "10.231.0.1:14000" in renewal


def test_security_headers_and_https_redirect(deployed_inventory):
    out = subprocess.run(["curl", "-sI", "--cacert", str(paths().pebble_root), "--resolve",
                          f"{SITE}:443:{PROXY_IP}", f"https://{SITE}/"],
                         capture_output=True, text=True, check=True).stdout.lower()
    assert "strict-transport-security: max-age=63072000" in out
    assert "x-content-type-options: nosniff" in out
    plain = subprocess.run(["curl", "-sI", "--resolve", f"{SITE}:80:{PROXY_IP}",
                            f"http://{SITE}/docs/"], capture_output=True, text=True).stdout
    assert plain.startswith("HTTP/1.1 301") and f"Location: https://{SITE}/docs/" in plain


def test_sslyze_mozilla_intermediate(deployed_inventory):
    sslyze = Path(sys.executable).with_name("sslyze")
    # The sandbox ACME root stands in for the public trust store it would be in production.
    proc = subprocess.run([str(sslyze), "--mozilla_config=intermediate",
                           f"--certinfo_ca_file={paths().pebble_root}", f"{SITE}:443{{{PROXY_IP}}}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{SITE}:443: OK - Compliant." in proc.stdout


@pytest.mark.parametrize("attempt", [1])
def test_forced_renewal_served_without_restarting_anything(deployed_inventory, attempt):
    serial = _served_certificate()["serialNumber"]
    before = _unit_starts("at1")
    ssh_run("at1", "certbot renew --force-renewal --cert-name bubuit.net --no-random-sleep-on-renew",
            check=True, timeout=180)
    deadline = time.monotonic() + 20
    while _served_certificate()["serialNumber"] == serial and time.monotonic() < deadline:
        time.sleep(1)
    assert _served_certificate()["serialNumber"] != serial, "nginx still serves the old certificate"
    assert _unit_starts("at1") == before  # reloaded by the deploy hook: same PIDs, no restart
    assert fetch("/health")[0] == 200
