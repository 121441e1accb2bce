"""Hostile requirement files and constraints (issue 24, classes 3 and 4).

A requirement line is held to one rule wherever it comes from: the data's `requirements` and
every line of every `requirement_files` file. `check` reads each requirements file (a regular,
small, UTF-8 file inside the source root) and names a refused line by host, field, file and
line number, never by its content. Poetry's version constraints are read as poetry reads them
(`||`, `^`, `~`, wildcards), and a cycle of path dependencies is named, not followed forever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import App, requirement_file_lines, requirement_file_problems
from aitbc_infra.sources import check_sources, release_inputs
from aitbc_infra.wheelhouse import (
    ReleaseInputs,
    VersionRequirement,
    WheelhouseError,
    _resolve,
    _with_path_deps,
    poetry_specifiers,
    requirement_file,
)

PAYLOAD = PROJECT_ROOT / "payload"
SECRET = "do-not-publish-7f3a"

# Lines refused wherever they stand, and the reason each problem gives.
HOSTILE_LINES = {
    "--extra-index-url https://mirror.example/simple": "an option of pip",
    "--index-url=https://mirror.example/simple": "an option of pip",
    "-r other.txt": "an option of pip",
    "-c constraints.txt": "an option of pip",
    "-ex": "an option of pip",
    "pydantic==2.5.0 --hash=sha256:0123": "an option of pip",
    "pkg === --index-url=https://mirror.example/simple": "an option of pip",
    "pkg @ https://files.example/pkg-1.0-py3-none-any.whl": "a URL",
    "pkg @ file:///etc/passwd": "a URL",
    "pkg===../../outside": "arbitrary equality",
    "./local/project": "not a requirement",
    "/abs/pkg-1.0-py3-none-any.whl": "not a requirement",
    "https://files.example/pkg.tar.gz": "not a requirement",
    "pkg.whl": "a file name",
    "pkg-1.0.tar.gz; python_version > '3'": "a file name",
    "pkg==${SECRET_TOKEN}": "'$' is not allowed",
    "pkg\t>=1": "a control character",
}

# Lines a requirements file may hold: comments, blanks, extras, versions and markers.
GOOD_FILE = """\ufeff# Exact old pins, with comments.

uvicorn==0.24.0  # the old server
pydantic[email]>=2.5,<3
   # an indented comment \\
typing-extensions; python_version < "3.12"
zope.interface
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    return path


def _app(**sources) -> App:
    return App.model_validate({
        "name": "exchange", "user": "aitbc-exchange", "root": "/opt/exchange",
        "services": [{"unit": "aitbc-exchange-api", "command": "-m http.server"}], **sources})


def _fleet(fleet: Fleet, root: Path, app: App) -> Fleet:
    """The production host aitbc, its sources at `root` and one app: the one under test (no
    web content, nor the sites whose routes would serve it)."""
    host = fleet.hosts["aitbc"].model_copy(
        update={"app_sources": str(root), "apps": [app], "web_content": [], "nginx_sites": []})
    return Fleet({host.node: host})


def _problems(fleet: Fleet, root: Path, **sources) -> list[str]:
    return [str(p) for p in check_sources(_fleet(fleet, root, _app(**sources)))]


