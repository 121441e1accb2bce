"""Load an inventory file exactly as pyinfra does, offline, and validate it as a Fleet."""

from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.errors import UserError
from aitbc_infra.fleet import Fleet, ModelError, pyinfra_source
from aitbc_infra.history import operator, run_message
from aitbc_infra.render import render_fleet
from aitbc_infra.secrets import SecretsError, SecretStore
from aitbc_infra.sources import check_sources

# The inventories this module is running itself, offline: the validate_inventory() call at the
# end of such a file returns at once. An offline command (check, render) needs no secrets, and
# the load validate_inventory() makes for pyinfra is that validation already (not a recursion).
_loading: set[str] = set()


@dataclass(frozen=True)
class Validated:
    """What the validation of an inventory built for a run: its fleet, from `source`
    (`pyinfra_source`), and the secrets of every site."""

    source: tuple
    fleet: Fleet
    secrets: SecretStore


# Filled by validate_inventory() while pyinfra loads an inventory, by inventory path; read by
# the deploy code of the same run (`validated`), so the fleet and the secrets are built once.
_validated: dict[str, Validated] = {}


class InventoryError(Exception):
    """The inventory or a group_data file cannot be loaded; the message names file and line."""


def _shown(filename: str | Path) -> str:
    """A file as the operator would type it: relative to the working directory when beneath it."""
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _group_data_dirs(path: Path, root: Path) -> list[Path]:
    """The group_data folders pyinfra reads for this inventory, in its order (later ones win)."""
    dirs = [root / "group_data"]
    if path.parent != root:
        dirs.append(path.parent / "group_data")
    return dirs


