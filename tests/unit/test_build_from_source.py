"""Distributions with no wheel on the index: built from their sdists only when the data names
them (`python.build_from_source`), and only into pure-Python wheels. Resolved against the
package index, as every release is."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from aitbc_infra.model import Python
from aitbc_infra.wheelhouse import ReleaseInputs, WheelhouseError, _build_from_sdists, build_wheelhouse

SDIST_ONLY = "varint==1.0.2"  # a pure-Python distribution published as an sdist alone


def _inputs(**fields) -> ReleaseInputs:
    return ReleaseInputs(app="chain", requirements=(SDIST_ONLY,), python="3.13.5",
                         glibc=(2, 41), **fields)


@pytest.mark.parametrize("name", ["varint==1.0.2", "--index-url", "a b", "varint\n", "-e",
                                  "x" * 101, "varint;rm"])
def test_a_name_that_is_no_distribution_name_is_refused(name):
    with pytest.raises(ValidationError, match="build_from_source"):
        Python(build_from_source=[name])


def test_an_sdist_only_pin_not_named_fails_the_build_saying_how_to_allow_it(tmp_path):
    with pytest.raises(WheelhouseError) as caught:
        build_wheelhouse([_inputs()], tmp_path / "wh")
    message = str(caught.value)
    assert "app chain" in message and "varint" in message
    assert "python.build_from_source" in message
    assert not list((tmp_path / "wh").rglob("*.whl"))


def test_a_named_sdist_is_built_into_a_pure_wheel_of_the_release(tmp_path):
    inputs = _inputs(from_source=("varint",))
    entry = build_wheelhouse([inputs], tmp_path / "wh")[inputs.key()]
    assert entry["wheels"] == ["varint-1.0.2-py3-none-any.whl"]
    assert (tmp_path / "wh" / "varint-1.0.2-py3-none-any.whl").is_file()
    assert not (tmp_path / "wh" / ".from-source").exists()


def test_naming_a_distribution_changes_the_release_id_and_naming_none_keeps_it():
    assert _inputs().key() != _inputs(from_source=("varint",)).key()
    assert _inputs().key() == _inputs(from_source=()).key()


def _platform_sdist(where: Path) -> Path:
    """A local sdist whose wheel carries this machine's platform tag (as one with a C extension
    would), though it compiles nothing."""
    project = where / "platformbound-0.1"
    (project / "platformbound").mkdir(parents=True)
    (project / "platformbound" / "__init__.py").write_text("")
    (project / "setup.py").write_text(
        "from setuptools import setup\n"
        "from setuptools.dist import Distribution\n"
        "class Bound(Distribution):\n"
        "    def has_ext_modules(self):\n"
        "        return True\n"
        "setup(name='platformbound', version='0.1', packages=['platformbound'],"
        " distclass=Bound)\n")
    (project / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: platformbound\nVersion: 0.1\n")
    sdist = where / "platformbound-0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(project, arcname=project.name)
    return sdist


def test_a_wheel_built_for_this_machine_is_refused_naming_it(tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    _platform_sdist(links)
    into = tmp_path / "wh"
    into.mkdir()
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(links)}
    with pytest.raises(WheelhouseError, match=r"app chain: platformbound built from its sdist "
                                              r"into platformbound-0\.1-cp3\d+-.*not a pure"):
        _build_from_sdists("chain", ("platformbound",), ["platformbound==0.1"], into, env)
    assert not list(into.glob("*.whl"))

