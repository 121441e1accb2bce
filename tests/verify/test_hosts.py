"""What every host must look like after a rollout, check by check, from the model."""

from __future__ import annotations

import json
import time

from conftest import checks, connect, fleet, q, rendered

from aitbc_infra import sshd
from aitbc_infra.databases import LOOPBACK, POSTGRESQL_UNIT, REDIS_UNIT, cluster
from aitbc_infra.endpoints import listen
from aitbc_infra.host_names import RELEASE_MARKER
from aitbc_infra.render import read_write_paths
from aitbc_infra.shared_state import access

F = fleet()
HOSTS = F.hosts


def _services():
    return [(n, (app, svc)) for n, h in HOSTS.items() for app, svc in h.services]


@checks(((n, n, "systemd running, no failed unit") for n in HOSTS),
        probe=lambda n, _: ("systemctl is-system-running",
                            "systemctl list-units --failed --plain --no-legend"))
def test_system_running(node, thing, probed):
    # `degraded` means some unit failed: ours, or one of a package the deploy installed.
    state = probed[0].stdout.strip()
    failed = probed[1].stdout.split("\n")
    assert state == "running", f"{node}: systemd is {state or 'unreachable'}; failed units: " \
        + (", ".join(line.split()[0] for line in failed if line.strip()) or "none")


def _installed(dpkg_status: str) -> bool:
    # As testinfra's package().is_installed reads `dpkg-query -f '${Status}'`.
    words = dpkg_status.split()
    return words[:1] in (["install"], ["hold"]) and words[1:3] == ["ok", "installed"]


@checks(((n, p, f"package {p}") for n, h in HOSTS.items()
         for p in sorted(set(h.base_packages + h.packages))),
        probe=lambda n, p: (f"dpkg-query -f '${{Status}}' -W {q(p)}",))
def test_package_installed(node, thing, probed):
    assert _installed(probed[0].stdout), f"{node}: package {thing} missing"


@checks(((n, u.name, f"user {u.name}") for n, h in HOSTS.items() for u in h.users),
        probe=lambda n, u: (f"id {q(u)}",))
def test_user_exists(node, thing, probed):
    assert probed[0].rc == 0, f"{node}: user {thing} missing"


@checks(((n, g.name, f"group {g.name}") for n, h in HOSTS.items() for g in h.unix_groups),
        probe=lambda n, g: (f"getent group {q(g)}",))
def test_group_exists(node, thing, probed):
    assert probed[0].rc == 0, f"{node}: group {thing} missing"


# A scheduled job is inactive between its runs and enabled by no target: its timer is.
@checks(((n, unit, f"unit {unit} active and enabled") for n, (_, svc) in _services()
         for unit in (svc.started_unit, *([f"{svc.unit}.socket"] if svc.port else []))),
        probe=lambda n, u: (f"systemctl is-active {q(u)}", f"systemctl is-enabled {q(u)}"))
def test_unit_active_and_enabled(node, thing, probed):
    active, enabled = probed
    assert active.rc == 0, f"{node}: {thing} is not active ({active.stdout.strip()})"
    assert enabled.rc == 0, f"{node}: {thing} is not enabled ({enabled.stdout.strip()})"


def _show(unit: str, *properties: str) -> str:
    return " ".join(["systemctl show", *(f"-p {p}" for p in properties), "--", q(unit)])


def _shown(output: str) -> dict[str, str]:
    return dict(line.partition("=")[::2] for line in output.splitlines() if "=" in line)


# What a timer is while it waits: active, SubState "waiting" (or "running" while its job runs),
# with a next run set, and triggering its job (the timer's Unit=).
@checks(((n, svc, f"timer {svc.started_unit} waits to start {svc.unit}")
         for n, (_, svc) in _services() if svc.schedule),
        probe=lambda n, svc: (_show(svc.started_unit, "ActiveState", "SubState", "UnitFileState",
                                    "Triggers", "NextElapseUSecRealtime",
                                    "NextElapseUSecMonotonic"),))
