"""What differs between a planned path and its state (aitbc_infra/drift.py): the one comparison the
deploy acts on and `verify` reports, so both agree on drift, path by path."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pyinfra.api import Config
from pyinfra.api import State as PyinfraState
from pyinfra.context import ctx_state

from aitbc_infra.drift import (
    Difference,
    PathState,
    State,
    directory_drift,
    entry_drift,
    file_drift,
    link_drift,
    tree_drift,
)
from aitbc_infra.plan import Directory, HostPlan, Link, Tree, Upload, host_plan
from aitbc_infra.render import RenderedFile
from deploys import managed
from deploys.state import PathStates, paths_read, read_only_command

DIGEST = hashlib.sha256(b"planned").hexdigest()
OTHER = hashlib.sha256(b"edited by hand").hexdigest()


def test_a_file_as_planned_has_no_difference():
    assert file_drift(PathState("f", "0600", "root", "root", DIGEST), DIGEST, "600", "root", "root") == []


def test_each_difference_of_a_file_is_named_without_content_or_digest():
    edited = PathState("f", "0644", "aitbc", "root", OTHER)
    found = file_drift(edited, DIGEST, "0600", "root", "root")
    assert [str(d) for d in found] == ["content differs", "mode 0644, planned 0600",
                                       "owner aitbc:root, planned root:root"]
    assert not any(DIGEST in repr(d) or OTHER in repr(d) for d in found)


def test_a_missing_path_or_one_of_another_kind_is_only_that():
    assert [str(d) for d in file_drift(None, DIGEST, "0644", "root", "root")] == ["missing"]
    as_dir = PathState("d", "0755", "root", "root", "-")
    assert [str(d) for d in file_drift(as_dir, DIGEST, "0644", "root", "root")] == [
        "a directory, planned a file"]
    as_file = PathState("f", "0750", "app", "app", DIGEST)
    assert [str(d) for d in directory_drift(as_file, "0750", "app", "app")] == [
        "a file, planned a directory"]


def test_a_directory_opened_to_others():
    opened = PathState("d", "0757", "app", "app", "-")
    assert [str(d) for d in directory_drift(opened, "0750", "app", "app")] == ["mode 0757, planned 0750"]


def test_links_compare_their_target_and_nothing_else():
    link = PathState("l", "0777", "root", "root", "/etc/nginx/sites-available/a")
    assert link_drift(link, "/etc/nginx/sites-available/a") == []
    assert [str(d) for d in link_drift(link, "/etc/nginx/sites-available/b")] == [
        "links to /etc/nginx/sites-available/a, planned /etc/nginx/sites-available/b"]
    assert [str(d) for d in link_drift(None, "/x")] == ["missing"]
    # A path that must not exist (Debian's default site).
    assert link_drift(None, None) == []
    assert [str(d) for d in link_drift(link, None)] == ["a symlink, planned absent"]


def test_content_can_be_left_out_for_a_render_without_secrets():
    env = RenderedFile("/etc/aitbc/x.env", "JWT_SECRET=<redacted:JWT_SECRET>\n", "env", None,
                       mode="0600", secret=True)
    on_host = PathState("f", "0644", "root", "root", OTHER)
    assert [d.aspect for d in entry_drift(env, on_host)] == ["content", "mode"]
    assert [d.aspect for d in entry_drift(env, on_host, compare_content=False)] == ["mode"]


def test_an_upload_is_compared_with_the_local_file(tmp_path):
    local = tmp_path / "ca.crt"
    local.write_bytes(b"certificate")
    upload = Upload("/usr/local/share/ca-certificates/ca.crt", str(local), "0644")
    digest = hashlib.sha256(b"certificate").hexdigest()
    assert entry_drift(upload, PathState("f", "0644", "root", "root", digest)) == []
    assert [d.aspect for d in entry_drift(upload, PathState("f", "0644", "root", "root", OTHER))] == [
        "content"]


def test_tree_files_are_root_0644_except_under_subtrees_other_trees_own():
    tree = Tree("/var/www/site", None, keep=("explorer",))
    states = {
        "/var/www/site": PathState("d", "0755", "root", "root", "-"),
        "/var/www/site/index.html": PathState("f", "0644", "root", "root", DIGEST),
        "/var/www/site/app.js": PathState("f", "0666", "www-data", "root", DIGEST),
        "/var/www/site/explorer/index.html": PathState("f", "0666", "root", "root", DIGEST),
        "/var/www/sitemap.xml": PathState("f", "0666", "root", "root", DIGEST),
    }
    assert {p: [str(d) for d in found] for p, found in tree_drift(tree, states).items()} == {
        "/var/www/site/app.js": ["mode 0666, planned 0644", "owner www-data:root, planned root:root"]}


# The deploy and verify agree -------------------------------------------------------------------


def _state(paths: dict[str, PathState]) -> State:
    return State(paths=paths, units={}, users={}, packages=set(), firewall={})


def _as_planned(entry) -> PathState:
    """The state of a path the deploy wrote exactly as planned."""
    if isinstance(entry, Directory):
        return PathState("d", entry.mode.zfill(4), entry.user, entry.group, "-")
    if isinstance(entry, Link):
        return PathState("l", "0777", "root", "root", entry.target)
    if isinstance(entry, RenderedFile):
        digest = hashlib.sha256(entry.content.encode()).hexdigest()
        return PathState("f", entry.mode.zfill(4), entry.owner, entry.group, digest)
    digest = hashlib.sha256(Path(entry.local).read_bytes()).hexdigest()
    return PathState("f", entry.mode.zfill(4), "root", "root", digest)


def _variants(entry, planned: PathState | None):
    """Ways a host can differ from a path's plan, each as the path's state."""
    if isinstance(entry, Link) and entry.target is None:
        yield PathState("l", "0777", "root", "root", "/etc/nginx/sites-available/default")
        return
    yield None  # removed
    if planned.kind == "l":  # a link's own mode and owner mean nothing: only where it points
        yield replace(planned, sha256="/elsewhere")
        yield PathState("f", "0644", "root", "root", OTHER)
        return
    yield replace(planned, mode="0777")
    yield replace(planned, user="nobody")
    yield replace(planned, group="nogroup")
    if planned.kind == "f":
        yield replace(planned, sha256=OTHER)
        yield PathState("d", "0755", "root", "root", "-")
    else:
        yield PathState("l", "0777", "root", "root", "/tmp")


OPERATIONS = {Directory: managed.directory, Link: managed.link, RenderedFile: managed.file,
              Upload: managed.upload}


def _commands(plan: HostPlan, state: State, entry) -> list:
    """The commands the deploy's operation for the entry yields (in a run: `put` reads its
    --diff setting)."""
    run = PyinfraState()
    run.config = Config()
    with ctx_state.use(run):
        return list(OPERATIONS[type(entry)](plan, state, entry))


def _chown(entry) -> list[str] | None:
    """The deploy's fix of mode and owner alone, with the owner each kind is written with."""
    if isinstance(entry, Link):
        return None
    user = {Directory: getattr(entry, "user", ""), RenderedFile: getattr(entry, "owner", "")}.get(
        type(entry), "root")
    mode = managed.exact_dir_mode(entry.mode) if isinstance(entry, Directory) else entry.mode
    return [managed.ownership_command(entry.path, mode, user, getattr(entry, "group", "root"))]


