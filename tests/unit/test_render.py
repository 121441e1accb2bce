"""Rendering the production inventory: four hosts, the document's artefacts, deterministic."""

import re
import subprocess
import sys

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.checks import parse_nginx_file
from aitbc_infra.render import render_fleet


def _by_path(fleet, node):
    return {f.path: f for f in render_fleet(fleet)[node]}


def test_every_host_gets_files(fleet):
    rendered = render_fleet(fleet)
    assert sorted(rendered) == ["aitbc", "at1", "ns3-aitbc", "ns3-root"]
    assert all(rendered[node] for node in rendered)


def test_rendering_is_deterministic(fleet, tmp_path):
    outs = []
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-m", "aitbc_infra", "render", "--out",
                        str(tmp_path / run)], check=True, capture_output=True, cwd=PROJECT_ROOT)
        outs.append({p.relative_to(tmp_path / run): p.read_bytes()
                     for p in (tmp_path / run).rglob("*") if p.is_file()})
    assert outs[0] == outs[1]
    assert len(outs[0]) >= 30


def test_host_proxy_terminates_tls_and_forwards_websockets(fleet):
    site = _by_path(fleet, "at1")["/etc/nginx/sites-available/aitbc-proxy.conf"]
    servers = [d["block"] for d in parse_nginx_file(site.content) if d["directive"] == "server"]
    listens = {" ".join(d["args"]) for s in servers for d in s if d["directive"] == "listen"}
    assert "80" in listens and any(x.startswith("443 ssl") for x in listens)
    tls = next(s for s in servers if any(d["args"][0] == "443" for d in s if d["directive"] == "listen"))
    directives = {d["directive"]: d["args"] for d in tls}
    assert directives["ssl_certificate"] == ["/etc/letsencrypt/live/bubuit.net/fullchain.pem"]
    assert directives["ssl_certificate_key"] == ["/etc/letsencrypt/live/bubuit.net/privkey.pem"]
    location = next(d for d in tls if d["directive"] == "location")
    headers = {tuple(d["args"]) for d in location["block"] if d["directive"] == "proxy_set_header"}
    assert ("Upgrade", "$http_upgrade") in headers and ("Host", "$host") in headers
    proxy = next(d["args"][0] for d in location["block"] if d["directive"] == "proxy_pass")
    assert proxy == "http://10.1.223.93:80"
    plain = next(s for s in servers if s is not tls)
    redirect = [d for loc in plain if loc["directive"] == "location" for d in loc["block"]
                if d["directive"] == "return"]
    # To the site's own name: never to a Host header the client sent.
    assert redirect[0]["args"] == ["301", "https://aitbc.bubuit.net$request_uri"]


def test_host_units_restart_always_after_five_seconds(fleet):
    files = _by_path(fleet, "at1")
    for unit in ("aitbc-mock-coordinator", "aitbc-blockchain-node", "aitbc-blockchain-rpc",
                 "aitbc-gpu-miner"):
        text = files[f"/etc/systemd/system/{unit}.service"].content
        assert "Restart=always\n" in text and "RestartSec=5\n" in text
        assert "User=oib\n" in text
    root = "/home/oib/windsurf/aitbc/apps/blockchain-node"
    workdirs = {unit: re.search(r"^WorkingDirectory=(.*)$", files[
        f"/etc/systemd/system/{unit}.service"].content, re.M).group(1)
        for unit in ("aitbc-blockchain-node", "aitbc-mock-coordinator", "aitbc-gpu-miner")}
    # Packaged processes run in the workspace; scripts from the release's copy of their tree.
    assert workdirs == {"aitbc-blockchain-node": root,
                        "aitbc-mock-coordinator": f"{root}/.venv/src/apps/blockchain-node/scripts",
                        "aitbc-gpu-miner": f"{root}/.venv/src/cli"}
    miner = files["/etc/systemd/system/aitbc-gpu-miner.service"].content
    assert f"ExecStart={root}/.venv/bin/python miner.py --url http://10.1.223.1:8090 " in miner
    # Listening services take their socket from systemd: the address is the socket unit's.
    mock = files["/etc/systemd/system/aitbc-mock-coordinator.service"].content
    assert "-m uvicorn mock_coordinator:app --fd 3\n" in mock
    assert "Requires=aitbc-mock-coordinator.socket\n" in mock
    sockets = {p.rsplit("/", 1)[1]: f.content for p, f in files.items() if p.endswith(".socket")}
    assert "ListenStream=10.1.223.1:8090\n" in sockets["aitbc-mock-coordinator.socket"]
    assert "ListenStream=127.0.0.1:9080\n" in sockets["aitbc-blockchain-rpc.socket"]