def _check_cli(src: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aitbc_infra", "check"], cwd=PROJECT_ROOT,
                          env={**os.environ, "AITBC_SRC": str(src)}, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def payload_copy(tmp_path: Path, monkeypatch) -> Path:
    copy = tmp_path / "payload"
    shutil.copytree(PAYLOAD, copy, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    monkeypatch.setenv("AITBC_SRC", str(copy))
    return copy


def _exchange_field() -> str:
    """apps[i] of the production exchange, the app with a requirements file."""
    spec = load_fleet(PROJECT_ROOT / "inventory.py").hosts["aitbc"]
    i = next(i for i, a in enumerate(spec.apps) if a.requirement_files)
    return f"apps[{i}] ({spec.apps[i].name}): apps[{i}].requirement_files[0]"


# --- Class 3: one rule for a requirement line ----------------------------------------------

@pytest.mark.parametrize("line", HOSTILE_LINES)
def test_a_line_refused_inline_is_refused_in_a_file(fleet, root, line):
    reason = HOSTILE_LINES[line]
    # Inline: the model refuses it, naming the field.
    with pytest.raises(ValueError, match="requirements") as info:
        _app(requirements=[line])
    assert reason in str(info.value)
    # In a requirements file: check names host, app, field, file and line, not the content.
    (root / "requirements.txt").write_text(f"# pins\nuvicorn==0.24.0\n{line}\n")
    problems = _problems(fleet, root, requirement_files=["requirements.txt"])
    assert len(problems) == 1, problems
    assert problems[0].startswith("host aitbc: apps[0] (exchange): apps[0].requirement_files[0]: ")
    assert f"{root / 'requirements.txt'} line 3: " in problems[0] and reason in problems[0]
    for word in ("mirror.example", "files.example", "passwd", "outside", "SECRET_TOKEN",
                 "other.txt", "0123"):
        assert word not in problems[0]


def test_comments_blanks_extras_and_markers_are_requirements(fleet, root):
    (root / "requirements.txt").write_text(GOOD_FILE)
    assert _problems(fleet, root, requirement_files=["requirements.txt"]) == []
    assert requirement_file(root / "requirements.txt", root) == [
        "uvicorn==0.24.0", "pydantic[email]>=2.5,<3", 'typing-extensions; python_version < "3.12"',
        "zope.interface"]
    # The same lines are valid inline.
    _app(requirements=requirement_file_lines(GOOD_FILE.removeprefix("\ufeff")))


def test_a_line_continuation_is_refused(root):
    # pip would join the next line to this one: what it installs is not what was checked.
    text = "pydantic==2.5.0 \\\n    --extra-index-url https://mirror.example/simple\n"
    assert [n for n, _ in requirement_file_problems(text)] == [1, 2]
    assert "line continuation" in requirement_file_problems(text)[0][1]


def test_a_link_to_a_secret_outside_the_root_is_refused_unread(fleet, root, tmp_path):
    secret = tmp_path / "secrets.env"
    secret.write_text(f"{SECRET}\n")  # a bare token would parse as a requirement name
    (root / "requirements.txt").symlink_to(secret)
    problems = _problems(fleet, root, requirement_files=["requirements.txt"])
    assert len(problems) == 1 and "apps[0].requirement_files[0]" in problems[0]
    assert f"{root / 'requirements.txt'} links to {secret}, outside the source root" in problems[0]
    assert SECRET not in problems[0]
    # A directory link out of the root is the same.
    (root / "etc").symlink_to(tmp_path)
    problems = _problems(fleet, root, requirement_files=["etc/secrets.env"])
    assert "outside the source root" in problems[0] and SECRET not in problems[0]


def test_a_link_inside_the_root_is_followed(fleet, root):
    (root / "pins.txt").write_text("uvicorn==0.24.0\n")
    (root / "requirements.txt").symlink_to("pins.txt")
    assert _problems(fleet, root, requirement_files=["requirements.txt"]) == []


def test_fifo_large_binary_and_missing_files_are_named(fleet, root):
    os.mkfifo(root / "fifo.txt")
    (root / "large.txt").write_text("# padding\n" * 200_000)
    (root / "binary.txt").write_bytes(b"uvicorn==0.24.0\n\xff\xfe\n")
    (root / "loop.txt").symlink_to("loop.txt")
    (root / "dir.txt").mkdir()
    names = ["fifo.txt", "large.txt", "binary.txt", "loop.txt", "dir.txt", "missing.txt"]
    with ThreadPoolExecutor(1) as pool:  # a FIFO must not block the check
        problems = pool.submit(_problems, fleet, root, requirement_files=names).result(timeout=60)
    expected = ["is a FIFO, not a regular file", "is larger than 1048576 bytes", "is not UTF-8 text",
                "looping symlink", "is a directory, not a regular file", "does not exist"]
    assert len(problems) == len(names), problems
    for j, (name, what) in enumerate(zip(names, expected, strict=True)):
        assert f"apps[0].requirement_files[{j}]: {root / name}" in problems[j]
        assert what in problems[j], problems[j]


def test_check_refuses_a_hostile_requirements_file_with_exit_2(payload_copy, tmp_path):
    reqs = payload_copy / "apps" / "trade-exchange" / "requirements.txt"
    reqs.write_text("uvicorn==0.24.0\n--extra-index-url https://tok@mirror.example/simple\n")
    proc = _check_cli(payload_copy)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"host aitbc: {_exchange_field()}: {reqs} line 2: an option of pip" in proc.stderr
    assert "mirror.example" not in proc.stderr and "Traceback" not in proc.stderr
    # A link to a secret: refused before pip (or anything) reads it.
    secret = tmp_path / "secrets.env"
    secret.write_text(f"{SECRET}\n")
    reqs.unlink()
    reqs.symlink_to(secret)
    proc = _check_cli(payload_copy)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{reqs} links to {secret}, outside the source root" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_the_wheelhouse_gives_the_resolver_checked_requirements_not_files(root, tmp_path,
                                                                          monkeypatch):
    resolved, downloaded = [], []

    def compile_(inputs, args, into):
        resolved.append(args)
        return ["uvicorn==0.24.0"]
    monkeypatch.setattr("aitbc_infra.wheelhouse._compile", compile_)
    monkeypatch.setattr("aitbc_infra.wheelhouse._pip", lambda *args, **kw: downloaded.append(args))
    (root / "requirements.txt").write_text(GOOD_FILE)
    inputs = ReleaseInputs(app="exchange", requirement_files=(root / "requirements.txt",),
                           root=root)
    assert _resolve(inputs, [], tmp_path / "into") == []
    assert "-r" not in resolved[0] and "uvicorn==0.24.0" in resolved[0]
    assert 'typing-extensions; python_version < "3.12"' in resolved[0]
    # pip only downloads what the resolver pinned, for the host's tags, resolving nothing.
    assert downloaded[0][-1] == "uvicorn==0.24.0" and "--no-deps" in downloaded[0]
    # A file that check would refuse stops the build before pip runs, its content unsaid.
    secret = tmp_path / "secrets.env"
    secret.write_text(f"{SECRET}\n")
    (root / "leak.txt").symlink_to(secret)
    (root / "bad.txt").write_text("pkg @ https://files.example/pkg.whl\n")
    for name, what in [("leak.txt", "outside the source root"), ("bad.txt", "line 1: ")]:
        leak = ReleaseInputs(app="exchange", requirement_files=(root / name,), root=root)
        with pytest.raises(WheelhouseError) as info:
            _resolve(leak, [], tmp_path / name)
        assert str(info.value).startswith(f"app exchange: {root / name}") and what in str(info.value)
        assert SECRET not in str(info.value) and "files.example" not in str(info.value)
    assert len(resolved) == len(downloaded) == 1


def test_release_inputs_carry_the_source_root(fleet):
    host = fleet.hosts["aitbc"]
    app = next(a for a in host.apps if a.requirement_files)
    inputs = release_inputs(host, app)
    assert inputs.root is not None and all(f.is_relative_to(inputs.root)
                                           for f in inputs.requirement_files)


# --- Class 4: poetry constraints -------------------------------------------------------------

@pytest.mark.parametrize(("poetry", "pep440"), [
    ("~3.10 || ^3.11", (">=3.10,<3.11", ">=3.11,<4")),
    ("~3.10 | ^3.11", (">=3.10,<3.11", ">=3.11,<4")),
    ("^3", (">=3,<4",)), ("^3.11", (">=3.11,<4",)), ("^3.11.2", (">=3.11.2,<4",)),
    ("^0", (">=0,<1",)), ("^0.0", (">=0.0,<0.1",)), ("^0.2.3", (">=0.2.3,<0.3",)),
    ("^0.0.3", (">=0.0.3,<0.0.4",)),
    ("~3", (">=3,<4",)), ("~3.11", (">=3.11,<3.12",)), ("~3.11.2", (">=3.11.2,<3.12",)),
    ("~=3.11", ("~=3.11",)), ("~=3", (">=3,<4",)),
    ("*", ("",)), ("x", ("",)), ("3.*", ("==3.*",)), ("3.11.*", ("==3.11.*",)),
    ("3.x", ("==3.*",)), ("!=3.10.*", ("!=3.10.*",)),
    (">=3.11,<3.13", (">=3.11,<3.13",)), (">=3.11 <3.13", (">=3.11,<3.13",)),
    (">= 3.11, < 3.13", (">=3.11,<3.13",)), ("==3.11.4", ("==3.11.4",)), ("3.11.4", ("==3.11.4",)),
    ("=3.11", ("==3.11",)), (">=2.7, !=3.0.*, <4", (">=2.7,!=3.0.*,<4",)),
    (">=3.8,<4 || ^3.12", (">=3.8,<4", ">=3.12,<4")),
])
def test_poetry_grammar(poetry, pep440):
    assert poetry_specifiers(poetry) == pep440


@pytest.mark.parametrize(("poetry", "allowed", "refused"), [
    ("~3.10 || ^3.11", ["3.10", "3.11", "3.12", "3.13"], ["3.9", "4.0"]),
    ("^3.11 || ~3.9", ["3.9", "3.11", "3.12"], ["3.8", "3.10", "4.0"]),
    (">=3.9 !=3.10.* <4", ["3.9", "3.11", "3.12"], ["3.8", "3.10", "3.10.4", "4.0"]),
    ("*", ["3.9", "4.0"], []),
])
def test_alternatives_allow_what_they_say(poetry, allowed, refused):
    req = VersionRequirement(poetry_specifiers(poetry))
    assert [v for v in allowed if not req.allows(v)] == []
    assert [v for v in refused if req.allows(v)] == []


@pytest.mark.parametrize("poetry", ["", "abc", "^", "~", "^3.11 ||", "|| ^3.11", ">=3.11,,<4",
                                    "<>3.11", ">=3.11+local", "^3.x.1", "3.11 - 3.12"])
def test_invalid_constraints_are_value_errors(poetry):
    with pytest.raises(ValueError):
        poetry_specifiers(poetry)


def _poetry_project(path: Path, name: str, python: str | None = "^3.11", deps: str = "") -> None:
    path.mkdir(parents=True, exist_ok=True)
    python_line = f"python = {python!r}\n" if python is not None else ""
    (path / "pyproject.toml").write_text(
        f'[tool.poetry]\nname = "{name}"\nversion = "0.1.0"\n\n'
        f"[tool.poetry.dependencies]\n{python_line}{deps}")


def test_an_or_constraint_is_checked_against_the_host(fleet, root):
    _poetry_project(root / "apps" / "a", "a", "~3.10 || ^3.11")
    assert _problems(fleet, root, packages=["apps/a"]) == []  # the host builds with 3.11.2
    _poetry_project(root / "apps" / "a", "a", "~3.8 || ^3.12")
    problems = _problems(fleet, root, packages=["apps/a"])
    assert problems == ["host aitbc: apps[0] (exchange): apps[0].packages[0] 'apps/a': a requires "
                        "Python >=3.8,<3.9 || >=3.12,<4; the host builds with 3.11.2 (python.version)"]


@pytest.mark.parametrize("python", ["^3.x.1", "3.11 ||", "<>3.11", 311])
def test_an_unreadable_python_constraint_is_a_problem(fleet, root, python):
    path = root / "apps" / "a"
    path.mkdir(parents=True)
    (path / "pyproject.toml").write_text(
        f'[tool.poetry]\nname = "a"\nversion = "0.1.0"\n[tool.poetry.dependencies]\n'
        f"python = {python!r}\n")
    problems = _problems(fleet, root, packages=["apps/a"])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"host aitbc: apps[0] (exchange): apps[0].packages[0] 'apps/a': "
                                  f"{path / 'pyproject.toml'}: python = {python!r}")
    assert "not a poetry version constraint" in problems[0]


