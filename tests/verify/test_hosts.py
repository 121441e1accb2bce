"""What every host must look like after a rollout, check by check, from the model."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta

from conftest import checks, connect, fleet, public_access, rendered

from aitbc_infra.endpoints import listen
from aitbc_infra.host_names import RELEASE_MARKER

F = fleet()
HOSTS = F.hosts
MIN_CERT_DAYS = 14


def _services():
    return [(n, (app, svc)) for n, h in HOSTS.items() for app, svc in h.services]


@checks((n, n, "systemd running, no failed unit") for n in HOSTS)
def test_system_running(node, thing):
    # `degraded` means some unit failed: ours, or one of a package the deploy installed.
    host = connect(node)
    state = host.run("systemctl is-system-running").stdout.strip()
    failed = host.run("systemctl list-units --failed --plain --no-legend").stdout.split("\n")
    assert state == "running", f"{node}: systemd is {state or 'unreachable'}; failed units: " \
        + (", ".join(line.split()[0] for line in failed if line.strip()) or "none")


@checks((n, p, f"package {p}") for n, h in HOSTS.items()
        for p in sorted(set(h.base_packages + h.packages)))
def test_package_installed(node, thing):
    assert connect(node).package(thing).is_installed, f"{node}: package {thing} missing"


@checks((n, u.name, f"user {u.name}") for n, h in HOSTS.items() for u in h.users)
def test_user_exists(node, thing):
    assert connect(node).user(thing).exists, f"{node}: user {thing} missing"


@checks((n, unit, f"unit {unit} active and enabled") for n, (_, svc) in _services()
        for unit in (svc.unit, *([f"{svc.unit}.socket"] if svc.port else [])))
def test_unit_active_and_enabled(node, thing):
    service = connect(node).service(thing)
    assert service.is_running, f"{node}: {thing} is not active"
    assert service.is_enabled, f"{node}: {thing} is not enabled"


@checks((n, svc, f"{svc.unit} listens on {listen(HOSTS[n], svc).authority}")
        for n, (_, svc) in _services() if svc.port)
def test_port_listening(node, thing):
    address = f"tcp://{listen(HOSTS[node], thing).authority}"
    assert connect(node).socket(address).is_listening, f"{node}: {thing.unit} not on {address}"


@checks((n, f, f"{f.unit} env file root {f.mode}") for n, files in rendered().items()
        for f in files if f.kind == "env")
def test_env_file_private(node, thing):
    remote = connect(node).file(thing.path)
    assert remote.exists, f"{node}: {thing.path} missing"
    assert (remote.user, remote.group) == ("root", "root"), f"{node}: {thing.path} owner"
    assert remote.mode == int(thing.mode, 8), f"{node}: {thing.path} mode {oct(remote.mode)}"


@checks((n, app, f"{app.name} runs a complete release, at most {HOSTS[n].rollout.keep_releases} kept")
        for n, h in HOSTS.items() for app in h.apps)
def test_release_active_and_pruned(node, thing):
    host = connect(node)
    link = host.file(thing.venv)
    assert link.is_symlink, f"{node}: {thing.venv} is not a symlink to a release"
    target = link.linked_to
    assert target.startswith(f"{thing.releases}/"), f"{node}: {thing.venv} -> {target}"
    assert host.file(f"{target}/{RELEASE_MARKER}").exists, f"{node}: {target} is an unfinished build"
    kept = host.run(f"ls -1 {thing.releases}").stdout.split()
    assert len(kept) <= HOSTS[node].rollout.keep_releases, f"{node}: {thing.releases} keeps {kept}"


@checks((n, svc, f"{svc.unit} health {svc.health}") for n, (_, svc) in _services() if svc.health)
def test_health_endpoint(node, thing):
    url = F.endpoint(node, node, thing.unit).url + thing.health
    out = connect(node).run(f"curl -s -o /dev/null -m 5 -w '%{{http_code}}' {url}").stdout
    assert out == "200", f"{node}: {thing.unit} {url} answered {out or 'nothing'}"


@checks((n, n, "nginx -t") for n, h in HOSTS.items() if h.nginx_sites)
def test_nginx_config_valid(node, thing):
    result = connect(node).run("nginx -t")
    assert result.rc == 0, f"{node}: nginx -t: {result.stderr}"


@checks((n, fwd, f"firehol forward {fwd.port} -> {fwd.node}") for n, h in HOSTS.items()
        if h.firewall for fwd in h.firewall.forwards)
def test_firehol_forward_rule(node, thing):
    # firehol may drive either iptables backend: read both.
    rules = connect(node).run("iptables -t nat -S; iptables-legacy -t nat -S 2>/dev/null").stdout
    target = f"--to-destination {F.forward(HOSTS[node], thing).authority}"
    assert any(target in r and f"--dport {thing.port}" in r for r in rules.splitlines()), \
        f"{node}: no DNAT for port {thing.port}"


@checks((n, fwd, f"forward {fwd.port} answers on {HOSTS[n].public_address}") for n, h in HOSTS.items()
        if h.firewall for fwd in h.firewall.forwards)
def test_forwarded_port_answers(node, thing):
    address = str(HOSTS[node].public_address)
    try:
        with socket.create_connection((address, thing.port), timeout=5):
            pass
    except OSError as exc:
        raise AssertionError(f"{node}: port {thing.port} on {address}: {exc}") from None


def _site_routes():
    for n, h in HOSTS.items():
        for site in h.nginx_sites:
            if site.tls:
                continue
            # Checked through the public TLS proxy: only sites such a proxy sends to.
            if not any(s.tls for _, s, _ in F.proxied_by(n)):
                continue
            for route in site.routes:
                label = route.service if route.type == "proxy" else route.type
                yield n, route, f"route {route.location} -> {label}"


def _public_get(path: str) -> tuple[int, dict]:
    name, address, ca = public_access()
    resolve = ["--resolve", f"{name}:443:{address}"] if ca else []
    cmd = ["curl", "-s", "-o", "/dev/null", "-m", "10", "-w", "%{http_code} %{redirect_url}",
           *(["--cacert", ca] if ca else []), *resolve, f"https://{name}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.split(" ", 1)
    return int(out[0] or 0), {"location": out[1] if len(out) > 1 else ""}


@checks(_site_routes())
def test_route_through_public_proxy(node, thing):
    status, info = _public_get(thing.location)
    name = public_access()[0]
    if thing.type == "redirect":
        assert (status, info["location"]) == (301, f"https://{name}{thing.to}"), (status, info)
    elif thing.type == "status":
        assert status == thing.status
    elif thing.type == "proxy":
        # The declared upstream answered (any status it chooses), not nginx on its behalf.
        assert 200 <= status < 500, f"{thing.location}: {status} (upstream {thing.service} down?)"
    else:
        assert status == 200, f"{thing.location}: {status}"


def test_tls_certificate_valid_for_the_domain():
    name, address, ca = public_access()
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection((address if ca else name, 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        cert = tls.getpeercert()
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
    assert expires - datetime.now(UTC) > timedelta(days=MIN_CERT_DAYS), f"expires {expires}"


def _rpc_services():
    return [(n, svc, f"{svc.unit} head advances") for n, (app, svc) in _services()
            if svc.health == "/rpc/head"]


def _rpc_head(node, svc) -> dict:
    url = F.endpoint(node, node, svc.unit).url + "/rpc/head"
    return json.loads(connect(node).check_output(f"curl -s -m 5 {url}"))


_first_heights: dict[str, tuple[float, int]] = {}


@checks(_rpc_services())
def test_chain_head_advances(node, thing):
    # All heads are read once up front, so the suite waits two block times once, not per node.
    if not _first_heights:
        for n, svc, _ in _rpc_services():
            _first_heights[f"{n}/{svc.unit}"] = (time.monotonic(), _rpc_head(n, svc)["height"])
    seen_at, first = _first_heights[f"{node}/{thing.unit}"]
    wait = seen_at + HOSTS[node].chain.block_time_seconds * 2 + 0.5 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    assert _rpc_head(node, thing)["height"] > first, f"{node}: {thing.unit} height stuck at {first}"


def _peered():
    for n, h in HOSTS.items():
        for app in h.apps:
            rpc = next((s for s in app.services if s.health == "/rpc/head"), None)
            for peer in app.peers:
                if rpc and app.sync_status and peer in h.sites:
                    yield n, (rpc, app.sync_status, F.peer_url(h, peer)), f"{rpc.unit} sees peer {peer}"


@checks(_peered())
def test_cross_site_sync(node, thing):
    svc, status_path, peer_url = thing
    interval = HOSTS[node].chain.sync_interval_seconds
    url = F.endpoint(node, node, svc.unit).url + status_path
    deadline = time.monotonic() + interval * 3
    peers = []
    while time.monotonic() < deadline:
        peers = json.loads(connect(node).check_output(f"curl -s -m 5 {url}")).get("peers", [])
        if any(p.get("url") == peer_url and p.get("height") for p in peers):
            return
        time.sleep(2)
    raise AssertionError(f"{node}: {svc.unit} has no head from {peer_url}: {peers}")