def test_ns3_firehol_forwards_the_four_ports(fleet):
    conf = _by_path(fleet, "ns3-root")["/etc/firehol/firehol.conf"].content
    for port in (8000, 8081, 8082, 9080):
        assert f"dnat4 to 192.168.100.10:{port} inface eth0 proto tcp dport {port}" in conf


def test_ns3_front_proxies_rpc_to_node_3(fleet):
    site = _by_path(fleet, "ns3-root")["/etc/nginx/sites-available/aitbc.keisanki.net"]
    assert "proxy_pass http://192.168.100.10:8082;" in site.content
    socket = _by_path(fleet, "ns3-aitbc")["/etc/systemd/system/aitbc-blockchain-rpc-3.socket"]
    assert "ListenStream=192.168.100.10:8082\n" in socket.content


def test_sshd_forwards_tcp_only_on_the_hosts_ssh_jumps_through(fleet):
    drop_ins = {node: next(f for f in files if f.kind == "sshd")
                for node, files in render_fleet(fleet).items()}
    forwarding = {node: re.search(r"^AllowTcpForwarding (\S+)$", f.content, re.M).group(1)
                  for node, f in drop_ins.items()}
    # at1 and ns3-root stand between the control machine and their containers (ProxyJump).
    assert forwarding == {"at1": "local", "ns3-root": "local", "aitbc": "no", "ns3-aitbc": "no"}
    for f in drop_ins.values():
        assert f.path == "/etc/ssh/sshd_config.d/00-aitbc.conf"
        for line in ("PasswordAuthentication no", "KbdInteractiveAuthentication no",
                     "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
                     "X11Forwarding no", "AllowAgentForwarding no", "PermitTunnel no",
                     "AllowStreamLocalForwarding no", "GatewayPorts no", "PermitUserEnvironment no"):
            assert re.search(rf"^{line}$", f.content, re.M), line


def test_env_files_are_private_and_secrets_redacted(fleet):
    files = _by_path(fleet, "aitbc")
    env = files["/etc/aitbc/coordinator-api.env"]
    assert env.mode == "0600" and env.owner == "root" and env.secret
    for name in ("JWT_SECRET", "ADMIN_API_KEYS"):
        assert f'{name}="<redacted:{name}>"' in env.content
    # The coordinator's database is URL, a plain setting; no DATABASE_URL is read, none is set.
    assert 'URL="sqlite:////opt/coordinator-api/data/coordinator.db"' in env.content
    assert "DATABASE_URL" not in env.content
    exchange = files["/etc/aitbc/aitbc-exchange-api.env"].content
    assert 'SESSION_SECRET="<redacted:SESSION_SECRET>"' in exchange
    # Lists reach pydantic-settings apps as JSON (systemd unquotes the escaped quotes).
    assert 'ALLOW_ORIGINS="[\\"http://localhost:3000\\", \\"http://localhost:8080\\",' in exchange


def test_the_wallet_daemon_is_pointed_at_its_containers_coordinator(fleet):
    # Its app default (localhost:8011) is where nothing listens.
    env = _by_path(fleet, "aitbc")["/etc/aitbc/aitbc-wallet-daemon.env"].content
    coordinator = fleet.endpoint("aitbc", "aitbc", "coordinator-api")
    assert coordinator.url == "http://127.0.0.1:8000"
    assert f'COORDINATOR_BASE_URL="{coordinator.url}"' in env


