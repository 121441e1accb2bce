"""`check` on big tables: 5,000 routes or a chain of 5,000 redirects within a budget of work.

The redirect check once walked every chain from every redirect, scanning the whole table at each
hop (1,500 hops took a minute); gixy's cost grew with the square of a server's locations. The
budgets are CPU seconds (this process's, or the check command's with every process it waited
for), not wall-clock time: on a shared machine the clock also counts other work, the CPU time
only this work. The variants are the ones bench/check.py times (in wall-clock time).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT, checks
from aitbc_infra.activation import NGINX
from aitbc_infra.fleet import ModelError
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import RenderedFile, render_fleet
from bench.check import extra_routes, make_variant, redirect_chain

# CPU seconds for the whole `check` of 5,000 routes (about 5 s of it here; the quadratic walks
# it once had cost minutes), and half of it for validating the model alone.
BUDGET = 8.0
HOPS = 5000


def _load(tmp_path: Path, statement: str):
    inventory = make_variant(tmp_path, statement)
    start = time.process_time()
    try:
        return load_fleet(inventory, root=tmp_path), None, time.process_time() - start
    except ModelError as exc:
        return None, exc, time.process_time() - start


def _first_hop(fleet) -> int:
    """The index /r0 gets: the chain is appended to the production site's routes."""
    return len(fleet.hosts["aitbc"].nginx_sites[0].routes)


def test_a_chain_of_5000_redirects_validates_quickly(tmp_path):
    fleet, error, elapsed = _load(tmp_path, redirect_chain(HOPS))
    assert error is None
    assert fleet.hosts["aitbc"].nginx_sites[0].routes[-1].to == "/health"
    assert elapsed < BUDGET / 2, f"validation took {elapsed:.1f} s"


def test_a_loop_at_the_end_of_the_chain_is_reported_once(tmp_path, fleet):
    _, error, elapsed = _load(tmp_path, redirect_chain(HOPS, last=f"/r{HOPS - 2}"))
    assert elapsed < BUDGET / 2, f"validation took {elapsed:.1f} s"
    # On the redirect that closes the loop, not on the 4,998 that lead into it.
    [problem] = error.problems
    assert problem.field == f"nginx_sites[0].routes[{_first_hop(fleet) + HOPS - 1}].to"
    assert problem.message == f"redirect loop: /r{HOPS - 1} → /r{HOPS - 2} → /r{HOPS - 1}"


def test_a_chain_closed_into_one_loop_is_reported_once(tmp_path, fleet):
    _, error, elapsed = _load(tmp_path, redirect_chain(HOPS, last="/r0"))
    assert elapsed < BUDGET / 2, f"validation took {elapsed:.1f} s"
    [problem] = error.problems
    assert problem.field == f"nginx_sites[0].routes[{_first_hop(fleet) + HOPS - 1}].to"
    hops = " → ".join(f"/r{i}" for i in range(HOPS))
    assert problem.message == f"redirect loop: /r{HOPS - 1} → {hops}"


def test_a_chain_to_nowhere_names_every_redirect_on_it(tmp_path, fleet):
    _, error, elapsed = _load(tmp_path, redirect_chain(HOPS, last="/nowhere"))
    assert elapsed < BUDGET / 2, f"validation took {elapsed:.1f} s"
    assert len(error.problems) == HOPS
    first = error.problems[0]
    assert first.field == f"nginx_sites[0].routes[{_first_hop(fleet)}].to"
    assert first.message == "redirect '/r0' → '/nowhere' hits no route"


def test_5000_routes_validate_quickly(tmp_path):
    fleet, error, elapsed = _load(tmp_path, extra_routes(5000))
    assert error is None
    assert len(fleet.hosts["aitbc"].nginx_sites[0].routes) > 5000
    assert elapsed < BUDGET / 2, f"validation took {elapsed:.1f} s"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_check_on_5000_routes_within_budget(tmp_path):
    inventory = make_variant(tmp_path, extra_routes(5000))
    before = _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check", "--inventory",
                           str(inventory)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    spent = _children_cpu() - before  # check, nginx -t, gixy, systemd-analyze: all waited for
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert spent < BUDGET, f"check spent {spent:.1f} CPU seconds (budget {BUDGET})"


