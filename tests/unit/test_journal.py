"""The journal's shell, run for real on local files: what a rejected change puts back, what an
accepted one keeps, and that a second write in one transaction never replaces the kept copy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aitbc_infra.activation import Journal
from aitbc_infra.host_names import PREVIOUS_SUFFIX
from deploys.journal import add_command, commit_command


def _sh(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True)


@pytest.fixture
def pending(tmp_path) -> Path:
    return tmp_path / "pending"


def _write(path: Path, content: str, pending: Path) -> None:
    """What a journaled upload does: journal first, then replace the file."""
    assert _sh(add_command("web", str(path), str(pending))).returncode == 0
    path.write_text(content)


def _commit(validate: str, activate: str, pending: Path) -> subprocess.CompletedProcess:
    journal = Journal("web", ("sh", "-c", validate), ("sh", "-c", activate), effect="reload")
    return _sh(commit_command(journal, str(pending)))


def test_rejected_change_puts_every_file_back(tmp_path, pending):
    kept, created = tmp_path / "site.conf", tmp_path / "new.conf"
    kept.write_text("validated\n")
    _write(kept, "first try\n", pending)
    _write(kept, "second try\n", pending)  # the same transaction: the copy stays the validated one
    _write(created, "brand new\n", pending)
    result = _commit("echo 'unexpected }' >&2; exit 1", "echo activated", pending)
    assert result.returncode == 1
    assert "unexpected }" in result.stderr and "REJECTED by" in result.stderr
    assert "activated" not in result.stdout + result.stderr
    assert kept.read_text() == "validated\n"
    assert not created.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pending", "site.conf"]
    assert list(pending.iterdir()) == []


def test_accepted_change_stays_and_leaves_no_copies(tmp_path, pending):
    conf, link = tmp_path / "site.conf", tmp_path / "enabled"
    conf.write_text("old\n")
    link.symlink_to("old-target")
    _write(conf, "new\n", pending)
    assert _sh(add_command("web", str(link), str(pending))).returncode == 0
    _sh(f"ln -sfn new-target {link}")
    result = _commit("true", f"echo activated > {tmp_path}/activated", pending)
    assert result.returncode == 0, result.stderr
    assert conf.read_text() == "new\n" and link.readlink() == Path("new-target")
    assert (tmp_path / "activated").exists()
    assert not list(tmp_path.glob(f"*{PREVIOUS_SUFFIX}")) and list(pending.iterdir()) == []


def test_failed_activation_puts_the_files_back_too(tmp_path, pending):
    link = tmp_path / "enabled"
    link.symlink_to("old-target")
    assert _sh(add_command("web", str(link), str(pending))).returncode == 0
    _sh(f"ln -sfn new-target {link}")
    result = _commit("true", "exit 3", pending)
    assert result.returncode == 1 and "FAILED" in result.stderr
    assert link.readlink() == Path("old-target")


def test_a_rejection_names_the_validator_as_a_person_reads_it(tmp_path, pending):
    conf = tmp_path / "site.conf"
    _write(conf, "new\n", pending)
    result = _commit("exit 1", "true", pending)
    assert "REJECTED by 'sh -c 'exit 1''" in result.stderr


def test_the_validator_sees_no_copy_in_the_written_directory(tmp_path, pending):
    """nginx reads sites-enabled/* whole: a copy kept there would be loaded as a site (Debian's
    default site came back that way after its link was removed)."""
    enabled = tmp_path / "sites-enabled"
    enabled.mkdir()
    (enabled / "default").symlink_to("stock-default")
    assert _sh(add_command("web", str(enabled / "default"), str(pending))).returncode == 0
    (enabled / "default").unlink()
    result = _commit(f"test -z \"$(ls -A {enabled})\"", "true", pending)
    assert result.returncode == 0, result.stderr
    assert list(enabled.iterdir()) == [] and list(pending.iterdir()) == []


def test_a_rejected_removal_puts_the_link_back_from_the_kept_copy(tmp_path, pending):
    enabled = tmp_path / "sites-enabled"
    enabled.mkdir()
    (enabled / "default").symlink_to("stock-default")
    assert _sh(add_command("web", str(enabled / "default"), str(pending))).returncode == 0
    (enabled / "default").unlink()
    assert _commit("exit 1", "true", pending).returncode == 1
    assert (enabled / "default").readlink() == Path("stock-default")
    assert list(pending.iterdir()) == []
