"""Offline wheelhouse for the app releases: resolved once on the control machine, installed offline.

Targets have no internet. Each release is resolved on its own (two apps may pin different
versions of one library) into the exact list of wheels it installs; the union of every
release's wheels is the wheelhouse, uploaded to each host, and a host installs a release with
``pip install --no-index --no-deps <its wheels>``: nothing is resolved on a host.

Local projects (the apps' `packages` and, transitively, their poetry path dependencies) are
built here as wheels first. A path dependency becomes ``name==version`` in the wheel built from
it (poetry-core writes ``name @ file:///...``, which no other machine could install), and a
local project shadows a same-named distribution of the index: it is always given to pip as the
wheel file built here. Third-party dependencies are binary wheels only, for the host's
interpreter (CPython X.Y, manylinux x86_64), pinned by the release's constraints file.

A release's source trees (apps that run from their sources) travel as one deterministic tar
file in the wheelhouse, ``trees/<release id>.tar``, unpacked on the host into ``<release>/src/``.

``release_id`` (16 hex digits) covers the inputs (source trees and projects, requirements and
requirement files, constraints, interpreter version) and the bytes of every third-party wheel
of the release, so any change that would install something else gives a new release.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import uv
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import VERSION_PATTERN, InvalidVersion, Version

from aitbc_infra.editables import SOURCE_ROOT, Editable, EditableRefused, project_dir, tree_path
from aitbc_infra.model import (
    requirement_file_editables,
    requirement_file_lines,
    requirement_file_problems,
)
from aitbc_infra.source_tree import (
    Skips,
    SourceFile,
    SourceTreeError,
    checked_files,
    open_regular,
    resolve_inside,
    sha256_file,
)

MANIFEST = "wheelhouse.json"
TREES = "trees"
FORMAT = 2
# uv resolves for one platform it names, and knows manylinux tags up to glibc 2.40; a newer
# glibc installs those wheels too.
UV_NEWEST_GLIBC = (2, 40)
SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", "dist", "build",
              ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox"}
_SKIP_FILES = {".env", ".DS_Store"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")
# A requirements file or a pyproject.toml read here is at most this long.
MAX_SOURCE_FILE = 1 << 20


class WheelhouseError(Exception):
    """A release cannot be built: names the app, the project or the requirement."""


# Sources --------------------------------------------------------------------------------

# What a release leaves out of its trees and projects; the walk never judges nor reads it.
RELEASE_SKIPS = Skips(frozenset(SKIPPED_DIRS), frozenset(_SKIP_FILES), _SKIP_SUFFIXES)


def _sha256_file(path: Path) -> str:
    """A file of this project or of a build (a wheel, a constraints file): links are followed."""
    return sha256_file(path, follow=True)


def source_files(tree: Path, root: Path | None = None,
                 skips: Skips = RELEASE_SKIPS) -> list[SourceFile]:
    """The files of a source tree, build/cache/VCS debris (and what `skips` excludes) left
    out, in a stable order; a single file (an app's static file) is its own tree. Nothing
    outside `root` (by default the tree itself) is ever listed: SourceTreeError names what
    would be."""
    return checked_files(root or tree, tree, skips)


def source_hash(tree: Path, root: Path | None = None, skips: Skips = RELEASE_SKIPS) -> str:
    """sha256 of a source tree: relative paths, exec bits and file contents."""
    h = hashlib.sha256()
    for f in source_files(Path(tree), root, skips):
        exe = "x" if f.executable else "-"
        h.update(f"{f.name}\0{exe}\0{sha256_file(f.path)}\n".encode())
    return h.hexdigest()


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_small_file(path: Path, limit: int = MAX_SOURCE_FILE) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (links followed). A FIFO, a device
    or a directory is refused before anything is read (open_regular), a longer file after
    `limit` bytes."""
    try:
        with open_regular(path, follow=True) as fh:
            data = fh.read(limit + 1)
    except SourceTreeError as exc:
        raise WheelhouseError(str(exc)) from None
    if len(data) > limit:
        raise WheelhouseError(f"{path} is larger than {limit} bytes")
    return data


def requirement_file_text(path: Path, root: Path | None = None) -> str:
    """A requirements file's text, checked to be a regular UTF-8 file that lies (symlinks
    resolved) in the source root `root`: pip never sees a file from elsewhere, such as a
    secret of the control machine that its error message would print."""
    if root is not None:
        try:
            resolve_inside(Path(root), Path(path))
        except SourceTreeError as exc:
            raise WheelhouseError(str(exc)) from None
    data = read_small_file(path)
    try:
        return data.decode("utf-8-sig")  # pip drops a byte order mark too
    except UnicodeDecodeError as exc:
        raise WheelhouseError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def _checked_requirement_file(path: Path, root: Path | None) -> str:
    text = requirement_file_text(path, root)
    bad = requirement_file_problems(text)
    if bad:
        raise WheelhouseError("; ".join(f"{path} line {n}: {reason}" for n, reason in bad))
    return text


def requirement_file(path: Path, root: Path | None = None) -> list[str]:
    """The requirements of a requirements file, every line checked by the rule of the data's
    `requirements` (model.requirement_problem); a refused line is named by its number and the
    reason, never by its content. Its editable lines are projects (`editable_lines`), not
    requirements of the index: left out here."""
    return requirement_file_lines(_checked_requirement_file(path, root))


def editable_lines(path: Path, root: Path | None = None) -> list[Editable]:
    """The editable lines of a requirements file, checked as `requirement_file` checks it."""
    return requirement_file_editables(_checked_requirement_file(path, root))


def _pyproject(project: Path) -> dict:
    path = project / "pyproject.toml"
    if not path.is_file():
        raise WheelhouseError(f"{project}: no pyproject.toml (a package must be a Python project)")
    try:
        return tomllib.loads(read_small_file(path).decode())
    except UnicodeDecodeError as exc:
        raise WheelhouseError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise WheelhouseError(f"{path} is not TOML ({exc})") from None


def _table(data: dict, path: Path, *keys: str) -> dict:
    """data[keys[0]][keys[1]]...: {} where a key is missing, an error where a value on the way
    is not a table."""
    for i, key in enumerate(keys):
        data = data.get(key, {})
        if not isinstance(data, dict):
            raise WheelhouseError(f"{path}: [{'.'.join(keys[:i + 1])}] is not a table")
    return data


def project_metadata(project: Path) -> tuple[str, str]:
    """(name, version) from pyproject.toml: PEP 621 [project] or Poetry's [tool.poetry]."""
    data = _pyproject(project)
    path = project / "pyproject.toml"
    meta = _table(data, path, "project") or _table(data, path, "tool", "poetry")
    if not isinstance(meta.get("name"), str) or not isinstance(meta.get("version"), str | int | float):
        raise WheelhouseError(f"{path}: no project name/version")
    return meta["name"], str(meta["version"])


@dataclass(frozen=True)
class VersionRequirement:
    """The versions a requirement allows: any of `alternatives` (poetry's `||`), each a PEP 440
    specifier set ("" allows every version)."""

    alternatives: tuple[str, ...]

    def allows(self, version: str) -> bool:
        return any(SpecifierSet(a).contains(version, prereleases=True) for a in self.alternatives)

    def __str__(self) -> str:
        return " || ".join(a or "*" for a in self.alternatives)


def requires_python(project: Path) -> VersionRequirement | None:
    """The project's Python requirement: PEP 621 `requires-python` or poetry's `python`
    dependency (its ^, ~, wildcards and || translated). An unreadable one is an error naming
    the file and the constraint."""
    data = _pyproject(project)
    path = project / "pyproject.toml"
    if "project" in data:
        spec = _table(data, path, "project").get("requires-python")
        if spec is None:
            return None
        try:
            if not isinstance(spec, str):
                raise InvalidSpecifier
            SpecifierSet(spec)
        except InvalidSpecifier:
            raise WheelhouseError(f"{path}: requires-python = {spec!r} is not a PEP 440 "
                                  "version specifier") from None
        return VersionRequirement((spec,))
    spec = _table(data, path, "tool", "poetry", "dependencies").get("python")
    if spec is None:
        return None
    try:
        if not isinstance(spec, str):
            raise ValueError("not a string")
        return VersionRequirement(poetry_specifiers(spec))
    except ValueError as exc:
        raise WheelhouseError(f"{path}: python = {spec!r} in [tool.poetry.dependencies] is not "
                              f"a poetry version constraint ({exc})") from None


# Poetry's version constraint grammar, as poetry-core's constraints.version.parser reads it.
_OR = re.compile(r"\s*\|\|?\s*")
_AND = re.compile(r"(?<!^)(?<![\^~=>< ,]) *(?<!-)[, ](?!-) *(?!,|$)")
_ANY = re.compile(r"v?[xX*](\.[xX*])*", re.I)
_TILDE = re.compile(rf"~(?!=)\s*(?P<version>{VERSION_PATTERN})", re.X | re.I)
_TILDE_PEP440 = re.compile(rf"~=\s*(?P<version>{VERSION_PATTERN})", re.X | re.I)
_CARET = re.compile(rf"\^\s*(?P<version>{VERSION_PATTERN})", re.X | re.I)
# 3.11.* (and 3.11.x, as older poetry wrote it), ==3.*, !=3.10.*
_WILDCARD = re.compile(r"(?P<op>!=|==)?\s*v?(?P<version>[0-9]+(\.[0-9]+){0,2})(\.[*xX])+")
_BASIC = re.compile(rf"(?P<op><>|!=|>=?|<=?|==?)?\s*(?P<version>{VERSION_PATTERN}|dev)"
                    r"(?P<wildcard>\.\*)?", re.X | re.I)


def poetry_specifiers(spec: str) -> tuple[str, ...]:
    """Poetry's version constraint (^3.11, ~3.11, 3.11.*, >=3.11,<4, ~3.10 || ^3.11) as PEP 440
    specifier sets, one per `||` alternative ("" allows every version); ValueError naming the
    part that is no constraint."""
    if spec.strip() == "*":
        return ("",)
    alternatives = []
    for alternative in _OR.split(spec.strip()):
        parts = _AND.split(alternative.rstrip(",").rstrip())
        specifiers = ",".join(s for part in parts for s in _poetry_single(part))
        try:
            SpecifierSet(specifiers)
        except InvalidSpecifier:
            raise ValueError(f"{alternative!r} is no PEP 440 version range") from None
        alternatives.append(specifiers)
    return tuple(alternatives)


def _release(epoch: int, parts: Sequence[int]) -> str:
    return f"{epoch}!" * bool(epoch) + ".".join(map(str, parts))


def _poetry_single(part: str) -> list[str]:
    """One constraint of poetry's (no `,` or `||`) as PEP 440 specifiers, all to be met."""
    try:
        if _ANY.fullmatch(part):
            return []
        if m := _TILDE.fullmatch(part):  # ~1 <2, ~1.2 and ~1.2.3 <1.3
            v = Version(m["version"])
            nums = v.release
            upper = (nums[0] + 1,) if len(nums) == 1 else (nums[0], nums[1] + 1)
            return [f">={v}", f"<{_release(v.epoch, upper)}"]
        if m := _TILDE_PEP440.fullmatch(part):  # PEP 440's, which wants two numbers
            v = Version(m["version"])
            if len(v.release) > 1:
                return [f"~={v}"]
            return [f">={v}", f"<{_release(v.epoch, (v.release[0] + 1,))}"]
        if m := _CARET.fullmatch(part):  # up to the next change of the first non-zero number
            v = Version(m["version"])
            nums = v.release
            if nums[0] or len(nums) == 1:
                upper: tuple[int, ...] = (nums[0] + 1,)
            elif nums[1] or len(nums) == 2:
                upper = (0, nums[1] + 1)
            else:
                upper = (0, 0, nums[2] + 1)
            return [f">={v}", f"<{_release(v.epoch, upper)}"]
        if m := _WILDCARD.fullmatch(part):
            return [f"{m['op'] or '=='}{m['version']}.*"]
        if m := _BASIC.fullmatch(part):
            if m["op"] == "<>":  # "not equal" elsewhere, "equal" to poetry-core 2
                raise ValueError(f"{part!r}: '<>' is ambiguous, write != or ==")
            op = {"=": "==", None: "=="}.get(m["op"], m["op"])
            version = "0.0.dev0" if m["version"].lower() == "dev" else str(Version(m["version"]))
            # A wildcard counts for == and != only (poetry ignores it after <, >=...).
            wildcard = ".*" if m["wildcard"] and op in ("==", "!=") else ""
            return [f"{op}{version}{wildcard}"]
    except InvalidVersion:
        pass
    raise ValueError(f"{part!r} is no version constraint" if part else "an empty constraint")


def path_dependencies(project: Path) -> list[Path]:
    """Local projects a poetry project depends on by path (resolved, in declaration order)."""
    path = project / "pyproject.toml"
    deps = _table(_pyproject(project), path, "tool", "poetry", "dependencies")
    found = []
    for name, dep in deps.items():
        # A dependency is a constraint, a table, or a list of tables (one per marker).
        for one in dep if isinstance(dep, list) else [dep]:
            if isinstance(one, dict) and "path" in one:
                where = one["path"]
                if not isinstance(where, str) or not where or "\0" in where:
                    raise WheelhouseError(f"{path}: dependency {name!r}: path is not a path")
                # Lexically, not resolve(): a source root may hold symlinks, and the
                # dependency still belongs to the tree it is named in.
                found.append(_absolute(project / where))
    return found


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(Path(path).absolute()))


# Inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReleaseInputs:
    """What one app release installs, every path absolute (see model.App)."""

    app: str
    projects: tuple[Path, ...] = ()
    requirements: tuple[str, ...] = ()
    requirement_files: tuple[Path, ...] = ()
    trees: tuple[tuple[str, Path], ...] = ()  # (path under the release's src/, directory)
    constraints: Path | None = None
    python: str = "3.11.2"  # the host's CPython, X.Y or X.Y.Z (model.Python)
    glibc: tuple[int, int] = (2, 36)  # the host's (model.DEBIAN_RELEASES)
    # The source root no project, requirement file or tree may leave (None: each is its own).
    root: Path | None = None
    # Exclude patterns of the trees (model.App.exclude): what they leave out is neither in the
    # release nor in its id. The patterns are not in the id themselves: one that leaves nothing
    # out changes nothing.
    exclude: tuple[str, ...] = ()
    # Where the tree's files place its checkout (model.HostSpec.editable_root): the editable
    # lines of the requirement files name projects of `root` through it (editables.py).
    editable_root: str | None = None
    # Distributions built here from their sdists (model.Python.build_from_source), canonical.
    from_source: tuple[str, ...] = ()

    @property
    def tree_skips(self) -> Skips:
        """What the walk of a tree leaves out (the projects leave out the debris only)."""
        return RELEASE_SKIPS.excluding(self.exclude)

    def project_skips(self, project: Path) -> Skips:
        """What a project's walk (its hash, and the copy its wheel is built from) leaves out:
        the source root as a project is read as the app's trees are, its `exclude` applied;
        any other project whole, but for the debris."""
        return self.tree_skips if is_source_root(project, self.root) else RELEASE_SKIPS

    @cached_property
    def all_projects(self) -> tuple[Path, ...]:
        """The local projects the release builds: its `projects`, then those the editable
        lines of its requirement files name whose marker holds for the host, each once."""
        found = [_absolute(p) for p in self.projects]
        for path in self.requirement_files:
            for editable in editable_lines(path, self.root):
                if not editable.holds_for(self.python):
                    continue
                try:
                    if self.root is None:
                        raise EditableRefused("an editable line names a project of the source "
                                              "root, and this release has none")
                    project = _absolute(project_dir(
                        self.root, tree_path(editable, self.editable_root)))
                except (EditableRefused, SourceTreeError) as exc:
                    raise WheelhouseError(f"app {self.app}: {path} line {editable.number}: "
                                          f"{exc}") from None
                if project not in found:
                    found.append(project)
        return tuple(found)

    def key(self) -> str:
        """Stable id of the inputs, computed before anything is built."""
        return self._key

    @cached_property
    def _key(self) -> str:  # hashes every source file: once per inputs object
        try:
            info = {
                "format": FORMAT, "python": self.python, "glibc": list(self.glibc),
                "requirements": sorted(self.requirements),
                "projects": sorted(self._project_hashes()),
                "files": [sha256_file(f.path) for r in self.requirement_files
                          for f in checked_files(self.root or r, r, expect="file")],
                "trees": [[rel, source_hash(d, self.root, self.tree_skips)]
                          for rel, d in self.trees],
                "constraints": _sha256_file(self.constraints) if self.constraints else None,
            }
            if self.from_source:  # absent when empty: the ids of every other release stay
                info["from_source"] = sorted(self.from_source)
        except SourceTreeError as exc:
            raise WheelhouseError(f"app {self.app}: a source cannot be read safely:\n{exc}") from None
        return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:24]

    def platforms(self) -> tuple[str, ...]:
        """The host's manylinux x86_64 tags: every one up to its glibc installs there (pip
        matches --platform tags literally, so each is named)."""
        major, minor = self.glibc
        return ("manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64",
                *(f"manylinux_{major}_{m}_x86_64" for m in range(5, minor + 1)))

    def _project_hashes(self) -> list[str]:
        """Each project's hash, then its path dependencies': a project is walked (and so
        judged) before its pyproject.toml is read for the dependencies."""
        hashes, seen = [], set()
        todo = list(self.all_projects)
        while todo:
            project = todo.pop(0)
            if project not in seen:
                seen.add(project)
                hashes.append(source_hash(project, self.root, self.project_skips(project)))
                todo += path_dependencies(project)
        return hashes


