"""Each broken fact fails validation with a message naming host, field and value, and the
render command writes nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from aitbc_infra.fleet import ModelError
from aitbc_infra.loader import load_fleet

# (case id, file, text to replace, replacement, fragments the message must contain)
CASES = [
    ("duplicate-port", "group_data/aitbc_container.py", '"port": 8002,', '"port": 8000,',
     ["host aitbc", "port 8000 already used", "apps[3].services[0].port"]),
    ("route-to-unknown-service", "group_data/aitbc_container.py",
     '"service": "aitbc-wallet-daemon"}', '"service": "aitbc-wallet"}',
     ["host aitbc", "nginx_sites[0].routes[13].service", "'aitbc-wallet'"]),
    ("redirect-loop", "group_data/aitbc_container.py",
     '{"location": "/Exchange", "type": "proxy", "service": "aitbc-trade-exchange"}',
     '{"location": "/Exchange", "match": "exact", "type": "redirect", "to": "/exchange"}',
     ["redirect loop", "/exchange → /Exchange → /exchange"]),
    ("redirect-to-nowhere", "group_data/aitbc_container.py", '"to": "/marketplace/"',
     '"to": "/Marketplace-old"', ["host aitbc", "routes[16].to", "hits no route"]),
    ("relative-path", "group_data/aitbc_container.py", '"root": "/opt/exchange"',
     '"root": "opt/exchange"', ["apps[5].root", "path must be absolute", "'opt/exchange'"]),
    ("bad-address", "inventory.py", '"bridge_address": "10.1.223.93"',
     '"bridge_address": "10.1.223.300"', ["host aitbc", "bridge_address", "10.1.223.300"]),
    ("unit-name-with-space", "group_data/aitbc_container.py", '"unit": "aitbc-wallet-daemon"',
     '"unit": "aitbc wallet daemon"', ["apps[3].services[0].unit", "'aitbc wallet daemon'"]),
    ("unknown-group", "inventory.py", "ns3_container = [", "ns3_staging = [",
     ["host ns3-aitbc", "unknown group 'ns3_staging'"]),
    ("duplicate-location", "group_data/aitbc_container.py",
     '{"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc-1"},',
     '{"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc-1"},'
     '{"location": "/rpc/", "type": "proxy", "service": "aitbc-blockchain-rpc-2"},',
     ["nginx_sites[0].routes", "location '/rpc/' declared 2 times"]),
    ("bad-user-name", "group_data/aitbc_container.py", '"user": "aitbc-trade",',
     '"user": "Trade Desk",', ["apps[4].user", "'Trade Desk'"]),
    ("undeclared-user", "group_data/aitbc_container.py", '"user": "aitbc-wallet",',
     '"user": "aitbc-nobody",', ["apps[3].user", "'aitbc-nobody' is not declared"]),
    ("forward-to-nothing", "group_data/ns3_host.py", '{"port": 9080, "node": "ns3-aitbc"}',
     '{"port": 9090, "node": "ns3-aitbc"}', ["host ns3-root", "firewall.forwards[3].port",
                                             "port 9090"]),
    ("cross-host-loopback", "group_data/incus_host.py", '"bind": "bridge",', '"bind": "loopback",',
     ["host aitbc", "routes[14].service", "listens on loopback only"]),
    ("proxy-without-service", "group_data/ns3_host.py",
     '"service": "aitbc-blockchain-rpc-3"},', "},", ["host ns3-root", "a proxy route needs service"]),
    ("port-out-of-range", "group_data/aitbc_container.py", '"port": 3002,', '"port": 70000,',
     ["apps[4].services[0].port", "70000"]),
    ("spa-output-outside-its-build", "group_data/aitbc_container.py",
     '"source": "apps/explorer-web/dist"', '"source": "website"',
     ["host aitbc", "web_content[1]", "must be the output of build 'apps/explorer-web'"]),
    ("candidate-port-taken", "group_data/aitbc_container.py", '"port": 3002,', '"port": 28000,',
     ["host aitbc", "apps[0].services[0].port", "candidate port 28000", "apps[4].services[0].port"]),
    ("candidate-port-too-high", "group_data/aitbc_container.py", '"port": 3002,', '"port": 50000,',
     ["host aitbc", "apps[4].services[0].port", "candidate port 70000", "above 65535"]),
    ("nothing-to-roll-back-to", "group_data/all.py", '"keep_releases": 3', '"keep_releases": 1',
     ["host at1", "rollout.keep_releases", "greater than or equal to 2"]),
]


def _break(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text()
    assert old in text, f"test data out of date: {old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(project_copy, case):
    _, file, old, new, fragments = case
    _break(project_copy, file, old, new)
    with pytest.raises(ModelError) as info:
        load_fleet(project_copy / "inventory.py", root=project_copy)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_all_problems_reported_at_once(project_copy):
    _break(project_copy, *CASES[0][1:4])
    _break(project_copy, *CASES[5][1:4])
    with pytest.raises(ModelError) as info:
        load_fleet(project_copy / "inventory.py", root=project_copy)
    assert len(info.value.problems) >= 2


def test_render_writes_nothing_on_bad_input(project_copy, tmp_path):
    _break(project_copy, *CASES[1][1:4])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "render", "--inventory",
                           str(project_copy / "inventory.py"), "--out", str(out)],
                          capture_output=True, text=True, cwd=project_copy)
    assert proc.returncode == 2
    assert "aitbc-wallet" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