def test_timer_waits_for_its_next_run(node, thing, probed):
    shown = _shown(probed[0].stdout)
    state = f"{shown.get('ActiveState') or '?'} ({shown.get('SubState') or '?'})"
    assert shown.get("ActiveState") == "active" and shown.get("SubState") in ("waiting", "running"), \
        f"{node}: {thing.started_unit} is {state}, not waiting for its next run"
    assert shown.get("UnitFileState") == "enabled", \
        f"{node}: {thing.started_unit} is {shown.get('UnitFileState') or 'unknown'}, not enabled"
    assert shown.get("Triggers") == f"{thing.unit}.service", \
        f"{node}: {thing.started_unit} triggers {shown.get('Triggers') or 'nothing'}"
    # A calendar timer shows its next run on the realtime clock, an interval on the monotonic
    # (while its job runs, the next one is set once the run is over).
    if shown.get("SubState") == "waiting":
        assert any(shown.get(p) not in (None, "", "0", "n/a", "infinity") for p in
                   ("NextElapseUSecRealtime", "NextElapseUSecMonotonic")), \
            f"{node}: {thing.started_unit} has no next run: {probed[0].stdout.strip()}"


# What systemd loaded for a scheduled job: its user and hardening, a one-shot run, and its last
# run's result (a failed run also fails "systemd running, no failed unit").
@checks(((n, (app, svc), f"job {svc.unit} loaded as {app.user}, hardened, last run ok")
         for n, (app, svc) in _services() if svc.schedule),
        probe=lambda n, t: (_show(f"{t[1].unit}.service", "User", "Type", "RemainAfterExit",
                                  "NoNewPrivileges", "ProtectSystem", "PrivateTmp",
                                  "NeedDaemonReload", "Result", "LoadState"),))