def _compile(source: Path) -> object:
    """Read and compile one file as pyinfra will, refusing what pyinfra would crash on."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InventoryError(f"{_shown(source)}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InventoryError(f"{_shown(source)}:{line}: not UTF-8: {exc.reason} "
                             f"(byte 0x{data[exc.start]:02x} at column {column})") from None
    try:
        return compile(text, str(source), "exec")
    except (SyntaxError, ValueError) as exc:
        # A NUL byte is reported without a line (ValueError in early 3.11 releases).
        line = getattr(exc, "lineno", None)
        if line is None and "\0" in text:
            line = text.count("\n", 0, text.find("\0")) + 1
        where = f"{_shown(source)}:{line}" if line else _shown(source)
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise InventoryError(f"{where}: {type(exc).__name__}: {message}") from None


def _describe(exc: BaseException, filename: str) -> str:
    """FILE:LINE: ERROR for an exception raised while pyinfra ran `filename`."""
    if isinstance(exc, SyntaxError) and exc.filename:  # from code the file compiles itself
        return f"{_shown(exc.filename)}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
    line = None
    tb = exc.__traceback__
    while tb is not None:  # the innermost frame of the file itself: the line that failed there
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f"{_shown(filename)}:{line}" if line else _shown(filename)
    return f"{where}: {type(exc).__name__}: {exc}"


def load_pyinfra_inventory(inventory: Path | str, root: Path | None = None):
    """pyinfra's own Inventory for the file, built offline (no connection is made).

    `root` holds group_data/ (default: this project, where pyinfra runs from). Any failure to
    read or run the inventory or a group_data file is an InventoryError naming file and line.
    """
    # pyinfra takes ~0.2 s to import: imported here, when an inventory is loaded, so that
    # `aitbc-infra --help` and the commands that never load one do not pay for it.
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.exceptions import UnexpectedExternalError
    from pyinfra_cli.inventory import make_inventory_from_files
    from pyinfra_cli.util import PYTHON_CODES

    path = Path(inventory).resolve()
    if not path.is_file():
        raise InventoryError(f"inventory file not found: {path}")
    root = Path(root or PROJECT_ROOT).resolve()
    # pyinfra caches compiled files by name: drop them so an edited file is read again.
    PYTHON_CODES.clear()
    # pyinfra reads and compiles outside its own error handling: a bad byte or a syntax error
    # would escape as a bare traceback (an undecodable file without its name). Compile here
    # first, and hand pyinfra the result so nothing is compiled twice.
    sources = [path] + [f for d in _group_data_dirs(path, root) if d.is_dir()
                        for f in sorted(d.iterdir()) if f.name.endswith(".py")]
    for source in sources:
        PYTHON_CODES[str(source)] = _compile(source)
    _loading.add(str(path))
    try:
        with ctx_state.use(State()):
            return make_inventory_from_files(str(path), cwd=str(root))
    except UnexpectedExternalError as exc:
        raise InventoryError(_describe(exc.exception, exc.filename)) from None
    except InventoryError:
        raise
    except Exception as exc:  # pyinfra's own errors, raised as they are, and its inventory checks
        raise InventoryError(_describe(exc, str(path))) from None
    finally:
        _loading.discard(str(path))


def inventory_groups(inventory: Path | str) -> dict[str, list]:
    """The host groups an inventory file defines (its top-level lists, as pyinfra reads them),
    the file run offline: its validate_inventory() call returns at once. For an inventory made
    of another's hosts and its own, as the examples are of the production inventory's."""
    path = Path(inventory).resolve()
    nested = str(path) in _loading  # already being loaded: leave it so when done here
    _loading.add(str(path))
    try:
        namespace = runpy.run_path(str(path))
    finally:
        if not nested:
            _loading.discard(str(path))
    return {name: hosts for name, hosts in namespace.items()
            if isinstance(hosts, list) and not name.startswith("_")}


def role_groups(path: Path, root: Path) -> set[str]:
    """The role groups an inventory may use: one group_data file each (all.py is every host's)."""
    return {f.stem for d in _group_data_dirs(path, root) if d.is_dir()
            for f in d.glob("*.py") if f.stem != "all"}


def _fleet(pyinfra_inventory, path: Path, root: Path) -> Fleet:
    return Fleet.from_pyinfra(pyinfra_inventory, file_group=path.stem,
                              known_groups=role_groups(path, root))


def load_fleet(inventory: Path | str, root: Path | None = None) -> Fleet:
    path = Path(inventory).resolve()
    root = Path(root or PROJECT_ROOT).resolve()
    return _fleet(load_pyinfra_inventory(path, root), path, root)


def check_deployable(fleet: Fleet) -> None:
    """What the model alone cannot see, before anything connects: every declared source exists
    and builds for its host, and every rendered file can be written (ModelError otherwise)."""
    problems = check_sources(fleet)
    if problems:
        raise ModelError(problems)
    render_fleet(fleet)  # offline, secrets redacted


def validate_inventory(inventory_file: str) -> None:
    """Called at the end of an inventory file: stop pyinfra before it connects anywhere, and
    keep the fleet and the secrets for the deploy code of this run (`validated`).

    pyinfra has not read group_data/ yet when its inventory file runs: the whole inventory is
    loaded here as pyinfra will load it."""
    path = Path(inventory_file).resolve()
    if str(path) in _loading:
        return
    _validated.pop(str(path), None)
    root = PROJECT_ROOT.resolve()
    try:
        # The run's message and operator go into each host's deploy history: a person's words,
        # refused before anything connects when they would not make one printable line.
        run_message()
        operator()
        pyinfra_inventory = load_pyinfra_inventory(path, root)
        fleet = _fleet(pyinfra_inventory, path, root)
        check_deployable(fleet)
        # A deploy needs every secret of every site, none shared by accident: check them all
        # before the first change.
        secrets = SecretStore.for_fleet(fleet)
    except (ModelError, InventoryError, SecretsError, UserError) as exc:
        print(f"aitbc-infra: {inventory_file}: {exc}", file=sys.stderr)
        # SystemExit passes through pyinfra's wrapper for errors in inventory code.
        raise SystemExit(2) from None
    _validated[str(path)] = Validated(pyinfra_source(pyinfra_inventory), fleet, secrets)


def validated(pyinfra_inventory) -> Validated | None:
    """What validate_inventory() built in this process from the very hosts and data of
    `pyinfra_inventory` (pyinfra's own, loaded for its run), or None: an inventory that does
    not validate itself, or one given other data than was validated (`--data`)."""
    source = pyinfra_source(pyinfra_inventory)
    return next((v for v in _validated.values() if v.source == source), None)
