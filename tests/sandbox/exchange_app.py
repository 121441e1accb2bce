"""The exchange app on aitbc, as the sandbox tests that change it name it: its API unit, its
database (the data it declares), the route its data probe reads that database through, and its
sources in the payload."""

from __future__ import annotations

from aitbc_infra.host_scripts import quoted
from aitbc_infra.sandbox import ssh_run

NODE = "aitbc"
APP = "exchange"
API = "aitbc-exchange-api"
DATABASE = "/opt/exchange/data/exchange.db"
PROBE = "/api/trades/recent"
TREE = "payload/apps/trade-exchange"


def active_since(unit: str) -> str:
    """When `unit` on NODE last became active, as systemd says it."""
    return ssh_run(NODE, quoted("systemctl", "show", "-p", "ActiveEnterTimestamp", "--value", unit),
                   check=True).stdout.strip()
