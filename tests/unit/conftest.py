import shutil
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet


@pytest.fixture(scope="session")
def fleet():
    return load_fleet(PROJECT_ROOT / "inventory.py")


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """inventory.py and group_data/ copied aside, for tests that break them on purpose."""
    shutil.copy(PROJECT_ROOT / "inventory.py", tmp_path / "inventory.py")
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path