def is_source_root(project: Path, root: Path | None) -> bool:
    """Whether `project` is the source root itself (the root project of a monorepo)."""
    return root is not None and _absolute(project) == _absolute(root)


def _with_path_deps(projects: Iterable[Path]) -> list[Path]:
    """The projects and, transitively, their path dependencies, each once: a project is known
    by its resolved path, so a cycle (or a symlink that names a project anew) ends the walk."""
    seen: dict[Path, Path] = {}  # resolved path -> the path it was first named by
    todo = [_absolute(p) for p in projects]
    while todo:
        project = todo.pop(0)
        real = project.resolve()
        if real not in seen:
            seen[real] = project
            todo += path_dependencies(project)
    return list(seen.values())


# Building -------------------------------------------------------------------------------

def _pip(*args: str, env: dict[str, str] | None = None, what: str = "") -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise WheelhouseError(f"{what}: pip failed ({proc.returncode}): {' '.join(cmd)}\n"
                              f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def _target_compatible(wheel_name: str, python: str) -> bool:
    """Installable on CPython `python` (e.g. "3.11") / manylinux x86_64?"""
    *_, pythons, abis, platforms = wheel_name[: -len(".whl")].split("-")
    minor = int(python.split(".")[1])
    cp = f"cp3{minor}"
    tags = pythons.split(".")
    py_ok = any(t in {"py3", f"py3{minor}", cp} for t in tags) or (
        "abi3" in abis.split(".")
        and any(re.fullmatch(r"cp3(\d+)", t) and int(t[3:]) <= minor for t in tags))
    plat_ok = any(p == "any" or (p.endswith("x86_64") and p.startswith(("manylinux", "linux")))
                  for p in platforms.split("."))
    return py_ok and plat_ok


def _fix_path_requirements(wheel: Path, pins: dict[str, str]) -> None:
    """Rewrite `Requires-Dist: name @ file:///...` of local projects to `name==version`."""
    with zipfile.ZipFile(wheel) as zf:
        infos = zf.infolist()
        data = {i.filename: zf.read(i.filename) for i in infos}
    meta_name = next(n for n in data if n.endswith(".dist-info/METADATA"))
    pattern = re.compile(r"^Requires-Dist: ([A-Za-z0-9_.-]+)( ?\[[^]]*\])? @ file:[^\s;]*(.*)$", re.M)

    def pin(m: re.Match) -> str:
        name = canonical_name(m.group(1))
        if name not in pins:
            raise WheelhouseError(f"{wheel.name}: path dependency {m.group(1)} is not a local project")
        return f"Requires-Dist: {m.group(1)}{m.group(2) or ''}=={pins[name]}{m.group(3)}"

    text = data[meta_name].decode()
    fixed = pattern.sub(pin, text)
    if fixed == text:
        return
    data[meta_name] = fixed.encode()
    record_name = next(n for n in data if n.endswith(".dist-info/RECORD"))
    digest = hashlib.sha256(data[meta_name]).digest()
    b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    lines = [f"{meta_name},sha256={b64},{len(data[meta_name])}" if line.startswith(f"{meta_name},")
             else line for line in data[record_name].decode().splitlines()]
    data[record_name] = ("\n".join(lines) + "\n").encode()
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in infos:
            zf.writestr(info, data[info.filename])
    os.replace(tmp, wheel)


def wheel_metadata(wheel: Path) -> str:
    """The METADATA file of a wheel (its name, version and Requires-Dist lines)."""
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()


def _stage(files: Sequence[SourceFile], dest: Path) -> Path:
    """A copy of exactly the files a project's walk lists (links already resolved inside the
    source root): what its wheel is built from, so it holds what its hash covers, no more."""
    for f in files:
        target = dest / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_regular(f.path) as source, open(target, "xb") as out:
            shutil.copyfileobj(source, out)
        target.chmod(0o755 if f.executable else 0o644)
    return dest


def _staged_roots(releases: Iterable[ReleaseInputs]) -> dict[Path, Skips]:
    """Each source root a release builds as a project, with what its walk leaves out (the
    release's `exclude`). A wheel is one file of the wheelhouse by its name: one root built
    from two different sets of files (two apps giving it different excludes) is refused."""
    found: dict[Path, tuple[Skips, str]] = {}
    for release in releases:
        for project in _with_path_deps(release.all_projects):
            if not is_source_root(project, release.root):
                continue
            skips = release.project_skips(project)
            first = found.setdefault(_absolute(project), (skips, release.app))
            if first[0] != skips:
                raise WheelhouseError(
                    f"the source root {project} is a package of apps {first[1]} and "
                    f"{release.app} with different exclude patterns ({list(first[0].exclude.patterns)}"
                    f", {list(skips.exclude.patterns)}): its wheel is built once, give them the same")
    return {project: skips for project, (skips, _) in found.items()}


def _build_local(projects: list[Path], into: Path,
                 staged: dict[Path, Skips] | None = None) -> dict[str, Path]:
    """Build every local project as a wheel: {canonical name: wheel path}. A project of
    `staged` (a source root, and what its walk leaves out) is built from a copy of the files
    its walk lists; every other from its own directory."""
    if not projects:
        return {}
    staged = staged or {}
    benv = into / ".build-env"
    requires = sorted({r for p in projects
                       for r in _pyproject(p).get("build-system", {}).get(
                           "requires", ["setuptools>=61", "wheel"])})
    # One shared build env instead of pip's isolated env per project: several times faster.
    _pip("install", "--quiet", "--target", str(benv), *requires, what="build backends")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(benv), os.environ.get("PYTHONPATH", "")) if p)}
    out = into / "local"
    # `requires-python` is judged for the host's interpreter by `check` (sources.py), not for
    # the one building here: a project for 3.13 builds (as a pure wheel) on this 3.11.
    sources = [_stage(source_files(p, p, staged[_absolute(p)]), into / "staged" / str(i))
               if _absolute(p) in staged else p for i, p in enumerate(projects)]
    _pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "--ignore-requires-python",
         "--wheel-dir", str(out),
         *map(str, sources), env=env, what=f"building {', '.join(p.name for p in projects)}")
    pins = {canonical_name(n): v for n, v in map(project_metadata, projects)}
    wheels: dict[str, Path] = {}
    for wheel in out.glob("*.whl"):
        name = canonical_name(wheel.name.split("-")[0])
        _fix_path_requirements(wheel, pins)
        wheels[name] = wheel
    missing = set(pins) - set(wheels)
    if missing:
        raise WheelhouseError(f"no wheel was built for {sorted(missing)}")
    return wheels


