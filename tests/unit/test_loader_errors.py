"""An inventory or group_data file that cannot be loaded is a message naming file and line,
exit status 2, never a traceback; a group without its group_data file is named as unknown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aitbc_infra.fleet import ModelError
from aitbc_infra.loader import InventoryError, load_fleet


def _append(path: Path, text: bytes) -> int:
    """Append `text` as new lines; returns the line number of its first line."""
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data += b"\n"
    path.write_bytes(data + text)
    return data.count(b"\n") + 1


def _check(root: Path, inventory: str = "inventory.py") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aitbc_infra", "check", "--inventory",
                           str(root / inventory)], capture_output=True, text=True, cwd=root)


# (case id, file, appended lines, which of them is named, what the message says after FILE:LINE:)
CASES = [
    ("syntax-error", "group_data/aitbc_container.py", b"def (\n", 0, "SyntaxError: invalid syntax"),
    ("indentation-error", "group_data/ns3_host.py", b"if True:\npass\n", 1, "IndentationError"),
    ("name-error", "group_data/aitbc_container.py", b"extra = undefined_name\n", 0,
     "NameError: name 'undefined_name' is not defined"),
    ("zero-division", "group_data/all.py", b"ratio = 1 / 0\n", 0,
     "ZeroDivisionError: division by zero"),
    # The line that failed, not the call that led there.
    ("error-in-a-function", "group_data/ns3_container.py",
     b"def _port():\n    return {}['port']\n\n\nport = _port()\n", 1, "KeyError: 'port'"),
    ("not-utf-8", "group_data/incus_host.py", b"# caf\xe9\n", 0, "not UTF-8"),
    ("nul-byte", "group_data/incus_host.py", b"x = 1\x00\n", 0, "null bytes"),
    ("inventory-raises", "inventory.py", b"raise RuntimeError('no such site')\n", 0,
     "RuntimeError: no such site"),
    ("inventory-syntax", "inventory.py", b"ns3_host = [\n", 0, "SyntaxError: '[' was never closed"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_named_with_its_line(project_copy, case):
    _, file, text, offset, error = case
    line = _append(project_copy / file, text) + offset
    proc = _check(project_copy)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{file}:{line}: " in proc.stderr, proc.stderr
    assert error in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_missing_inventory_file(project_copy):
    proc = _check(project_copy, "no-such-inventory.py")
    assert proc.returncode == 2
    assert "no-such-inventory.py" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_error_in_a_file_the_inventory_runs_is_named_in_process(project_copy):
    line = _append(project_copy / "group_data/aitbc_container.py", b"x = 1 / 0\n")
    with pytest.raises(InventoryError, match=rf"aitbc_container\.py:{line}: ZeroDivisionError"):
        load_fleet(project_copy / "inventory.py", root=project_copy)


@pytest.mark.parametrize("group, node", [("aitbc_container", "aitbc"), ("ns3_host", "ns3-root")])
def test_missing_role_group_data_is_named(project_copy, group, node):
    (project_copy / "group_data" / f"{group}.py").unlink()
    with pytest.raises(ModelError) as info:
        load_fleet(project_copy / "inventory.py", root=project_copy)
    message = str(info.value)
    assert f"unknown group {group!r}: no group_data/{group}.py" in message
    assert f"host {node}" in message


def test_role_group_data_found_beside_the_inventory(project_copy, tmp_path):
    """pyinfra reads group_data/ beside the inventory as well as under the root."""
    root = tmp_path / "root"
    (root / "group_data").mkdir(parents=True)
    load_fleet(project_copy / "inventory.py", root=root)
