"""`exclude` patterns of an app's trees and of a web content (excludes.py): what they name is left
out by the one walk, so it is neither checked, nor part of the release id, nor in the release
tar or the web root; the patterns themselves are bounded data.
"""

from __future__ import annotations

import os
import tarfile
import time

import pytest

from aitbc_infra.excludes import MAX_LENGTH, MAX_PATTERNS, Exclude, _compile, _matches, pattern_problem
from aitbc_infra.fleet import ModelError
from aitbc_infra.source_tree import walk
from aitbc_infra.sources import check_sources, release_inputs, web_files
from aitbc_infra.wheelhouse import RELEASE_SKIPS, _write_tree_tar

# Patterns --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.ptau", "pot12_final.ptau", True),
    ("*.ptau", "a/b/zk-circuits/pot12_final.ptau", True),  # no '/': a name at any depth
    ("*.ptau", "a/b.ptau.txt", False),
    ("**/tests/**", "tests", True),  # '**' takes no segment too
    ("**/tests/**", "src/app/tests/test_x.py", True),
    ("**/tests/**", "src/app/tests_x.py", False),
    ("tests/**", "tests/unit/x.py", True),
    ("tests/**", "src/tests/x.py", False),  # with a '/', anchored at the tree
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/x/a.py", False),  # '*' never crosses a '/'
    ("src/**/*.py", "src/a.py", True),
    ("src/**/*.py", "src/x/y/a.py", True),
    ("favicon.svg", "favicon.svg", True),
    ("favicon.svg", "docs/favicon.svg", True),
    ("favicon.sv?", "favicon.svg", True),
    ("Favicon.svg", "favicon.svg", False),  # case counts
    (".env*", ".env.local", True),
])
def test_patterns_match_paths_under_the_tree(pattern, path, matches):
    assert pattern_problem(pattern) is None
    assert (Exclude((pattern,)).matching(path) == pattern) is matches


@pytest.mark.parametrize(("pattern", "why"), [
    ("", "empty"),
    ("/opt/aitbc/website", "absolute"),
    ("../secrets", "'..'"),
    ("a/../b", "'..'"),
    ("./a", "'.'"),
    ("a//b", "empty segment"),
    ("tests/", "empty segment"),
    ("a**", "whole segment"),
    ("***", "whole segment"),
    ("[ab].py", "letters, digits"),
    ("a b", "letters, digits"),
    ("a\\b", "letters, digits"),
    ("a\nb", "letters, digits"),
    ("x" * (MAX_LENGTH + 1), "longer than"),
])
def test_a_pattern_is_relative_plain_and_bounded(pattern, why):
    assert why in (pattern_problem(pattern) or "")


def test_matching_costs_the_product_of_the_lengths_whatever_the_pattern():
    patterns = ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "/".join(["**"] * 40 + ["x"]),
                "**/" + "/".join(["*a*a*a*b"] * 20))
    path = "/".join(["a" * 200] * 60)
    started = time.monotonic()
    assert all(pattern_problem(p) is None for p in patterns)
    assert Exclude(patterns).matching(path) is None
    assert time.monotonic() - started < 2


def test_the_data_refuses_a_bad_pattern_naming_field_and_value(data):
    field, app = data.app("aitbc_container", "wallet-daemon")
    app["exclude"] = ["**/tests/**", "../../etc/passwd"]
    with pytest.raises(ModelError) as info:
        data.load()
    assert any(p.where.startswith("host aitbc") and p.field == f"{field}.exclude[1]"
               and "'../../etc/passwd'" in p.message for p in info.value.problems)
    field, content = data.web_content("aitbc_container", "website")
    app["exclude"] = []
    content["exclude"] = ["*.map"] * (MAX_PATTERNS + 1)
    with pytest.raises(ModelError) as info:
        data.load()
    assert any(p.field == f"{field}.exclude" and str(MAX_PATTERNS) in p.message
               for p in info.value.problems), [str(p) for p in info.value.problems]


# The walk, the release and the web copy -------------------------------------------------------