def test_the_deploy_changes_a_path_exactly_when_verify_reports_it(fleet):
    """Every entry of every production host's plan: as planned, neither acts; for each way it
    can differ that the deploy reads, both do, and a difference of mode or owner alone is fixed
    in place (chown/chmod) rather than by writing the path again."""
    checked = 0
    for host in fleet.hosts.values():
        plan = host_plan(fleet, host)
        for entry in (*plan.directories, *plan.files, *plan.uploads, *plan.links):
            planned = None if isinstance(entry, Link) and entry.target is None else _as_planned(entry)
            parent = str(Path(entry.path).parent)
            # The parent is there: a link the package may still create is then not expected.
            around = {parent: PathState("d", "0755", "root", "root", "-")}
            as_planned = _state({**around, **({entry.path: planned} if planned else {})})
            assert _commands(plan, as_planned, entry) == [] and entry_drift(entry, planned) == [], \
                entry.path
            for state in _variants(entry, planned):
                found = entry_drift(entry, state)
                commands = _commands(plan, _state({**around, **({entry.path: state} if state else {})}),
                                     entry)
                assert found and commands, (entry.path, state)
                in_place = {d.aspect for d in found} <= {"mode", "owner"}
                assert in_place == (commands == _chown(entry)), (entry.path, state, commands)
                checked += 1
    assert checked > 300


def test_differences_print_no_secret(fleet):
    host = fleet.hosts["aitbc"]
    plan = host_plan(fleet, host, lambda _node, name: f"SECRET-VALUE-{name}")
    env = next(f for f in plan.files if f.secret)
    found = entry_drift(env, PathState("f", "0644", "root", "root", OTHER))
    text = " ".join(map(str, found)) + repr(found)
    assert "SECRET-VALUE" not in text and hashlib.sha256(env.content.encode()).hexdigest() not in text
    assert Difference("content", "", "") in found


# The read itself: read only --------------------------------------------------------------------


def test_the_read_only_path_read_writes_nothing_on_the_host(tmp_path):
    """verify reads paths outside the deploy lock: with --read-only the script digests what the
    cache lacks from a private directory, removed at the end, and never adds to the cache a
    file the deploy's read would add."""
    target = tmp_path / "file"
    target.write_text("settled")
    time.sleep(3)  # older than two seconds: the deploy's read would cache its digest
    hashes = tmp_path / "cache" / "path-hashes"
    command = PathStates().command(paths=[str(target)], trees=[], globs=[], read_only=True,
                                   cache=str(hashes))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    assert paths_read(result.stdout.splitlines())[str(target)] == PathState(
        "f", "0644", "root", "root", hashlib.sha256(b"settled").hexdigest())
    assert list(scratch.iterdir()) == []  # its private directory is gone
    assert not hashes.parent.exists()  # nor is a cache made


def test_verify_reads_the_plan_paths_the_deploy_reads(fleet):
    for host in fleet.hosts.values():
        plan = host_plan(fleet, host)
        command = read_only_command(plan)
        assert "--read-only" in command
        for path in (*plan.paths, *plan.tree_paths):
            assert path in command


@pytest.mark.parametrize("relative", ["etc/x", "-name"])
def test_the_read_refuses_a_relative_path(relative):
    with pytest.raises(ValueError, match="absolute paths only"):
        PathStates().command(paths=[relative], trees=[], globs=[], read_only=True)
