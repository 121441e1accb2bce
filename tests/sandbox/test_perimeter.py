"""The perimeter broken from inside the hosts, one way at a time each, as drift or a mistake
would break it: verify's outside view fails exactly the checks that see it, naming the host,
address and route; a redeploy puts every managed part back and verify is green again.

Each fault is one any operator could make by hand: a forward opened to every address past the
firewall's rules, a container opened to the wan, a route's page gone (404), nginx's catch-all
deleted, the HSTS header removed, a route removed from the running nginx, a service bound to
every address. And a client guessing
admin keys meets the rate limit, whatever X-Forwarded-For it sends.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time

from deploy_helpers import PROXY_IP, SITE, faults_injected

from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import paths

NS3_CONTAINER = "10.231.100.10"
AITBC = "10.231.223.93"
# The exchange's static files: gone, the page's route answers 404 (a directory without its
# index.html would still answer 200 with a listing).
EXCHANGE_STATIC = "/opt/trade-exchange/.venv/src/static"

# (host, command injecting the fault, the checks it must fail). Hosts reached over SSH: the
# faults never cut the deploy's own way in.
FAULTS = [
    ("ns3-root", f"iptables-legacy -t nat -I PREROUTING 1 -i host0 -p tcp --dport 8000 -j DNAT "
     f"--to-destination {NS3_CONTAINER}:8000 && iptables-legacy -I FORWARD 1 -i host0 -p tcp "
     f"-d {NS3_CONTAINER} --dport 8000 -j ACCEPT",
     # The ACCEPT lets the wan reach the container's port directly too.
     {"ns3-root: public address answers exactly the ports open to any address",
      "ns3-aitbc: no port of the container answers from outside"}),
    ("at1", f"iptables-legacy -I FORWARD 1 -i host0 -d {AITBC} -j ACCEPT",
     {"aitbc: no port of the container answers from outside"}),
    ("aitbc", f"mv {EXCHANGE_STATIC} {EXCHANGE_STATIC}.off",
     {"at1: https://aitbc.bubuit.net/Exchange answers 200", "aitbc: aitbc-trade-exchange health /"}),
    ("at1", "rm /etc/nginx/conf.d/aitbc-catch-all.conf && systemctl reload nginx",
     {"at1: an unknown name gets no page (HTTP and HTTPS)", "at1: nginx files as planned"}),
    ("at1", "sed -i '/Strict-Transport-Security/d' /etc/nginx/sites-available/aitbc-proxy.conf "
     "&& systemctl reload nginx",
     {"at1: https://aitbc.bubuit.net sends its security headers", "at1: nginx files as planned"}),
    # A route gone from the running nginx (removed and reloaded).
    ("aitbc", "sed -i '/location \\/rpc\\/ {/,/^    }/d' /etc/nginx/sites-available/aitbc.bubuit.net "
     "&& systemctl reload nginx",
     {"at1: https://aitbc.bubuit.net/rpc/head answers 200", "aitbc: nginx files as planned"}),
    ("aitbc", "sed -i 's/^ListenStream=127.0.0.1:3002$/ListenStream=0.0.0.0:3002/' "
     "/etc/systemd/system/aitbc-trade-exchange.socket && systemctl daemon-reload && "
     "systemctl restart aitbc-trade-exchange.socket aitbc-trade-exchange",
     {"at1: aitbc answers only what it declares beyond loopback",
      "aitbc: aitbc-trade-exchange listens on 127.0.0.1:3002",
      "aitbc: app trade-exchange's units and env files as planned"}),
]
# What a redeploy leaves alone (a release's files are never rewritten in place): by hand.
UNDO = [("aitbc", f"mv {EXCHANGE_STATIC}.off {EXCHANGE_STATIC}")]


def test_a_broken_perimeter_fails_verify_naming_it_then_a_redeploy_heals(deployed_inventory,
                                                                         tmp_path):
    with faults_injected(deployed_inventory, tmp_path, FAULTS, UNDO) as failures:
        expected = set().union(*(checks for _, _, checks in FAULTS))
        assert expected <= set(failures), sorted(expected - set(failures))
        assert "too many: [8000]" in failures["ns3-root: public address answers exactly the ports "
                                              "open to any address"]
        assert "Strict-Transport-Security" in failures[
            "at1: https://aitbc.bubuit.net sends its security headers"]
        assert "3002" in failures["at1: aitbc answers only what it declares beyond loopback"]
        unexpected = set(failures) - expected
        assert not unexpected, {k: failures[k] for k in unexpected}


def _statuses(path: str, count: int, forged_client: bool) -> list[int]:
    """`count` GETs of `path` on one kept-alive connection to the public site, as fast as
    they go; each with another X-Forwarded-For when `forged_client`."""
    context = ssl.create_default_context(cafile=str(paths().pebble_root))
    connection = http.client.HTTPSConnection(PROXY_IP, 443, context=context, timeout=10)
    connection.sock = context.wrap_socket(socket.create_connection((PROXY_IP, 443), timeout=10),
                                          server_hostname=SITE)
    statuses = []
    try:
        for i in range(count):
            headers = {"Host": SITE, "X-Api-Key": "not-a-key"}
            if forged_client:
                headers["X-Forwarded-For"] = f"198.51.100.{i + 1}"
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    return statuses


def test_guessing_admin_keys_is_rate_limited_per_client(deployed_inventory):
    limit = load_fleet(deployed_inventory).hosts["aitbc"].rate_limits["admin"]
    guesses = limit.burst + 20
    for forged in (False, True):  # a forged X-Forwarded-For is not another client
        statuses = _statuses("/admin/stats", guesses, forged)
        # The burst passes (the app refuses the key), then the limit answers; never the app
        # for every guess.
        assert statuses[:limit.burst] == [401] * limit.burst, statuses
        assert statuses.count(429) >= 10, statuses
        assert set(statuses) <= {401, 429}, statuses
        time.sleep(guesses / limit.rate + 1)  # the bucket empties before the next round