def test_chain_settings_reach_every_node(fleet):
    rendered = render_fleet(fleet)
    node1 = {f.path: f for f in rendered["aitbc"]}["/etc/aitbc/aitbc-blockchain-node-1.env"].content
    assert 'BLOCK_TIME_SECONDS="2"' in node1 and 'SYNC_INTERVAL_SECONDS="10"' in node1
    assert 'PEERS="[\\"https://aitbc.keisanki.net\\"]"' in node1
    node3 = {f.path: f for f in rendered["ns3-aitbc"]}["/etc/aitbc/aitbc-blockchain-node-3.env"]
    assert 'PEERS="[\\"https://aitbc.bubuit.net\\"]"' in node3.content


def test_list_secrets_are_encoded_as_the_app_reads_them(fleet):
    from aitbc_infra.render import service_env

    host = fleet.hosts["aitbc"]
    app, svc = fleet.find_service("aitbc", "coordinator-api")
    for stored in ("k1,k2", '["k1", "k2"]'):
        env = service_env(fleet, host, app, svc, lambda _n, _name, v=stored: v)
        assert env["ADMIN_API_KEYS"] == '"[\\"k1\\", \\"k2\\"]"'



def test_provided_certificate_mode(project_copy):
    from aitbc_infra.fleet import ModelError
    from aitbc_infra.loader import load_fleet

    all_py = project_copy / "group_data" / "all.py"
    all_py.write_text(all_py.read_text().replace(
        '"certificate": "bubuit.net"}', '"certificate": "bubuit.net", "tls": "provided"}'))
    try:
        load_fleet(project_copy / "inventory.py", root=project_copy)
        raise AssertionError("a provided certificate without files must be refused")
    except ModelError as exc:
        assert "host at1" in str(exc) and "tls_provided" in str(exc) and "bubuit.net" in str(exc)
    inventory = project_copy / "inventory.py"
    inventory.write_text(inventory.read_text().replace(
        '"node": "at1",', '"node": "at1", "tls_provided": {"bubuit.net": {'
        '"fullchain": "/srv/certs/fullchain.pem", "privkey": "/srv/certs/privkey.pem"}},'))
    fleet = load_fleet(inventory, root=project_copy)
    site = _by_path(fleet, "at1")["/etc/nginx/sites-available/aitbc-proxy.conf"].content
    assert "ssl_certificate /etc/ssl/aitbc/bubuit.net/fullchain.pem;" in site
    assert "ssl_certificate_key /etc/ssl/aitbc/bubuit.net/privkey.pem;" in site


def _hardening(unit: str) -> list[str]:
    return unit.split("# Hardening", 1)[1].split("[Install]", 1)[0].strip().splitlines()


def test_a_candidate_runs_as_its_service_but_on_the_release_and_a_scratch_socket(fleet):
    files = _by_path(fleet, "aitbc")
    live = files["/etc/systemd/system/coordinator-api.service"].content
    candidate = files["/etc/systemd/system/coordinator-api-candidate@.service"].content
    # Same user, env, command and hardening as the unit it stands in for.
    for key in ("User=", "EnvironmentFile=", "WorkingDirectory=", "ExecStart="):
        assert re.search(f"^{key}.*$", live, re.M).group(0) in candidate
    assert _hardening(candidate) == _hardening(live)
    # The release under test at the venv's path, its own socket, never restarted, never enabled.
    assert "BindReadOnlyPaths=/opt/coordinator-api/releases/%i:/opt/coordinator-api/.venv\n" in candidate
    assert "Requires=coordinator-api-candidate@%i.socket\n" in candidate
    assert "Restart=no\n" in candidate and "[Install]" not in candidate
    socket = files["/etc/systemd/system/coordinator-api-candidate@.socket"].content
    assert "ListenStream=127.0.0.1:28000\n" in socket and "[Install]" not in socket


def test_nodes_get_no_candidate(fleet):
    # side_by_side: false (a node writes its chain database): nothing may run it twice.
    for node, files in render_fleet(fleet).items():
        for f in files:
            if f.kind == "candidate":
                app = next(a for a, s in fleet.hosts[node].services if s.unit == f.unit)
                assert app.side_by_side and not app.chain, f.path
    assert not any("blockchain" in f.path for f in render_fleet(fleet)["aitbc"] if f.kind == "candidate")
