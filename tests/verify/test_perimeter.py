"""The perimeter, seen from outside as an attacker on the internet sees it, and from the hosts.

From this machine (in the sandbox: a network namespace on its wan, see `aitbc-infra verify`):
each public address answers exactly the ports the model opens to any address, no container
answers at all, a name no site serves gets no page, no redirect goes to a Host the client sent,
every route a user opens answers as declared, with a valid certificate. From the hosts: a
forward answers the sources it admits, and a container answers its host only on what it
declares beyond loopback.
"""

from __future__ import annotations

import socket
import ssl
import sys
from datetime import UTC, datetime, timedelta

from conftest import checks, fleet, q

from aitbc_infra.exposure import exposures, user_routes
from aitbc_infra.model import HostSpec, Site, UnitTarget

F = fleet()
HOSTS = F.hosts
EXPOSURES = exposures(F)
PUBLIC = {n: h for n, h in HOSTS.items() if h.public_address is not None}
CONTAINERS = {n: h for n, h in HOSTS.items() if h.public_address is None and h.bridge_address}
MIN_CERT_DAYS = 14
UNKNOWN_NAME = "unknown-name.invalid"


def _known_ports() -> list[int]:
    """Every port the model knows of: services and their candidates, sites, forwards."""
    ports = {22, 80, 443}
    for host in HOSTS.values():
        for app, svc in host.services:
            if svc.port:
                ports.add(svc.port)
                if app.candidate(svc):
                    ports.add(host.candidate_port(svc))
        ports |= {s.listen for s in host.nginx_sites}
        ports |= _packaged_ports(host)
        if host.firewall:
            ports |= {f.port for f in host.firewall.forwards}
    return sorted(ports)


def _packaged_ports(host: HostSpec) -> set[int]:
    """PostgreSQL's and Redis's: on loopback only, so probed and never answered from outside."""
    return {service.port for service in (host.postgresql, host.redis) if service is not None}


PORTS = f"1-1024,{','.join(str(p) for p in _known_ports() if p > 1024)}".rstrip(",")


def _scan(_node=None, _thing=None) -> tuple[str]:
    """One scan of every public and container address, ports 1-1024 and every port the model
    knows: each address at the pace a firewall's SYN-flood protection lets through, all
    addresses at once."""
    addresses = [str(h.public_address) for h in PUBLIC.values()]
    addresses += [str(h.bridge_address) for h in CONTAINERS.values()]
    targets = " ".join(q(f"{a}:{PORTS}") for a in addresses)
    return (f"{q(sys.executable)} -m aitbc_infra.portscan --timeout 1 {targets}",)


def _answered(output: str, address: str) -> set[int]:
    return {int(port) for line in output.splitlines()
            for found, _, port in [line.partition(" ")] if found == address}


@checks(((n, n, "public address answers exactly the ports open to any address") for n in PUBLIC),
        probe=_scan, on_control=True)
def test_public_address_answers_exactly_what_is_open_to_any(node, thing, probed):
    address = str(HOSTS[node].public_address)
    assert probed[0].rc == 0, probed[0].stdout
    declared = {e.port for e in EXPOSURES if e.node == node and e.to_any}
    answered = _answered(probed[0].stdout, address)
    assert answered == declared, (f"{node} {address}: answers {sorted(answered)}; open to any "
                                  f"address: {sorted(declared)}; too many: "
                                  f"{sorted(answered - declared)}, missing: "
                                  f"{sorted(declared - answered)}")


@checks(((n, n, "no port of the container answers from outside") for n in CONTAINERS),
        probe=_scan, on_control=True)
def test_container_answers_nothing_from_outside(node, thing, probed):
    address = str(HOSTS[node].bridge_address)
    assert probed[0].rc == 0, probed[0].stdout
    answered = _answered(probed[0].stdout, address)
    assert not answered, f"{node} {address}: ports {sorted(answered)} answer from the wan"