def test_an_unreadable_requires_python_is_a_problem(fleet, root):
    path = root / "apps" / "a"
    path.mkdir(parents=True)
    (path / "pyproject.toml").write_text('[project]\nname = "a"\nversion = "0.1"\n'
                                         'requires-python = "~3.11 || ^3.12"\n')
    problems = _problems(fleet, root, packages=["apps/a"])
    assert len(problems) == 1 and f"{path / 'pyproject.toml'}: requires-python = " in problems[0]
    assert "is not a PEP 440 version specifier" in problems[0]


# --- Class 4: path dependency cycles -----------------------------------------------------------

def test_a_path_dependency_cycle_is_named(fleet, root):
    _poetry_project(root / "apps" / "a", "a", deps='b = { path = "../b" }\n')
    _poetry_project(root / "apps" / "b", "b", deps='a = { path = "../a" }\n')
    problems = _problems(fleet, root, packages=["apps/a"])
    assert problems == ["host aitbc: apps[0] (exchange): apps[0].packages[0] 'apps/a' "
                        "(path dependency): path dependency cycle: apps/a → apps/b → apps/a"]
    # The wheelhouse's walk over path dependencies ends too, each project once.
    assert _with_path_deps([root / "apps" / "a"]) == [root / "apps" / "a", root / "apps" / "b"]
    ReleaseInputs(app="a", projects=(root / "apps" / "a",)).key()


