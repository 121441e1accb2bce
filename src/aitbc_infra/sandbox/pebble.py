"""Pebble, Let's Encrypt's ACME test server, on the control side of aitbc-wan.

Real HTTP-01 validation: pebble asks pebble-challtestsrv (a mock DNS server, same package) where
aitbc.bubuit.net is, gets at1's wan address, and fetches the token from nginx on port 80 there.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aitbc_infra.sandbox import procs
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.plan import (
    ACME_NAME,
    CHALLTESTSRV_DNS_PORT,
    CHALLTESTSRV_MGMT_PORT,
    CONTROL_IP,
    PEBBLE_ACME_PORT,
    PEBBLE_MGMT_PORT,
    PEBBLE_SHORT_LIVED_PORT,
)

ACME_URL = f"https://{CONTROL_IP}:{PEBBLE_ACME_PORT}/dir"
ROOT_URL = f"https://{CONTROL_IP}:{PEBBLE_MGMT_PORT}/roots/0"
LISTENER_NAME = ACME_NAME
DAEMONS = ("pebble", "challtestsrv")  # their pid files' names


def _pidfile(p: Paths, name: str) -> Path:
    return p.pids / f"{name}.pid"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def ensure_listener_cert(p: Paths) -> None:
    """A CA (saved as ca.pem: what clients trust for the ACME API) and a leaf for pebble."""
    d = p.pebble
    d.mkdir(parents=True, exist_ok=True)
    if (d / "cert.pem").exists() and p.pebble_ca.exists():
        return
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "3650", "-subj", "/CN=aitbc-infra sandbox ACME listener CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", str(d / "ca.key"), "-out", str(p.pebble_ca))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={LISTENER_NAME}", "-keyout", str(d / "key.pem"),
             "-out", str(d / "cert.csr"))
    ext = d / "leaf.ext"
    ext.write_text(f"subjectAltName=IP:{CONTROL_IP},DNS:{LISTENER_NAME}\n"
                   "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", str(d / "cert.csr"), "-CA", str(p.pebble_ca),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "3650",
             "-extfile", str(ext), "-out", str(d / "cert.pem"))


CERT_VALIDITY_SECONDS = 90 * 24 * 3600
# pebble's environment: issue right away; the sandbox has no use for pebble's random authz reuse
# and nonce rejection tests.
_ENV = {"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0",
        "PEBBLE_WFE_NONCEREJECT": "0"}
SHORT_LIVED_URL = f"https://{CONTROL_IP}:{PEBBLE_SHORT_LIVED_PORT}/dir"


def _config(p: Paths, port: int, validity_seconds: int, management: bool) -> dict:
    return {"pebble": {
        "listenAddress": f"{CONTROL_IP}:{port}",
        # pebble 2.4 serves no management API when its address is empty.
        "managementListenAddress": f"{CONTROL_IP}:{PEBBLE_MGMT_PORT}" if management else "",
        "certificate": str(p.pebble / "cert.pem"),
        "privateKey": str(p.pebble / "key.pem"),
        "httpPort": 80,  # HTTP-01 against the real nginx on at1 / ns3-root
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
        # Seconds from issue to notAfter (pebble 2.4's ca.New; its default is 5 years).
        "certificateValidityPeriod": validity_seconds,
    }}


def write_config(p: Paths) -> Path:
    # Let's Encrypt's 90 days, not pebble's 5 years: Mozilla's profile caps lifetimes.
    cfg = _config(p, PEBBLE_ACME_PORT, CERT_VALIDITY_SECONDS, management=True)
    path = p.pebble / "pebble-config.json"
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return path


def _short_lived_pidfile(p: Paths) -> Path:
    # Beside pebble's files, not in p.pids: `down` takes every pid file there for a machine's.
    return p.pebble / "short-lived.pid"


@contextmanager
def short_lived(p: Paths, validity_seconds: int) -> Iterator[str]:
    """A second ACME server beside the sandbox's, for a test: pebble on the same listener
    certificate (which the hosts trust already) and the same mock DNS, whose certificates live
    `validity_seconds`. The sandbox's own pebble cannot be restarted with a shorter lifetime
    instead: pebble makes a new root and forgets every account at each start. Yields its
    directory URL; stopped when the block ends (or by `stop`, when a test dies within it).
    Its root is never fetched: nothing needs to trust what it issues."""
    config = p.pebble / "short-lived-config.json"
    config.write_text(json.dumps(_config(p, PEBBLE_SHORT_LIVED_PORT, validity_seconds,
                                         management=False), indent=2) + "\n")
    pidfile = _short_lived_pidfile(p)
    procs.stop(pidfile, timeout=5)  # one a dead test left behind
    procs.spawn(["pebble", "-config", str(config),
                 "-dnsserver", f"{CONTROL_IP}:{CHALLTESTSRV_DNS_PORT}"],
                pidfile, p.logs / "pebble-short-lived.log", env=_ENV)
    try:
        _wait_port(SHORT_LIVED_URL, ca=p.pebble_ca)
        yield SHORT_LIVED_URL
    finally:
        procs.stop(pidfile, timeout=5)


def running(p: Paths) -> bool:
    return all(procs.read_pid(_pidfile(p, n)) for n in ("pebble", "challtestsrv"))


def _fetch(url: str, data: bytes | None = None, ca: Path | None = None) -> bytes:
    # Never through a proxy from the environment: this traffic stays on aitbc-wan.
    handlers: list = [urllib.request.ProxyHandler({})]
    if ca:
        handlers.append(urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=str(ca))))
    opener = urllib.request.build_opener(*handlers)
    with opener.open(urllib.request.Request(url, data=data), timeout=5) as resp:
        return resp.read()


def _wait_port(url: str, timeout: float = 10, ca: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _fetch(url, ca=ca)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start(p: Paths, hosts_entries: tuple[tuple[str, str], ...]) -> None:
    ensure_listener_cert(p)
    config = write_config(p)
    if not procs.read_pid(_pidfile(p, "challtestsrv")):
        # Only the mock DNS and its management API; the challenge responders stay off (the
        # machines' own nginx answers HTTP-01). No AAAA answers: the plan is IPv4 only.
        procs.spawn(["pebble-challtestsrv",
                     "-dns01", f"{CONTROL_IP}:{CHALLTESTSRV_DNS_PORT}",
                     "-management", f"{CONTROL_IP}:{CHALLTESTSRV_MGMT_PORT}",
                     "-http01", "", "-https01", "", "-tlsalpn01", "",
                     "-defaultIPv4", "", "-defaultIPv6", ""],
                    _pidfile(p, "challtestsrv"), p.logs / "challtestsrv.log")
    mgmt = f"http://{CONTROL_IP}:{CHALLTESTSRV_MGMT_PORT}"
    _wait_for_tcp(CONTROL_IP, CHALLTESTSRV_MGMT_PORT)
    # Every name the machines know from /etc/hosts resolves the same way for pebble (again on
    # every `up`: a site added to the inventory joins a running sandbox).
    for addr, name in hosts_entries:
        body = json.dumps({"host": name, "addresses": [addr]}).encode()
        _fetch(f"{mgmt}/add-a", data=body)
    if not procs.read_pid(_pidfile(p, "pebble")):
        procs.spawn(["pebble", "-config", str(config),
                     "-dnsserver", f"{CONTROL_IP}:{CHALLTESTSRV_DNS_PORT}"],
                    _pidfile(p, "pebble"), p.logs / "pebble.log", env=_ENV)
        _wait_port(ACME_URL, ca=p.pebble_ca)
    # pebble makes a new root at every start: the copy hosts and tests trust must follow it.
    root = _fetch(ROOT_URL, ca=p.pebble_ca)
    if not p.pebble_root.exists() or p.pebble_root.read_bytes() != root:
        p.pebble_root.write_bytes(root)


def _wait_for_tcp(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop(p: Paths) -> None:
    procs.stop(_short_lived_pidfile(p), timeout=5)
    for name in DAEMONS:
        procs.stop(_pidfile(p, name), timeout=5)