def _forwards():
    for e in EXPOSURES:
        if e.forward_to is None or e.to_any:
            continue
        for source in e.allow:
            admitted = F.public_host(source)
            if admitted is not None:  # a network is no host to probe from
                yield admitted.node, e, f"forward {e.node}:{e.port} answers {source}"


def _connect(node, exposure) -> tuple[str]:
    return (f"timeout 5 bash -c {q(f'</dev/tcp/{exposure.address}/{exposure.port}')}",)


@checks(_forwards(), probe=_connect)
def test_forward_answers_an_admitted_source(node, thing, probed):
    assert probed[0].rc == 0, (f"{node} cannot reach {thing.address}:{thing.port} "
                               f"({thing.what}), which admits it: {probed[0].stdout.strip()}")


def _container_ports(node: str) -> list[int]:
    host = HOSTS[node]
    return sorted({p for _, s in host.services if s.port for p in (s.port, host.candidate_port(s))}
                  | {22, 80, 443} | {s.listen for s in host.nginx_sites} | _packaged_ports(host))


def _beyond_loopback(node: str) -> set[int]:
    """What a container offers its host: sshd, its nginx sites, services bound beyond loopback."""
    host = HOSTS[node]
    return ({22} | {s.listen for s in host.nginx_sites}
            | {s.port for _, s in host.services if s.port and s.bind != "loopback"})


def _from_carrier(_carrier_node, container) -> tuple[str]:
    address = str(HOSTS[container].bridge_address)
    ports = " ".join(str(p) for p in _container_ports(container))
    return (f"for p in {ports}; do timeout 2 bash -c \"</dev/tcp/{address}/$p\" 2>/dev/null "
            "&& echo $p; done; true",)


@checks(((F.jump_host(n).node, n, f"{n} answers only what it declares beyond loopback")
         for n in CONTAINERS if F.jump_host(n)), probe=_from_carrier)
def test_container_answers_its_host_only_beyond_loopback(node, thing, probed):
    # Run on the host carrying the container, the one machine with a route to it.
    answered = {int(p) for p in probed[0].stdout.split()}
    allowed = _beyond_loopback(thing)
    assert answered <= allowed, (f"{thing} answers {node} on {sorted(answered - allowed)}, "
                                 "declared on loopback only")


def _tls_sites():
    for node, host in PUBLIC.items():
        for site in host.nginx_sites:
            if site.tls:
                yield node, site, f"https://{site.server_name}"


def _curl(host: HostSpec, site: Site, path: str, *extra: str) -> str:
    trust = f"--cacert {q(host.acme_root_file)}" if host.acme_root_file else ""
    address = str(host.public_address)
    return (f"curl -s -o /dev/null -m 10 -w '%{{http_code}} %{{redirect_url}}' {trust} "
            f"--resolve {q(f'{site.server_name}:443:{address}')} {' '.join(extra)} "
            f"{q(f'https://{site.server_name}{path}')}")


ROUTES = user_routes(F)


@checks(((r.node, r, f"{r.url} answers {r.route.expected_status}") for r in ROUTES),
        probe=lambda n, r: (_curl(HOSTS[n], r.site, r.route.probe_path),), on_control=True)
def test_route_answers_as_declared(node, thing, probed):
    status, _, location = probed[0].stdout.partition(" ")
    expected = thing.route.expected_status
    assert status == str(expected), f"{thing.url}: {status} (declared {expected})"
    if thing.redirect:
        # A redirect stays on the site: to the declared route, on the site's own name.
        assert location == thing.redirect, f"{thing.url}: to {location!r}"


def _static_servers():
    """Proxy routes to a service that serves static files: a name from its source trees
    (its own script) must not be served."""
    for r in ROUTES:
        target = r.route.target
        if not isinstance(target, UnitTarget):
            continue
        owner = target.node or next(n for n, h in HOSTS.items()
                                    if any(r.route in s.routes for s in h.nginx_sites))
        found = F.find_service(owner, target.unit)
        if found and found[0].static_files and found[1].command:
            script = found[1].command.split()[0]
            path = f"{r.route.location.rstrip('/')}/{script}"
            yield r.node, (r.site, path), f"https://{r.site.server_name}{path} serves no source"