def _local_closure(projects: Sequence[Path], local: dict[str, Path]) -> list[Path]:
    """The local wheels a release needs: its projects, their path deps and any local name
    another of them requires (a local project shadows the index)."""
    names = [canonical_name(project_metadata(p)[0]) for p in _with_path_deps(projects)]
    todo, seen = list(names), []
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        for dep in re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)", wheel_metadata(local[name]),
                              re.M):
            if canonical_name(dep) in local:
                todo.append(canonical_name(dep))
    return [local[n] for n in seen]


def _resolve(inputs: ReleaseInputs, local_wheels: list[Path], into: Path) -> list[Path]:
    """Every wheel the release installs: resolved by uv for the host's interpreter and platform
    (markers and `requires-python` judged as there, not as on this machine), then each pinned
    wheel downloaded by pip for exactly those tags; the local wheels copied beside them."""
    args = [*inputs.requirements, *map(str, local_wheels)]
    # The files' requirements, read and checked here: uv and pip read no file of the data.
    for f in inputs.requirement_files:
        try:
            args += requirement_file(f, inputs.root)
        except WheelhouseError as exc:
            raise WheelhouseError(f"app {inputs.app}: {exc}") from None
    if not args:
        return []
    into.mkdir(parents=True)
    pins = _compile(inputs, args, into)
    from_source = [p for p in pins if canonical_name(_PIN.fullmatch(p)[1]) in inputs.from_source]
    binary = [p for p in pins if p not in from_source]
    # Isolated from this machine's pip config: only the index and these pins count.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    if binary:
        _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
             "--python-version", inputs.python,
             *(arg for platform in inputs.platforms() for arg in ("--platform", platform)),
             "--dest", str(into), *binary, env=env, what=f"app {inputs.app}")
    if from_source:
        _build_from_sdists(inputs.app, inputs.from_source, from_source, into, env)
    for wheel in local_wheels:
        shutil.copyfile(wheel, into / wheel.name)
    wheels = sorted(into.glob("*.whl"))
    bad = [w.name for w in wheels if not _target_compatible(w.name, inputs.python)]
    if bad:
        raise WheelhouseError(f"app {inputs.app}: wheels not installable on CPython "
                              f"{inputs.python} manylinux x86_64: {bad}")
    return wheels