def test_a_project_depending_on_itself_is_a_cycle(fleet, root):
    _poetry_project(root / "a", "a", deps='a = { path = "." }\n')
    assert _problems(fleet, root, packages=["a"]) == [
        "host aitbc: apps[0] (exchange): apps[0].packages[0] 'a': path dependency cycle: a → a"]


def test_a_symlink_that_renames_a_project_ends_the_walk(fleet, root):
    # Each step names the project by a longer path (a/self/a/self/...): the same project.
    _poetry_project(root / "a", "a", deps='a = { path = "self/a" }\n')
    (root / "a" / "self").symlink_to(root)
    problems = _problems(fleet, root, packages=["a"])
    # The walk of the project's tree meets the link first: the project is not read at all.
    assert problems == [f"host aitbc: apps[0] (exchange): apps[0].packages[0] 'a': "
                        f"{root / 'a' / 'self' / 'a'}: link loop: leads back to {root / 'a'}"]
    assert _with_path_deps([root / "a"]) == [root / "a"]


def test_a_shared_dependency_is_no_cycle(fleet, root):
    _poetry_project(root / "a", "a", deps='b = { path = "../b" }\nc = { path = "../c" }\n')
    _poetry_project(root / "b", "b", deps='d = { path = "../d" }\n')
    _poetry_project(root / "c", "c", deps='d = { path = "../d" }\n')
    _poetry_project(root / "d", "d")
    assert _problems(fleet, root, packages=["a"]) == []