@checks(_static_servers(), probe=lambda n, t: (_curl(HOSTS[n], t[0], t[1]),), on_control=True)
def test_static_server_serves_no_source(node, thing, probed):
    status = probed[0].stdout.partition(" ")[0]
    assert status == "404", f"https://{thing[0].server_name}{thing[1]}: {status}"


def _unknown_name(node, _) -> tuple[str, ...]:
    host = HOSTS[node]
    address = str(host.public_address)
    plain = (f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' -H 'Host: {UNKNOWN_NAME}' "
             f"http://{address}/")
    tls = (f"curl -sk -o /dev/null -m 10 -w '%{{http_code}}' "
           f"--resolve {UNKNOWN_NAME}:443:{address} https://{UNKNOWN_NAME}/")
    return (plain, tls) if any(s.tls for s in host.nginx_sites) else (plain,)


@checks(((n, n, "an unknown name gets no page (HTTP and HTTPS)") for n, h in PUBLIC.items()
         if h.nginx_sites), probe=_unknown_name, on_control=True)
def test_unknown_name_gets_no_page(node, thing, probed):
    for result in probed:
        # 000: no HTTP answer at all (the connection closed, or the handshake refused).
        assert result.stdout.strip() == "000", f"{node}: a request for {UNKNOWN_NAME} got " \
            f"HTTP {result.stdout.strip()}"


def _host_redirect(node, site) -> tuple[str]:
    address = str(HOSTS[node].public_address)
    return (f"curl -s -o /dev/null -m 10 -w '%{{http_code}} %{{redirect_url}}' "
            f"-H 'Host: {site.server_name}' -H 'X-Forwarded-Host: evil.example' "
            f"http://{address}/evil.example/x",
            f"curl -s -o /dev/null -m 10 -w '%{{http_code}} %{{redirect_url}}' "
            f"-H 'Host: evil.example' http://{address}/x")


@checks(((n, s, f"http://{s.server_name} redirects to itself only") for n, h in PUBLIC.items()
         for s in h.nginx_sites if s.tls), probe=_host_redirect, on_control=True)
def test_no_redirect_to_a_host_the_client_sent(node, thing, probed):
    own, spoofed = probed
    status, _, location = own.stdout.partition(" ")
    assert status == "301" and location.startswith(f"https://{thing.server_name}/"), own.stdout
    assert "evil.example" not in spoofed.stdout.partition(" ")[2], spoofed.stdout


def _handshake(node, site):
    host = HOSTS[node]
    context = ssl.create_default_context(cafile=host.acme_root_file)
    with socket.create_connection((str(host.public_address), 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=site.server_name) as tls:
        return tls.getpeercert()


@checks((n, s, f"{label} has a valid certificate") for n, s, label in _tls_sites())
def test_certificate_valid_for_the_site(node, thing):
    # The outside view's own network only in the sandbox; the certificate is the same from here.
    cert = _handshake(node, thing)
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
    assert expires - datetime.now(UTC) > timedelta(days=MIN_CERT_DAYS), f"expires {expires}"


def _headers(node, site) -> tuple[str]:
    return (_curl(HOSTS[node], site, "/health", "--dump-header", "-"),)


@checks(((n, s, f"https://{s.server_name} sends its security headers") for n, h in PUBLIC.items()
         for s in h.nginx_sites if s.tls), probe=_headers, on_control=True)
def test_site_sends_its_security_headers(node, thing, probed):
    sent = {}
    for line in probed[0].stdout.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            sent[name.strip().lower()] = value.strip()
    declared = HOSTS[node].security_headers if thing.headers is None else thing.headers
    wrong = {name: sent.get(name.lower()) for name, value in declared.items()
             if sent.get(name.lower()) != value}
    assert not wrong, f"https://{thing.server_name}/health: headers not as declared: {wrong}"