def test_an_excluded_directory_is_never_entered(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("x = 1\n")
    (tmp_path / "src" / "tests").mkdir()
    os.mkfifo(tmp_path / "src" / "tests" / "fifo")
    (tmp_path / "src" / "tests" / "out").symlink_to("/etc/hostname")
    files, problems = walk(tmp_path, tmp_path, RELEASE_SKIPS.excluding(["**/tests/**"]))
    assert [f.name for f in files] == ["src/main.py"] and problems == []
    files, problems = walk(tmp_path, tmp_path, RELEASE_SKIPS)
    assert len(problems) == 2, problems


def _wallet(data):
    fleet = data.load()
    host = fleet.hosts["aitbc"]
    return host, next(a for a in host.apps if a.name == "wallet-daemon")


def test_excluded_files_change_no_release_id_and_travel_in_no_tar(data, payload_copy, tmp_path):
    tree = payload_copy / "apps" / "wallet-daemon"
    (tree / "tests").mkdir()
    (tree / "tests" / "test_wallet.py").write_text("def test(): pass\n")
    (tree / "pot12_final.ptau").write_bytes(b"\0" * 1024)
    _, app = data.app("aitbc_container", "wallet-daemon")
    app["exclude"] = ["**/tests/**", "*.ptau"]
    host, wallet = _wallet(data)
    before = release_inputs(host, wallet).key()

    (tree / "tests" / "test_wallet.py").write_text("def test(): assert False\n")
    (tree / "tests" / "conftest.py").write_text("\n")
    (tree / "pot12_final.ptau").write_bytes(b"\1" * 2048)
    host, wallet = _wallet(data)
    inputs = release_inputs(host, wallet)
    assert inputs.key() == before
    _write_tree_tar(inputs.trees, tmp_path / "release.tar", inputs.root, inputs.tree_skips)
    with tarfile.open(tmp_path / "release.tar") as tar:
        names = tar.getnames()
    assert "apps/wallet-daemon/src/app/main.py" in names
    assert not [n for n in names if "tests" in n or n.endswith(".ptau")], names

    # A file no pattern names still moves the id; so do the excluded ones, once not excluded.
    (tree / "NEWS").write_text("one more file\n")
    assert release_inputs(*_with_exclude(data, ["**/tests/**", "*.ptau"])).key() != before
    assert release_inputs(*_with_exclude(data, [])).key() != release_inputs(
        *_with_exclude(data, ["**/tests/**", "*.ptau"])).key()


def _with_exclude(data, patterns):
    _, app = data.app("aitbc_container", "wallet-daemon")
    app["exclude"] = patterns
    return _wallet(data)


def test_patterns_that_leave_nothing_out_change_no_release_id(data, payload_copy):
    host, wallet = _wallet(data)
    before = release_inputs(host, wallet).key()
    assert release_inputs(*_with_exclude(data, ["*.ptau"])).key() == before


def test_production_releases_keep_their_ids(fleet):
    """No production app excludes anything: its release ids are what they were."""
    assert not any(a.exclude for h in fleet.hosts.values() for a in h.apps)
    assert not any(c.exclude for h in fleet.hosts.values() for c in h.web_content)


def test_an_excluded_absolute_symlink_no_longer_fails_check(data, payload_copy):
    # Today's AITBC tree: website/favicon.svg -> /opt/aitbc/website/AITBC.svg.
    favicon = payload_copy / "website" / "favicon.svg"
    favicon.unlink()
    favicon.symlink_to("/opt/aitbc/website/AITBC.svg")
    problems = [str(p) for p in check_sources(data.load())]
    assert any("web_content[0].source" in p and "favicon.svg" in p for p in problems), problems

    field, content = data.web_content("aitbc_container", "website")
    content["exclude"] = ["favicon.svg"]
    fleet = data.load()
    assert check_sources(fleet) == []
    host = fleet.hosts["aitbc"]
    names = [f.name for f in web_files(host, host.web_content[0])]
    assert "index.html" in names and "favicon.svg" not in names


def test_an_excluded_link_out_of_a_tree_no_longer_fails_check(data, payload_copy, tmp_path):
    secret = tmp_path / "id_ed25519"
    secret.write_text("not for a release\n")
    (payload_copy / "apps" / "wallet-daemon" / "key").symlink_to(secret)
    assert any("apps[3].trees[0]" in str(p) and "outside the source root" in str(p)
               for p in check_sources(data.load()))
    _, app = data.app("aitbc_container", "wallet-daemon")
    app["exclude"] = ["key"]
    fleet = data.load()
    assert check_sources(fleet) == []
    host = fleet.hosts["aitbc"]
    release_inputs(host, next(a for a in host.apps if a.name == "wallet-daemon")).key()


def test_exclude_is_not_for_packages(data, payload_copy, tmp_path):
    # pip builds a project from all of it: a link out of a package stays refused.
    secret = tmp_path / "id_ed25519"
    secret.write_text("not for a wheel\n")
    (payload_copy / "packages" / "py" / "aitbc-sdk" / "key").symlink_to(secret)
    _, app = data.app("aitbc_container", "wallet-daemon")
    app["exclude"] = ["key"]
    assert any("packages[0]" in str(p) and "outside the source root" in str(p)
               for p in check_sources(data.load()))


def test_a_web_content_with_excludes_stays_hashable(fleet):
    # Its build is cached per run by the content itself (deploys/context.py).
    content = next(c for spec in fleet.hosts.values() for c in spec.web_content)
    changed = content.model_copy(update={"exclude": ("*.map",)})
    assert hash(changed) != hash(content)
    assert type(content.model_validate({**content.model_dump(), "exclude": ["*.map"]}).exclude) is tuple


def test_the_literal_prefix_shortcut_answers_as_the_full_match():
    """The walk's fast path (a path must begin with a pattern's literal segments) never changes
    an answer: every pattern against every path, both ways."""
    patterns = ["apps/wallet/**", "apps/*/tests/**", "apps/wallet", "*.ptau", "a/b/c",
                "apps/**/node_modules", "**/x", "apps/w?llet/**", "docs/**/*.md"]
    paths = ["apps", "apps/wallet", "apps/wallet/src/main.py", "apps/wallets", "apps/x/tests",
             "apps/x/tests/t.py", "a/b/c", "a/b", "a/b/c/d", "z.ptau", "deep/z.ptau",
             "apps/web/node_modules", "x", "q/x", "docs/a/b.md", "docs/b.md", "docs"]
    exclude = Exclude(tuple(patterns))
    for path in paths:
        parts = path.split("/")
        full = next((p for p in patterns if _matches(_compile(p), parts)), None)
        assert exclude.matching(path) == full, path
