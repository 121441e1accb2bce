"""Hostile source trees (issue 24): every source is judged where it resolves, and nothing a
deploy or `diff` would read can leak a file of this machine, hang or blow up.

Each case is planted in a copy of the payload (AITBC_SRC) and must be named by `check` (host,
app or web content, field and path); the readers (release key, release tar, web copy) refuse
it too, in bounded time: a FIFO must never be opened, a link loop never followed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
from unit_helpers import project_repo

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet
from aitbc_infra.source_tree import SourceTreeError, walk
from aitbc_infra.sources import check_sources, release_inputs, web_files
from aitbc_infra.wheelhouse import RELEASE_SKIPS, WheelhouseError, _write_tree_tar


@contextmanager
def within(seconds: int):
    """Fail instead of hanging: a blocked open() of a FIFO is interrupted by the alarm."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds}s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fleet():
    return load_fleet(PROJECT_ROOT / "inventory.py")


def _problems() -> list[str]:
    with within(20):
        return [str(p) for p in check_sources(_fleet())]


def _named(problems: list[str], prefix: str, *parts: str) -> bool:
    return any(p.startswith(prefix) and all(part in p for part in parts) for p in problems)


def _app(node: str, name: str):
    host = _fleet().hosts[node]
    return host, next(a for a in host.apps if a.name == name)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory of this machine outside the source root, holding what must never leak."""
    secrets = tmp_path / "home"
    secrets.mkdir()
    (secrets / ".env").write_text("# the control machine's own settings: never uploaded\n")
    (secrets / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (secrets / "index.html").write_text("<p>not ours</p>\n")
    (secrets / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    return secrets


def _replace_with_link(path: Path, target: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    path.symlink_to(target)


# 1. A source that is itself a link ------------------------------------------------------

@pytest.mark.parametrize(("source", "link_to", "prefix"), [
    ("apps/wallet-daemon", "", "host aitbc: apps[3] (wallet-daemon): apps[3].trees[0]: "),
    ("packages/py/aitbc-crypto", "", "host aitbc: apps[3] (wallet-daemon): apps[3].packages[1] "),
    ("apps/trade-exchange/requirements.txt", ".env",
     "host aitbc: apps[5] (exchange): apps[5].requirement_files[0]: "),
    ("website", "", "host aitbc: web_content[0].source: "),
    ("apps/explorer-web", "", "host aitbc: web_content[1].build: "),
])
def test_a_source_linking_out_of_the_root_is_refused(payload_copy, outside, source, link_to,
                                                    prefix):
    _replace_with_link(payload_copy / source, outside / link_to)
    assert _named(_problems(), prefix, str(payload_copy / source), "outside the source root")


def test_a_static_file_under_a_directory_linking_out_is_refused(payload_copy, outside):
    # The file itself is no link: the directory above it is.
    (outside / "index.html").write_text("<p>not ours</p>\n")
    _replace_with_link(payload_copy / "apps" / "trade-exchange", outside)
    assert _named(_problems(), "host aitbc: apps[4] (trade-exchange): apps[4].static_files[0]: ",
                  str(payload_copy / "apps/trade-exchange/index.html"), "outside the source root")


def test_two_hops_out_are_refused(payload_copy, outside):
    # A link inside the root to a directory inside the root, which holds a link out.
    hop = payload_copy / "shared"
    hop.mkdir()
    (hop / "keys").symlink_to(outside)
    (payload_copy / "apps" / "wallet-daemon" / "shared").symlink_to(hop)
    assert _named(_problems(), "host aitbc: apps[3] (wallet-daemon): apps[3].trees[0]: ",
                  str(payload_copy / "apps/wallet-daemon/shared/keys"), f"links to {outside}")


def test_readers_refuse_what_check_refuses(payload_copy, outside, tmp_path):
    _replace_with_link(payload_copy / "apps" / "wallet-daemon", outside)
    host, app = _app("aitbc", "wallet-daemon")
    inputs = release_inputs(host, app)
    with pytest.raises(WheelhouseError, match="outside the source root"):
        inputs.key()
    with pytest.raises(WheelhouseError, match="outside the source root"):
        _write_tree_tar(inputs.trees, tmp_path / "release.tar", inputs.root)
    assert not (tmp_path / "release.tar").exists() and not (tmp_path / "release.tmp").exists()
    _replace_with_link(payload_copy / "website", outside)
    with pytest.raises(SourceTreeError, match=r"host aitbc: web_content 'website': .*outside"):
        web_files(host, host.web_content[0])


def test_links_inside_the_root_still_travel(payload_copy, tmp_path):
    """A link that stays in the root is read where it resolves, under its own name."""
    tree = payload_copy / "apps" / "wallet-daemon"
    (tree / "shared").symlink_to(payload_copy / "cli")
    (tree / "README.link").symlink_to(tree / "src" / "app" / "main.py")
    assert _problems() == []
    host, app = _app("aitbc", "wallet-daemon")
    inputs = release_inputs(host, app)
    _write_tree_tar(inputs.trees, tmp_path / "release.tar", inputs.root)
    with tarfile.open(tmp_path / "release.tar") as tar:
        names = tar.getnames()
        main = tar.extractfile("apps/wallet-daemon/src/app/main.py").read()
        assert tar.extractfile("apps/wallet-daemon/README.link").read() == main
    assert any(n.startswith("apps/wallet-daemon/shared/") for n in names)
    assert not any("__pycache__" in n for n in names)


# 2. Special files and walks -------------------------------------------------------------

def _special(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()  # the socket file stays
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")


@pytest.mark.parametrize(("kind", "what"), [("fifo", "a FIFO"), ("socket", "a socket"),
                                            ("device", "a character device")])
def test_a_special_file_is_refused_and_never_opened(payload_copy, tmp_path, kind, what):
    tree = payload_copy / "apps" / "wallet-daemon"
    _special(tree / "s", kind)
    assert _named(_problems(), "host aitbc: apps[3] (wallet-daemon): apps[3].trees[0]: ",
                  f"{tree / 's'} is {what}")
    host, app = _app("aitbc", "wallet-daemon")
    inputs = release_inputs(host, app)
    with within(10):
        with pytest.raises(WheelhouseError, match=re.escape(f"{tree / 's'} is {what}")):
            inputs.key()
        with pytest.raises(WheelhouseError, match=re.escape(f"{tree / 's'} is {what}")):
            _write_tree_tar(inputs.trees, tmp_path / "release.tar", inputs.root)


def test_a_fifo_in_the_web_root_source_is_refused(payload_copy):
    os.mkfifo(payload_copy / "website" / "feed")
    assert _named(_problems(), "host aitbc: web_content[0].source: ",
                  f"{payload_copy / 'website' / 'feed'} is a FIFO")


def test_two_links_to_dot_end_at_once(payload_copy):
    tree = payload_copy / "apps" / "wallet-daemon"
    (tree / "a").symlink_to(".")
    (tree / "b").symlink_to(".")
    problems = _problems()
    for name in ("a", "b"):
        assert _named(problems, "host aitbc: apps[3] (wallet-daemon): apps[3].trees[0]: ",
                      f"{tree / name}: link loop")


def test_a_lattice_of_links_is_walked_once_per_directory(tmp_path):
    # Each level links twice to the next: 2**40 paths, 40 directories.
    for level in range(40):
        (tmp_path / f"d{level}").mkdir()
    for level in range(39):
        for name in ("a", "b"):
            (tmp_path / f"d{level}" / name).symlink_to(tmp_path / f"d{level + 1}")
    with within(10):
        _, problems = walk(tmp_path, tmp_path / "d0")
    assert len(problems) == 39 and all("a second time" in p for p in problems)


def test_the_walk_is_bounded(tmp_path):
    deep = tmp_path.joinpath(*["d"] * 10)
    deep.mkdir(parents=True)
    for i in range(20):
        (tmp_path / f"f{i}").write_text("")
    _, problems = walk(tmp_path, tmp_path, max_entries=15)
    assert problems == [f"{tmp_path}: more than 15 entries; not read"]
    _, problems = walk(tmp_path, tmp_path, max_depth=5)
    assert problems == [f"{tmp_path.joinpath(*['d'] * 6)}: more than 5 directories deep; not read"]


def test_package_dirs_are_judged_too(payload_copy):
    package = payload_copy / "packages" / "py" / "aitbc-sdk"
    (package / "loop").symlink_to("loop")
    (package / os.fsdecode(b"caf\xe9.py")).write_text("")
    problems = _problems()
    prefix = "host aitbc: apps[3] (wallet-daemon): apps[3].packages[0] 'packages/py/aitbc-sdk': "
    assert _named(problems, prefix, f"{package / 'loop'}: broken or looping symlink")
    assert _named(problems, prefix, "caf", "file name is not UTF-8")
    # The deploy computes the key after `check`; were it to run anyway, a clean error.
    host, app = _app("aitbc", "wallet-daemon")
    with within(10), pytest.raises(WheelhouseError, match="(?s)app wallet-daemon: .*looping symlink"):
        release_inputs(host, app).key()


def test_check_command_names_every_path_and_exits_2(payload_copy):
    tree = payload_copy / "apps" / "wallet-daemon"
    os.mkfifo(tree / "fifo")
    (tree / "loop").symlink_to("loop")
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{tree / 'fifo'} is a FIFO" in proc.stderr and f"{tree / 'loop'}:" in proc.stderr
    assert "Traceback" not in proc.stderr


# Memory: a large file is streamed ---------------------------------------------------------

_BUILD = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from aitbc_infra.wheelhouse import ReleaseInputs, _write_tree_tar
    root = Path(sys.argv[1])
    inputs = ReleaseInputs(app="big", trees=(("app", root / "app"),), root=root)
    inputs.key()
    _write_tree_tar(inputs.trees, root / "release.tar", inputs.root)
""")