@pytest.mark.parametrize(("deps", "what"), [
    ("b = { path = 5 }\n", "dependency 'b': path is not a path"),
    ("b = [{ path = 5 }]\n", "dependency 'b': path is not a path"),
    ('b = { path = "/etc" }\n', "depends on /etc, outside the source root"),
])
def test_a_hostile_path_dependency_is_a_problem(fleet, root, deps, what):
    _poetry_project(root / "a", "a", deps=deps)
    problems = _problems(fleet, root, packages=["a"])
    assert len(problems) == 1 and what in problems[0], problems


def test_a_dependency_linked_out_of_the_root_is_refused(fleet, root, tmp_path):
    _poetry_project(tmp_path / "elsewhere", "elsewhere")
    _poetry_project(root / "a", "a", deps='e = { path = "e" }\n')
    (root / "a" / "e").symlink_to(tmp_path / "elsewhere")
    problems = _problems(fleet, root, packages=["a"])
    assert len(problems) == 1 and "outside the source root" in problems[0], problems


def test_check_names_a_cycle_in_the_payload_with_exit_2(payload_copy):
    crypto = payload_copy / "packages" / "py" / "aitbc-crypto" / "pyproject.toml"
    text = crypto.read_text()
    assert "[tool.poetry.dependencies]" not in text  # a PEP 621 project: add poetry's table
    crypto.write_text(text + '\n[tool.poetry.dependencies]\n'
                      'coordinator = { path = "../../../apps/coordinator-api" }\n')
    proc = _check_cli(payload_copy)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("path dependency cycle: apps/coordinator-api → packages/py/aitbc-crypto → "
            "apps/coordinator-api") in proc.stderr
    assert "host aitbc: apps[" in proc.stderr and "Traceback" not in proc.stderr
