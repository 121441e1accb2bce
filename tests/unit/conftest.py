import runpy
import shutil
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import inventory_groups, load_fleet


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


@pytest.fixture
def payload_copy(tmp_path: Path, monkeypatch) -> Path:
    """AITBC_SRC at a copy of the payload as git holds it: without what payload/.gitignore
    leaves out (installed node_modules, SPA builds a deploy made here, run state)."""
    copy = tmp_path / "src"
    ignored = [line.strip().rstrip("/") for line in
               (PROJECT_ROOT / "payload" / ".gitignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    shutil.copytree(PROJECT_ROOT / "payload", copy, ignore=shutil.ignore_patterns(*ignored))
    monkeypatch.setenv("AITBC_SRC", str(copy))
    return copy


class Data:
    """inventory.py and group_data/ of a project copy as Python values: a test changes one
    fact in Python (found by its identity, not its position in the source text) and loads
    the copy. Paths such as `apps[3].services[0]` are looked up, so a reordered or reformatted
    data file changes nothing here."""

    def __init__(self, root: Path):
        self.root = root
        self.groups = {path.stem: _values(runpy.run_path(str(path)))
                       for path in sorted((root / "group_data").glob("*.py"))}
        # Its groups: the lists of (host, data) pairs it defines, one per role group.
        groups = inventory_groups(root / "inventory.py")
        self.inventory = {g: groups[g] for g in self.groups if g in groups}

    def host(self, node: str) -> dict:
        """A host's inventory data (its connection facts and addresses)."""
        return next(data for hosts in self.inventory.values() for name, data in hosts
                    if data.get("node", name) == node)

    def app(self, group: str, name: str) -> tuple[str, dict]:
        return next((f"apps[{i}]", app) for i, app in enumerate(self.groups[group]["apps"])
                    if app["name"] == name)

    def service(self, group: str, unit: str) -> tuple[str, dict]:
        return next((f"apps[{i}].services[{j}]", svc)
                    for i, app in enumerate(self.groups[group]["apps"])
                    for j, svc in enumerate(app["services"]) if svc["unit"] == unit)

    def route(self, group: str, location: str) -> tuple[str, dict]:
        return next((f"nginx_sites[{i}].routes[{j}]", route)
                    for i, site in enumerate(self.groups[group]["nginx_sites"])
                    for j, route in enumerate(site["routes"]) if route["location"] == location)

    def site(self, group: str, location: str) -> tuple[str, dict]:
        """The site holding the route at `location`."""
        return next((f"nginx_sites[{i}]", site)
                    for i, site in enumerate(self.groups[group]["nginx_sites"])
                    if any(r["location"] == location for r in site["routes"]))

    def forward(self, group: str, port: int) -> tuple[str, dict]:
        return next((f"firewall.forwards[{i}]", fwd)
                    for i, fwd in enumerate(self.groups[group]["firewall"]["forwards"])
                    if fwd["port"] == port)

    def web_content(self, group: str, source: str) -> tuple[str, dict]:
        return next((f"web_content[{i}]", item)
                    for i, item in enumerate(self.groups[group]["web_content"])
                    if item["source"] == source)

    def write(self) -> Path:
        """Write the copy's files from the values; returns its inventory file."""
        for group, values in self.groups.items():
            _write(self.root / "group_data" / f"{group}.py", values)
        inventory = self.root / "inventory.py"
        _write(inventory, self.inventory)
        return inventory

    def load(self):
        return load_fleet(self.write(), root=self.root)


def _values(namespace: dict) -> dict:
    return {k: v for k, v in namespace.items() if not k.startswith("_")
            and isinstance(v, dict | list | tuple | str | int | float | bool)}


def _write(path: Path, values: dict) -> None:
    path.write_text("# Written by a test from the project's data, one fact changed.\n"
                    + "".join(f"{name} = {value!r}\n" for name, value in values.items()))


@pytest.fixture
def data(project_copy: Path) -> Data:
    return Data(project_copy)