def _build_from_sdists(app: str, names: tuple[str, ...], pins: list[str], into: Path,
                       env: dict[str, str]) -> None:
    """Build `pins`, those of the distributions the data names in `build_from_source`
    (`names`), from their sdists (each in pip's isolated build environment), keeping only
    pure-Python wheels: one built here for this machine's interpreter and platform would not be
    the host's."""
    built = into / ".from-source"
    _pip("wheel", "--quiet", "--no-deps", *(arg for n in names for arg in ("--no-binary", n)),
         "--wheel-dir", str(built), *pins, env=env,
         what=f"app {app}: building {', '.join(pins)} from source (python.build_from_source)")
    for wheel in sorted(built.glob("*.whl")):
        if not wheel.name.endswith("-none-any.whl"):
            raise WheelhouseError(
                f"app {app}: {wheel.name.split('-')[0]} built from its sdist into {wheel.name}, "
                "not a pure-Python wheel: only those are built here, where the interpreter and "
                "platform are not the host's")
        os.replace(wheel, into / wheel.name)
    shutil.rmtree(built)


_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")
_LOCAL_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]* @ file://\S+")


def _compile(inputs: ReleaseInputs, args: list[str], into: Path) -> list[str]:
    """`name==version` for every third-party distribution of the release, as uv resolves it
    for the host: its CPython version and its glibc's manylinux platform, binary wheels only."""
    wanted = into / "requirements.in"
    wanted.write_text("".join(f"{arg}\n" for arg in args))  # each line checked before
    glibc = min(inputs.glibc, UV_NEWEST_GLIBC)
    cmd = [uv.find_uv_bin(), "pip", "compile", str(wanted), "--quiet", "--no-config",
           "--no-header", "--no-annotate", "--only-binary", ":all:",
           *(arg for name in inputs.from_source for arg in ("--no-binary", name)),
           "--python-version", inputs.python,
           "--python-platform", f"x86_64-manylinux_{glibc[0]}_{glibc[1]}",
           *(["--constraint", str(inputs.constraints)] if inputs.constraints else [])]
    # Only the index and these files count: no uv setting of this machine's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k == "UV_CACHE_DIR"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        hint = ("\nA distribution with no wheel at all may be built from its sdist: name it in "
                "the host's python.build_from_source (its build runs its code here)."
                if "has no usable wheels" in proc.stderr else "")
        raise WheelhouseError(f"app {inputs.app}: no set of wheels for CPython {inputs.python} "
                              f"on manylinux_{glibc[0]}_{glibc[1]} x86_64 (uv pip compile):\n"
                              f"{proc.stderr[-4000:]}{hint}")
    local = {arg for arg in args if arg.endswith(".whl")}  # printed as given, or by file URL
    pins = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line in local or _LOCAL_PIN.fullmatch(line):
            continue
        if not _PIN.fullmatch(line):
            raise WheelhouseError(f"app {inputs.app}: uv pip compile printed {line!r}, "
                                  "not a pinned requirement")
        pins.append(line)
    return pins