def test_scheduled_job_as_declared(node, thing, probed):
    app, svc = thing
    shown = _shown(probed[0].stdout)
    expected = {"LoadState": "loaded", "User": app.user, "Type": "oneshot", "RemainAfterExit": "no",
                "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                "NeedDaemonReload": "no", "Result": "success"}
    wrong = {k: shown.get(k, "?") for k, v in expected.items() if shown.get(k) != v}
    assert not wrong, f"{node}: {svc.unit}.service shows {wrong}; expected " + ", ".join(
        f"{k}={expected[k]}" for k in wrong)


# A unit writes its data directories and the shared directories its app writes, nothing else;
# it holds the groups of the shared state it may read; what it makes there its readers read.
@checks(((n, (app, svc), f"{svc.unit} writes {' '.join(read_write_paths(HOSTS[n], app)) or 'nothing'}")
         for n, (app, svc) in _services()),
        probe=lambda n, t: (_show(f"{t[1].unit}.service", "ReadWritePaths", "SupplementaryGroups",
                                  "UMask", "ProtectSystem"),))
def test_unit_writes_only_its_declared_paths(node, thing, probed):
    app, svc = thing
    shown = _shown(probed[0].stdout)
    shared = access(HOSTS[node], app)
    expected = {"ReadWritePaths": sorted(read_write_paths(HOSTS[node], app)),
                "SupplementaryGroups": sorted(shared.groups), "UMask": [shared.umask],
                "ProtectSystem": ["strict"]}
    got = {key: sorted(shown.get(key, "").split()) for key in expected}
    wrong = {key: " ".join(value) or "(none)" for key, value in got.items() if value != expected[key]}
    assert not wrong, f"{node}: {svc.unit}.service has {wrong}; planned " + ", ".join(
        f"{key}={' '.join(expected[key]) or '(none)'}" for key in wrong)


def _listening(ss_output: str) -> set[tuple[str, int]]:
    # As testinfra's socket().is_listening reads `ss`: `*` is both wildcards, [::] is ::.
    found = set()
    for line in ss_output.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[0] == "LISTEN":
            address, port = fields[3].rsplit(":", 1)
            address = address.strip("[]")
            found |= {("::", int(port)), ("0.0.0.0", int(port))} if address == "*" \
                else {(address, int(port))}
    return found


@checks(((n, svc, f"{svc.unit} listens on {listen(HOSTS[n], svc).authority}")
         for n, (_, svc) in _services() if svc.port),
        probe=lambda n, _: ("ss --numeric --listening --tcp",))
def test_port_listening(node, thing, probed):
    bound = listen(HOSTS[node], thing)
    sockets = _listening(probed[0].stdout)
    assert {("::", bound.port), (bound.address, bound.port)} & sockets, \
        f"{node}: {thing.unit} not on tcp://{bound.authority}"


def _packaged_ports():
    for n, h in HOSTS.items():
        for name, service in (("postgresql", h.postgresql), ("redis", h.redis)):
            if service is not None:
                yield n, (name, service.port), f"{name} listens on {LOOPBACK}:{service.port} only"


@checks(_packaged_ports(), probe=lambda n, _: ("ss --numeric --listening --tcp",))
def test_packaged_service_listens_on_loopback_only(node, thing, probed):
    # Where the apps' URLs point, and nowhere else: no other address of the host, no wildcard.
    name, port = thing
    found = {address for address, p in _listening(probed[0].stdout) if p == port}
    assert found == {LOOPBACK}, f"{node}: {name} listens on {sorted(found) or 'nothing'} port " \
        f"{port}; planned {LOOPBACK} only"


def _packaged_units():
    for n, h in HOSTS.items():
        c = cluster(h)
        if c is not None:
            # The cluster runs; postgresql.service, which starts every cluster at boot, is enabled.
            yield n, (c.unit, "active"), f"unit {c.unit} active"
            yield n, (POSTGRESQL_UNIT, "enabled"), f"unit {POSTGRESQL_UNIT} enabled"
        if h.redis is not None:
            yield n, (REDIS_UNIT, "active"), f"unit {REDIS_UNIT} active"
            yield n, (REDIS_UNIT, "enabled"), f"unit {REDIS_UNIT} enabled"


@checks(_packaged_units(), probe=lambda n, t: (f"systemctl is-{t[1]} {q(t[0])}",))
def test_packaged_unit(node, thing, probed):
    unit, state = thing
    assert probed[0].rc == 0, f"{node}: {unit} is not {state} ({probed[0].stdout.strip()})"


@checks(((n, f, f"{f.unit} env file root {f.mode}") for n, files in rendered().items()
         for f in files if f.kind == "env"),
        probe=lambda n, f: (f"stat -c '%U %G %a' {q(f.path)}",))
def test_env_file_private(node, thing, probed):
    assert probed[0].rc == 0, f"{node}: {thing.path} missing"
    user, group, mode = probed[0].stdout.split()
    assert (user, group) == ("root", "root"), f"{node}: {thing.path} owner"
    assert int(mode, 8) == int(thing.mode, 8), f"{node}: {thing.path} mode {oct(int(mode, 8))}"


@checks(((n, app, f"{app.name} runs a complete release, at most {HOSTS[n].rollout.keep_releases} kept")
         for n, h in HOSTS.items() for app in h.apps),
        probe=lambda n, app: (f"test -L {q(app.venv)}", f"realpath {q(app.venv)}",
                              f'test -e "$(realpath {q(app.venv)})"/{q(RELEASE_MARKER)}',
                              f"ls -1 {q(app.releases)}"))
def test_release_active_and_pruned(node, thing, probed):
    is_link, target, complete, listing = probed
    assert is_link.rc == 0, f"{node}: {thing.venv} is not a symlink to a release"
    target = target.stdout.strip()
    assert target.startswith(f"{thing.releases}/"), f"{node}: {thing.venv} -> {target}"
    assert complete.rc == 0, f"{node}: {target} is an unfinished build"
    kept = listing.stdout.split()
    assert len(kept) <= HOSTS[node].rollout.keep_releases, f"{node}: {thing.releases} keeps {kept}"


def _health_url(node, svc) -> str:
    return F.endpoint(node, node, svc.unit).url + svc.health


@checks(((n, svc, f"{svc.unit} health {svc.health}") for n, (_, svc) in _services() if svc.health),
        probe=lambda n, svc: (f"curl -s -o /dev/null -m 5 -w '%{{http_code}}' {q(_health_url(n, svc))}",))
def test_health_endpoint(node, thing, probed):
    out = probed[0].stdout
    assert out == "200", f"{node}: {thing.unit} {_health_url(node, thing)} answered {out or 'nothing'}"


def _data_probe_url(node, svc) -> str:
    return F.endpoint(node, node, svc.unit).url + svc.data_probe


@checks(((n, svc, f"{svc.unit} data probe {svc.data_probe}") for n, (_, svc) in _services()
         if svc.data_probe),
        probe=lambda n, svc: (f"curl -gs -o /dev/null -m 5 -w '%{{http_code}}' "
                              f"{q(_data_probe_url(n, svc))}",))
def test_data_probe(node, thing, probed):
    """The running release reads the data there: the probe its gates asked answers 2xx."""
    out = probed[0].stdout
    assert len(out) == 3 and out.startswith("2"), \
        f"{node}: {thing.unit} {_data_probe_url(node, thing)} answered {out or 'nothing'}"


@checks(((n, n, "nginx -t") for n, h in HOSTS.items() if h.nginx_sites), probe=lambda n, _: ("nginx -t",))
def test_nginx_config_valid(node, thing, probed):
    assert probed[0].rc == 0, f"{node}: nginx -t: {probed[0].stdout}"


@checks(((n, n, "sshd -T shows the declared settings") for n in HOSTS), probe=lambda n, _: ("sshd -T",))
def test_sshd_settings(node, thing, probed):
    # `sshd -T` parses the configuration on disk as a new sshd would (the drop-in and everything
    # else sshd_config includes): what the daemon runs is the next check's business.
    out = probed[0]
    assert out.rc == 0, f"{node}: sshd -T failed: {out.stdout.strip()}"
    wrong = sshd.differences(F, HOSTS[node], out.stdout)
    assert not wrong, f"{node}: sshd -T shows {wrong}; declared " + ", ".join(
        f"{k} {v}" for k, v in sshd.settings(F, HOSTS[node]).items() if k.lower() in wrong)


@checks(((n, n, "sshd runs the configuration on disk") for n in HOSTS),
        probe=lambda n, _: (sshd.loaded_probe(),))
def test_sshd_runs_its_configuration(node, thing, probed):
    # Not `sshd -T` (the files on disk): the pid file the running sshd last wrote against the
    # files' times (aitbc_infra/sshd.py says why the pid file, not the process's start).
    why = sshd.not_loaded(probed[0].stdout)
    assert why is None, f"{node}: {why}"


# firehol may drive either iptables backend: read both.
@checks(((n, fwd, f"firehol forward {fwd.port} -> {fwd.node}") for n, h in HOSTS.items()
         if h.firewall for fwd in h.firewall.forwards),
        probe=lambda n, _: ("iptables -t nat -S; iptables-legacy -t nat -S 2>/dev/null",))
def test_firehol_forward_rule(node, thing, probed):
    rules = probed[0].stdout
    target = f"--to-destination {F.forward(HOSTS[node], thing).authority}"
    assert any(target in r and f"--dport {thing.port}" in r for r in rules.splitlines()), \
        f"{node}: no DNAT for port {thing.port}"


def _rpc_services():
    return [(n, svc, f"{svc.unit} head advances") for n, (app, svc) in _services()
            if svc.health == "/rpc/head"]


def _head_url(node, svc) -> str:
    return F.endpoint(node, node, svc.unit).url + "/rpc/head"


def _read_heads_twice(node, _svc) -> tuple[str]:
    """Every head of the node, then again two block times later: one probe for all its nodes."""
    urls = " ".join(q(_head_url(n, svc)) for n, svc, _ in _rpc_services() if n == node)
    read = f'for u in {urls}; do echo "$u $(curl -s -m 5 "$u")"; done'
    return (f"{read}; sleep {HOSTS[node].chain.block_time_seconds * 2 + 0.5}; {read}",)


def _height(body: str) -> int | None:
    try:
        return json.loads(body)["height"]
    except (ValueError, KeyError, TypeError):
        return None


@checks(_rpc_services(), probe=_read_heads_twice)
def test_chain_head_advances(node, thing, probed):
    url = _head_url(node, thing)
    reads = (line.partition(" ") for line in probed[0].stdout.splitlines())
    heights = [_height(body) for read_url, _, body in reads if read_url == url]
    assert len(heights) == 2 and None not in heights, f"{node}: {url} answered {probed[0].stdout!r}"
    first, then = heights
    assert then > first, f"{node}: {thing.unit} height stuck at {first}"


def _peered():
    for n, h in HOSTS.items():
        for app in h.apps:
            rpc = next((s for s in app.services if s.health == "/rpc/head"), None)
            for peer in app.peers:
                if rpc and app.sync_status and peer in h.sites:
                    yield n, (rpc, app.sync_status, F.peer_url(h, peer)), f"{rpc.unit} sees peer {peer}"


def _sync_status(node, thing) -> tuple[str]:
    svc, status_path, _ = thing
    return (f"curl -s -m 5 {q(F.endpoint(node, node, svc.unit).url + status_path)}",)


@checks(_peered(), probe=_sync_status)
def test_cross_site_sync(node, thing, probed):
    # The gathered status first; a peer not seen yet is asked again until three sync intervals.
    svc, _, peer_url = thing
    deadline = time.monotonic() + HOSTS[node].chain.sync_interval_seconds * 3
    out = probed[0].stdout
    while True:
        peers = json.loads(out or "{}").get("peers", [])
        if any(p.get("url") == peer_url and p.get("height") for p in peers):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{node}: {svc.unit} has no head from {peer_url}: {peers}")
        time.sleep(2)
        out = connect(node).check_output(_sync_status(node, thing)[0])
