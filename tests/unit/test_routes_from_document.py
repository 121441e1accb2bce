"""The container's nginx site, parsed back with crossplane, must be the document's route table.

EXPECTED is typed from the infrastructure document's "Nginx Routes (container)" table,
not from our templates or data.
"""

import pytest

from aitbc_infra.checks import parse_nginx_file
from aitbc_infra.render import render_fleet

WEB_ROOT = "/var/www/aitbc.bubuit.net"
MOCK_COORDINATOR = "10.1.223.1:8090"

# location -> (directive that decides the route, its arguments)
EXPECTED = {
    "/": ("try_files", None),
    "/explorer/": ("try_files", "/explorer/index.html"),
    "/marketplace/": ("try_files", "/marketplace/index.html"),
    "/docs/": ("alias", f"{WEB_ROOT}/docs/"),
    "/Exchange": ("proxy_pass", "http://127.0.0.1:3002"),
    "/exchange": ("return", "301 /Exchange"),
    "/api/": ("proxy_pass", "http://127.0.0.1:8000/v1/"),
    "/api/explorer/": ("proxy_pass", "http://127.0.0.1:8000/v1/explorer/"),
    "/api/users/": ("proxy_pass", "http://127.0.0.1:8000/v1/users/"),
    "/api/trades/recent": ("proxy_pass", "http://127.0.0.1:8085"),
    "/api/orders/orderbook": ("proxy_pass", "http://127.0.0.1:8085"),
    "/admin/": ("proxy_pass", "http://127.0.0.1:8000/v1/admin/"),
    "/rpc/": ("proxy_pass", "http://127.0.0.1:8081"),
    "/wallet/": ("proxy_pass", "http://127.0.0.1:8002"),
    "/v1/": ("proxy_pass", f"http://{MOCK_COORDINATOR}"),
    "/health": ("return", "200"),
    "/Marketplace": ("return", "301 /marketplace/"),
    "/BrowserWallet": ("return", "301 /docs/browser-wallet.html"),
}


@pytest.fixture(scope="module")
def container_locations(fleet):
    files = render_fleet(fleet)["aitbc"]
    site = next(f for f in files if f.path == "/etc/nginx/sites-available/aitbc.bubuit.net")
    server = next(d for d in parse_nginx_file(site.content) if d["directive"] == "server")
    root = next(d["args"][0] for d in server["block"] if d["directive"] == "root")
    assert root == WEB_ROOT
    locations = {}
    for d in server["block"]:
        if d["directive"] == "location":
            path = d["args"][-1]
            assert path not in locations, f"duplicate location {path}"
            locations[path] = {x["directive"]: " ".join(x["args"]) for x in d["block"]}
    return locations


def test_exactly_the_documented_locations(container_locations):
    assert sorted(container_locations) == sorted(EXPECTED)
    assert len(container_locations) == 18


@pytest.mark.parametrize("location", sorted(EXPECTED))
def test_route_target(container_locations, location):
    directive, expected = EXPECTED[location]
    block = container_locations[location]
    assert directive in block, f"{location}: no {directive} in {block}"
    if expected is not None:
        if directive == "try_files":
            assert block[directive].split()[-1] == expected
        elif directive == "return":
            assert block[directive].startswith(expected)
        else:
            assert block[directive] == expected