def _server(locations: list[str]) -> str:
    return ("server {\n    listen 443 ssl default_server;\n    http2 on;\n"
            "    ssl_reject_handshake on;\n    server_name example.invalid;\n"
            "    add_header X-Content-Type-Options nosniff;\n    proxy_set_header X-Probe 1;\n"
            + "".join(f"    {loc}\n" for loc in locations) + "}\n")


# A location gixy reports, or whose finding depends on another location of the server.
_FLAWED = [
    "location /files {{ alias /var/www/; }}",
    "location ~ /api{i} {{ proxy_pass http://$arg_host; }}",
    "location /h{i}/ {{ add_header X-Frame-Options DENY; }}",
    "location /i{i}/ {{ if ($request_uri ~ x) {{ rewrite ^ /y; }} try_files $uri =404; }}",
    "location /r{i}/ {{ return 302 https://$host$request_uri; allow 10.0.0.0/8; }}",
    "location /s{i}/ {{ stub_status; }}",
    "location /q{i} {{ proxy_set_header Host $host; proxy_pass http://127.0.0.1:8000; }}",
    "location /v{i}/ {{ set $echo $http_origin; }}",
    "location /w{i}/ {{ add_header Access-Control-Allow-Origin $echo; }}",
]


def _findings(configs: list[Path]) -> set[str]:
    gixy = Path(sys.executable).with_name("gixy")
    proc = subprocess.run([str(gixy), "-f", "json", *map(str, configs)], capture_output=True, text=True)
    return {f"{f['plugin']}: {f.get('reason', '')}" for f in json.loads(proc.stdout)}


@pytest.mark.parametrize("answers_421", [True, False])
def test_gixy_slices_find_what_the_whole_file_does(tmp_path, monkeypatch, answers_421):
    monkeypatch.setattr(checks, "_GIXY_SPLIT_FROM", 20)
    monkeypatch.setattr(checks, "_GIXY_SLICE", 15)
    # Each flawed location once, far apart, the one that sets a variable in the last slice.
    locations = [f"location /ok{i}/ {{ try_files $uri $uri/ =404; }}" for i in range(60)]
    for n, flawed in enumerate(_FLAWED):
        locations.insert(n * 7, flawed.format(i=n))
    locations.append(locations.pop(locations.index(_FLAWED[7].format(i=7))))
    if answers_421:
        locations.insert(30, "location / { return 421; }")
    site = RenderedFile(path="/etc/nginx/sites-available/probe", content=_server(locations),
                        kind="nginx", activation=NGINX)
    parsed = [(site, checks.parse_nginx_file(site.content))]
    slices = checks._gixy_slices(parsed)
    assert len(slices) >= 4
    whole = checks._write_config(tmp_path, tmp_path / "whole", [(site, site.content)])
    sliced = [checks._write_config(tmp_path, tmp_path / str(i), checks._built(part))
              for i, part in enumerate(slices)]
    expected = _findings([whole])
    assert any(f.startswith("origins:") for f in expected)
    assert any(f.startswith("http2_misdirected_request:") for f in expected) != answers_421
    assert _findings(sliced) == expected


@pytest.fixture
def own_gixy_server():
    checks._gixy_server.cache_clear()
    yield
    checks._gixy_server.cache_clear()


@pytest.mark.parametrize("server", [
    "import sys; sys.exit('no gixy here')",  # dies before its first audit
    "import sys\nfor line in sys.stdin: print(' '.join('2' * len(line.split('\\t'))), flush=True)",
])
def test_an_audit_that_did_not_run_fails(fleet, monkeypatch, own_gixy_server, server):
    monkeypatch.setattr(checks, "_GIXY_SERVER", server)
    files = render_fleet(fleet)["at1"]
    [result] = [r for r in checks.check_nginx(fleet.hosts["at1"], files) if r.check == "gixy-next audit"]
    assert not result.ok
    assert result.detail
