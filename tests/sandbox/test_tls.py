"""at1's certificate comes from the sandbox ACME server through certbot's real HTTP-01 flow;
TLS meets Mozilla's "intermediate" profile; a forced renewal is served without restarts; a
provided certificate is served, and one whose key does not match is refused."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_helpers import PROXY_IP, SITE, changed_tree, deploy, fetch, variant_inventory
from traffic import Target, running

from aitbc_infra.sandbox import paths, ssh_run


def _served_certificate(cafile: Path | None = None) -> dict:
    context = ssl.create_default_context(cafile=str(cafile or paths().pebble_root))
    with socket.create_connection((PROXY_IP, 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=SITE) as tls:
        return tls.getpeercert()


def _served_once_reloaded(cafile: Path | None = None, seconds: float = 10.0) -> dict:
    """The certificate served once nginx's workers run the configuration a deploy just loaded:
    a reload is graceful, so for a moment an old worker may still answer with the previous one
    (which the other CA cannot verify)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return _served_certificate(cafile)
        except ssl.SSLCertVerificationError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


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


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _given_certificate(tmp: Path) -> Path:
    """A throwaway CA and a certificate for the site it signed; plus a key that does not match."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=Provided Test CA",
             cwd=tmp)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "privkey.pem", "-out", "site.csr", "-subj", f"/CN={SITE}", cwd=tmp)
    (tmp / "san.ext").write_text(f"subjectAltName=DNS:{SITE}\n")
    _openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "fullchain.pem", "-days", "30", "-extfile", "san.ext",
             cwd=tmp)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", "other.key", cwd=tmp)
    return tmp


def _provided_inventory(tmp: Path, key: Path) -> Path:
    variant = variant_inventory(tmp, "all", '"certificate": "bubuit.net"}',
                                '"certificate": "bubuit.net", "tls": "provided"}')
    given = {"bubuit.net": {"fullchain": str(tmp / "fullchain.pem"), "privkey": str(key)}}
    text = variant.read_text()
    assert "'ssh_hostname': 'at1'," in text
    variant.write_text(text.replace("'ssh_hostname': 'at1',",
                                    f"'ssh_hostname': 'at1', 'tls_provided': {given!r},"))
    return variant


def test_provided_certificate_served_and_a_mismatched_key_rejected(deployed_inventory, tmp_path):
    given = _given_certificate(tmp_path)
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    for d in (good, bad):
        (d / "fullchain.pem").write_bytes((given / "fullchain.pem").read_bytes())
    try:
        run = deploy(_provided_inventory(good, given / "privkey.pem"))
        assert run.returncode == 0, run.output[-3000:]
        issuer = dict(pair[0] for pair in _served_once_reloaded(given / "ca.pem")["issuer"])
        assert issuer["commonName"] == "Provided Test CA"
        served_key = ssh_run("at1", "sha256sum < /etc/ssl/aitbc/bubuit.net/privkey.pem",
                             check=True).stdout
        # The same certificate with another key: nginx -t refuses it, the good pair stays.
        site = [Target("/health", PROXY_IP, 443, "/health", 200, tls_name=SITE)]
        with running(site, str(given / "ca.pem")) as traffic:
            run = deploy(_provided_inventory(bad, given / "other.key"))
        assert run.returncode == 1
        assert "key values mismatch" in run.output and "REJECTED by 'nginx -t -q'" in run.output
        assert traffic.failed_routes() == set(), traffic.report()
        assert ssh_run("at1", "sha256sum < /etc/ssl/aitbc/bubuit.net/privkey.pem",
                       check=True).stdout == served_key
        assert dict(pair[0] for pair in _served_certificate(given / "ca.pem")["issuer"]) == issuer
    finally:
        assert deploy(deployed_inventory).returncode == 0  # back to the ACME certificate
    assert _served_once_reloaded()["issuer"]  # verified against the ACME root again


NS3_SITE, NS3_PUBLIC = "aitbc.keisanki.net", "10.231.0.3"


def _ns3_health() -> str:
    return subprocess.run(["curl", "-s", "-m", "10", "--cacert", str(paths().pebble_root),
                           "--resolve", f"{NS3_SITE}:443:{NS3_PUBLIC}", "-o", "/dev/null",
                           "-w", "%{http_code}", f"https://{NS3_SITE}/health"],
                          capture_output=True, text=True, timeout=30).stdout


def test_a_new_certificate_lineage_is_issued_and_its_site_stays_enabled(deployed_inventory,
                                                                       tmp_path):
    """The first issue of a certificate takes the site's link away while certbot answers the
    challenge: with the link there when the state was read (the lineage renamed here), the
    nginx role must still put it back and reload."""
    tree = changed_tree(tmp_path, "group_data/all.py", '"certificate": "keisanki.net"',
                        '"certificate": "keisanki-renamed"')
    try:
        run = deploy(deployed_inventory, tree)
        assert run.returncode == 0, run.output[-3000:]
        assert "Issue certificate keisanki-renamed" in run.output
        assert ssh_run("ns3-root", f"test -L /etc/nginx/sites-enabled/{NS3_SITE} && test -e "
                       "/etc/letsencrypt/live/keisanki-renamed/fullchain.pem").returncode == 0
        assert _ns3_health() == "200"
    finally:
        back = deploy(deployed_inventory)
        # The renamed lineage goes, so the next run of this test issues it again.
        ssh_run("ns3-root", "certbot delete --non-interactive --cert-name keisanki-renamed")
    assert back.returncode == 0, back.output[-3000:]
    assert _ns3_health() == "200"
