"""Load an inventory file exactly as pyinfra does, offline, and validate it as a Fleet."""

from __future__ import annotations

import sys
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import Fleet, ModelError

# Set while we load an inventory ourselves, so its own validate_inventory() call does not recurse.
_loading: set[str] = set()


class InventoryError(Exception):
    """The inventory file itself cannot be read (missing, syntax error, ...)."""


def load_pyinfra_inventory(inventory: Path | str, root: Path | None = None):
    """pyinfra's own Inventory for the file, built offline (no connection is made).

    `root` holds group_data/ (default: this project, where pyinfra runs from).
    """
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.exceptions import UnexpectedExternalError
    from pyinfra_cli.inventory import make_inventory_from_files
    from pyinfra_cli.util import PYTHON_CODES

    path = Path(inventory).resolve()
    if not path.is_file():
        raise InventoryError(f"inventory file not found: {path}")
    # pyinfra caches compiled files by name: drop them so an edited file is read again.
    PYTHON_CODES.clear()
    _loading.add(str(path))
    try:
        with ctx_state.use(State()):
            return make_inventory_from_files(str(path), cwd=str(root or PROJECT_ROOT))
    except UnexpectedExternalError as exc:
        raise InventoryError(f"{exc.filename}: {exc.e!r}") from exc
    finally:
        _loading.discard(str(path))


def load_fleet(inventory: Path | str, root: Path | None = None) -> Fleet:
    path = Path(inventory).resolve()
    return Fleet.from_pyinfra(load_pyinfra_inventory(path, root), file_group=path.stem)


def validate_inventory(inventory_file: str) -> None:
    """Called at the end of an inventory file: stop pyinfra before it connects anywhere."""
    from aitbc_infra.secrets import MissingSecrets, SecretStore

    if str(Path(inventory_file).resolve()) in _loading:
        return
    from aitbc_infra.sources import check_sources

    try:
        fleet = load_fleet(inventory_file)
        # Sources that cannot be built would fail mid-deploy: refuse them before connecting.
        problems = check_sources(fleet)
        if problems:
            raise ModelError(problems)
        # A deploy needs every secret of every host: check them all before the first change.
        SecretStore.for_fleet(fleet)
    except (ModelError, InventoryError, MissingSecrets) as exc:
        print(f"aitbc-infra: {inventory_file}: {exc}", file=sys.stderr)
        # SystemExit passes through pyinfra's wrapper for errors in inventory code.
        raise SystemExit(2) from None
