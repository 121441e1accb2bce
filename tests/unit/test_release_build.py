"""Release venvs are built by uv, uploaded to every host with apps, offline from the wheelhouse.

The build runs here for real, as a host runs it: the uv binary the deploy uploads, the hosts'
interpreter (`python.executable`), a wheel and a source tree in a wheelhouse directory, and the
very commands of `deploys.apps.release_commands`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from aitbc_infra.host_names import RELEASE_MARKER, UV_REMOTE
from aitbc_infra.plan import Upload, host_plan, uv_binary
from deploys.apps import release_commands


def test_every_host_with_apps_gets_the_uv_binary_of_this_environment(fleet):
    local = Path(uv_binary())
    assert os.access(local, os.X_OK)
    assert subprocess.run([local, "--version"], capture_output=True, text=True,
                          check=True).stdout.startswith("uv ")
    for spec in fleet.hosts.values():
        uploads = [u for u in host_plan(fleet, spec).uploads if u.path == UV_REMOTE]
        if spec.apps:
            # Read by no process at a start and set off nothing: written before the releases.
            assert uploads == [Upload(UV_REMOTE, str(local), "0755")], spec.node
        else:
            assert uploads == [], spec.node


def _wheel(directory: Path, name: str, version: str, files: dict[str, str]) -> str:
    """A pure-Python wheel, as a build backend writes it."""
    dist_info = f"{name}-{version}.dist-info"
    contents = {**files,
                f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                      "Tag: py3-none-any\n"}
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(directory / filename, "w") as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return filename


def _tree(directory: Path, release_id: str) -> str:
    name = f"trees/{release_id}.tar"
    (directory / "trees").mkdir()
    with tarfile.open(directory / name, "w") as tar:
        data = b"print('tree')\n"
        info = tarfile.TarInfo("app/server.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name


@pytest.mark.skipif(not Path("/usr/bin/python3").is_file(), reason="no /usr/bin/python3")
def test_a_release_is_built_offline_by_uv_for_the_hosts_interpreter(tmp_path, fleet):
    python = next(iter(fleet.hosts.values())).python.executable
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheel = _wheel(wheelhouse, "demo_lib", "1.0", {"demo_lib/__init__.py": "ANSWER = 42\n"})
    tree = _tree(wheelhouse, "0a1b2c3d4e5f6789")
    root = tmp_path / "opt" / "app"
    commands = release_commands(python=python, releases=f"{root}/releases", venv=f"{root}/.venv",
                                release_id="0a1b2c3d4e5f6789", wheels=[wheel], tree=tree,
                                wheelhouse=str(wheelhouse), uv=uv_binary())
    # As pyinfra runs them: one shell each, no index reachable, no proxy, no uv configuration.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "UV_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}
    for command in commands:
        subprocess.run(["/bin/sh", "-c", command], env=env, check=True, capture_output=True)

    release = root / "releases" / "0a1b2c3d4e5f6789"
    assert (root / ".venv").readlink() == Path("releases/0a1b2c3d4e5f6789")
    assert (release / RELEASE_MARKER).read_text() == "0a1b2c3d4e5f6789\n"
    assert (release / "src" / "app" / "server.py").is_file()
    assert not (release / ".lock").exists()  # uv's lock file, writable by anyone
    assert not (tmp_path / "home" / ".cache").exists()  # nothing cached on the host
    # The venv runs on the hosts' interpreter, its package importable and already compiled
    # (the release is root's: an app could not write its bytecode).
    assert (release / "bin" / "python").resolve() == Path(python).resolve()
    run = subprocess.run([root / ".venv" / "bin" / "python", "-c",
                          "import sys, demo_lib; print(demo_lib.ANSWER, sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["42", str(root / ".venv")]
    assert list((release / "lib").glob("python3.*/site-packages/demo_lib/__pycache__/*.pyc"))
    assert not list(release.rglob("pip"))  # no installer left in the release


def test_a_rebuilt_release_starts_from_nothing(tmp_path, fleet):
    """A killed build left a partial release without its marker: the next build replaces it."""
    python = next(iter(fleet.hosts.values())).python.executable
    root = tmp_path / "opt" / "app"
    partial = root / "releases" / "0a1b"
    partial.mkdir(parents=True)
    (partial / "left-over").write_text("x")
    for command in release_commands(python=python, releases=f"{root}/releases",
                                    venv=f"{root}/.venv", release_id="0a1b", wheels=[], tree=None,
                                    uv=uv_binary()):
        subprocess.run(["/bin/sh", "-c", command], check=True, capture_output=True)
    assert not (partial / "left-over").exists()
    assert (partial / RELEASE_MARKER).read_text() == "0a1b\n"
    assert (partial / "pyvenv.cfg").is_file()