def test_a_large_file_is_hashed_and_tarred_in_little_memory(tmp_path):
    size = 256 << 20
    (tmp_path / "app").mkdir()
    with (tmp_path / "app" / "large.bin").open("wb") as f:
        f.truncate(size)  # sparse: no disk, the same bytes to read
    # The peak RSS of a child of its own (the children's figure is the largest child's).
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", script, sys.executable, "-c", _BUILD,
                           str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")})
    assert done.returncode == 0, done.stderr
    peak_mib = int(done.stdout.split()[-1]) / 1024
    assert peak_mib < 100, f"peak RSS {peak_mib:.0f} MiB"
    assert (tmp_path / "release.tar").stat().st_size > size


# diff: ends in seconds, names the paths -------------------------------------------------

def test_diff_over_a_hostile_tree_exits_2_naming_the_paths(tmp_path):
    repo = project_repo(tmp_path / "repo")
    tree = repo / "payload" / "apps" / "wallet-daemon"
    os.mkfifo(tree / "fifo")
    (tree / "loop").symlink_to("loop")
    planted = [f"{tree / 'fifo'} is a FIFO", f"{tree / 'loop'}: broken or looping symlink"]
    try:
        os.mknod(tree / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        planted.append(f"{tree / 'null'} is a character device")
    except PermissionError:
        pass  # not root: the FIFO and the loop still count
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "diff", "--base", "HEAD"],
                          cwd=repo, env={**os.environ, "PYTHONPATH": str(repo / "src")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot render the working tree" in proc.stderr
    for problem in planted:
        assert f"apps[3] (wallet-daemon): apps[3].trees[0]: {problem}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_release_skips_are_never_judged(tmp_path):
    # What a release leaves out is never read: a FIFO in __pycache__ or a .env link out is
    # not a problem of the tree.
    (tmp_path / "__pycache__").mkdir()
    os.mkfifo(tmp_path / "__pycache__" / "fifo")
    (tmp_path / ".env").symlink_to("/etc/shadow")
    (tmp_path / "main.py").write_text("")
    files, problems = walk(tmp_path, tmp_path, RELEASE_SKIPS)
    assert problems == [] and [f.name for f in files] == ["main.py"]
