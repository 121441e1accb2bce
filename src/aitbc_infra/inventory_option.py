"""The `--inventory` option the commands share, and loading it with errors the operator can act on."""

from __future__ import annotations

import argparse
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.errors import UserError
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.loader import InventoryError, check_deployable, load_fleet

DEFAULT_INVENTORY = PROJECT_ROOT / "inventory.py"


def add_inventory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", "-i", type=Path, default=DEFAULT_INVENTORY,
                        help="inventory file (default: the production inventory.py)")


def load_or_explain(inventory: Path) -> Fleet:
    try:
        return load_fleet(inventory)
    except (ModelError, InventoryError) as exc:
        raise UserError(f"{inventory}: {exc}") from None


def load_with_sources(inventory: Path) -> Fleet:
    """The validated fleet whose every declared source exists and builds for its host."""
    fleet = load_or_explain(inventory)
    try:
        check_deployable(fleet)
    except ModelError as exc:
        raise UserError(f"{inventory}: {exc}") from None
    return fleet