def _member(tree: str, name: str) -> str:
    """A file's name in the release's sources: under its tree's path ("." the sources' root),
    or the tree's own path for a tree that is one file."""
    if not name:
        return tree
    return name if tree == SOURCE_ROOT else f"{tree}/{name}"


def _write_tree_tar(trees: Sequence[tuple[str, Path]], dest: Path,
                    root: Path | None = None, skips: Skips = RELEASE_SKIPS) -> None:
    """One tar of the release's source trees; same sources, same bytes (no times, no owners).
    Written to disk as it is read, file by file: a large file never sits in memory whole."""
    tmp = dest.with_suffix(".tmp")
    try:
        members = [(rel, _member(rel, f.name), f) for rel, tree in trees
                   for f in source_files(tree, root, skips)]
        # The top directory of another tree (static/, the static files': a "." tree is given
        # beside no other) is that tree's alone: a "." tree's file there would be served from
        # it, or replace one of its files.
        theirs = {rel.split("/")[0] for rel, _ in trees if rel != SOURCE_ROOT}
        clash = [name for rel, name, _ in members if rel == SOURCE_ROOT and name.split("/")[0] in theirs]
        if clash:
            raise WheelhouseError(f"{dest.name}: the tree '.' carries {clash[0]}, where another "
                                  "source of the release puts its files")
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for _, name, f in members:
                with open_regular(f.path) as fh:
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = os.fstat(fh.fileno()).st_size, 0
                    info.mode = 0o755 if f.executable else 0o644
                    tar.addfile(info, fh)
    except SourceTreeError as exc:
        tmp.unlink(missing_ok=True)
        raise WheelhouseError(f"{dest.name}: a source cannot be read safely:\n{exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def build_wheelhouse(releases: Sequence[ReleaseInputs], out_dir: Path,
                     log=lambda _msg: None) -> dict[str, dict]:
    """Resolve every release into `out_dir`; returns {inputs key: manifest entry}.

    A release whose inputs key is in the manifest, with all its files present, is not resolved
    again. Files no release of this build uses are removed: the directory is the wheelhouse,
    uploaded as a whole. Entry: {"app", "release_id", "wheels": [file names], "tree": name|None}.
    """
    out_dir = Path(out_dir)
    (out_dir / TREES).mkdir(parents=True, exist_ok=True)
    by_key = {r.key(): r for r in releases}
    manifest = read_manifest(out_dir)
    old = manifest.get("releases", {}) if manifest.get("format") == FORMAT else {}
    entries: dict[str, dict] = {}

    def complete(entry: dict) -> bool:
        files = [*entry["wheels"], *([entry["tree"]] if entry["tree"] else [])]
        return all((out_dir / f).is_file() for f in files)

    todo = {k: r for k, r in by_key.items() if not (k in old and complete(old[k]))}
    entries.update({k: old[k] for k in by_key if k not in todo})
    if todo:
        with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-") as tmp:
            work = Path(tmp)
            projects = _with_path_deps(p for r in todo.values() for p in r.all_projects)
            log(f"[wheelhouse] building {len(projects)} local project(s), resolving "
                f"{len(todo)} release(s): {', '.join(sorted({r.app for r in todo.values()}))}")
            local = _build_local(projects, work, _staged_roots(todo.values()))

            def one(item: tuple[str, ReleaseInputs]) -> tuple[str, dict]:
                key, inputs = item
                own = _local_closure(inputs.all_projects, local)
                wheels = _resolve(inputs, own, work / "releases" / key)
                third_party = sorted(w for w in wheels if w.name not in {o.name for o in own})
                h = hashlib.sha256(f"aitbc-release-v2\0{key}".encode())
                for wheel in third_party:
                    h.update(f"\0{wheel.name}\0{_sha256_file(wheel)}".encode())
                release_id = h.hexdigest()[:16]
                tree = None
                if inputs.trees:
                    tree = f"{TREES}/{release_id}.tar"
                    _write_tree_tar(inputs.trees, out_dir / tree, inputs.root,
                                    inputs.tree_skips)
                for wheel in wheels:
                    os.replace(wheel, out_dir / wheel.name)
                return key, {"app": inputs.app, "release_id": release_id, "tree": tree,
                             "wheels": sorted(w.name for w in wheels)}

            with ThreadPoolExecutor(max_workers=4) as pool:
                entries.update(pool.map(one, sorted(todo.items())))

    wanted = {f for e in entries.values() for f in [*e["wheels"], e["tree"]] if f}
    for stale in [*out_dir.glob("*.whl"), *(out_dir / TREES).glob("*.tar")]:
        if stale.relative_to(out_dir).as_posix() not in wanted:
            stale.unlink()
    manifest = {"format": FORMAT, "releases": dict(sorted(entries.items()))}
    tmp_manifest = out_dir / f".{MANIFEST}.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_manifest, out_dir / MANIFEST)
    return entries
