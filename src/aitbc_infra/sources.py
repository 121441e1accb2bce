"""Where each app's sources are, and whether they can be built for their host, before connecting.

Every source path of the data is relative to the host's `app_sources` root: this project's
`payload/` by default, or a checkout of the AITBC repository (`AITBC_SRC`). A path that is
missing, a package without pyproject.toml or one whose `requires-python` the host's interpreter
does not meet is a problem naming host, app, field and path; so is a path that cannot be read
safely (it resolves outside the root, holds a FIFO, a device or a link loop: source_tree.py),
judged by the very walk the release key, the release tar and the web copy read through. Every
line of every requirements file is read and held to the rule of the data's `requirements`
(model.requirement_problem). What the walk lists is then held against what the deploy will run
and serve (used_files.py): each service's script, each alias, redirect and SPA route's file.
The walk leaves out what the data's `exclude` patterns name, as the release and the web copy do.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Literal

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.editables import SOURCE_ROOT, EditableRefused, tree_path
from aitbc_infra.fleet import SOURCE_ENV, Fleet, Problem
from aitbc_infra.host_names import STATIC_DIR
from aitbc_infra.model import (
    DEBIAN_RELEASES,
    App,
    HostSpec,
    WebContent,
    path_in_tree,
    requirement_file_editables,
    requirement_file_problems,
)
from aitbc_infra.source_tree import (
    NOTHING,
    Skips,
    SourceFile,
    SourceTreeError,
    checked_files,
    resolve_inside,
    walk,
)
from aitbc_infra.used_files import Copied, route_problems, script_problems
from aitbc_infra.wheelhouse import (
    RELEASE_SKIPS,
    SKIPPED_DIRS,
    ReleaseInputs,
    WheelhouseError,
    canonical_name,
    is_source_root,
    path_dependencies,
    project_metadata,
    requirement_file_text,
    requires_python,
)

__all__ = ["SOURCE_ENV", "check_sources", "release_inputs", "release_problems", "source_root",
           "web_files"]


def project_file(path: str) -> Path:
    """A file of this project named in the data (e.g. a constraints file)."""
    return PROJECT_ROOT / path


def source_root(host: HostSpec) -> Path:
    root = Path(host.app_sources).expanduser()
    return root if root.is_absolute() else PROJECT_ROOT / root


def constraints_of(host: HostSpec, app: App) -> Path | None:
    name = app.constraints or host.python.constraints
    return project_file(name) if name else None


def release_inputs(host: HostSpec, app: App) -> ReleaseInputs:
    root = source_root(host)
    return ReleaseInputs(
        app=app.name,
        projects=tuple(root / p for p in app.packages),
        requirements=tuple(app.requirements),
        requirement_files=tuple(root / f for f in app.requirement_files),
        trees=(*((t, root / t) for t in app.trees),
               *((f"{STATIC_DIR}/{PurePosixPath(f).name}", root / f) for f in app.static_files)),
        constraints=constraints_of(host, app),
        python=host.python.version,
        glibc=DEBIAN_RELEASES[host.debian].glibc,
        root=root,
        exclude=tuple(app.exclude),
        editable_root=host.editable_root,
        from_source=tuple(sorted({canonical_name(n) for n in host.python.build_from_source})),
    )


def _walk_problems(root: Path, path: Path, field: str, skips: Skips = RELEASE_SKIPS,
                   expect: Literal["dir", "file"] | None = "dir") -> list[str]:
    """Whatever would make reading `path` unsafe or impossible, judged by the walk every reader
    uses (source_tree.py): where it resolves, each entry's type, link loops, file names."""
    return [f"{field}: {problem}" for problem in walk(root, path, skips, expect)[1]]


def _real(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None


def _named(root: Path, real: Path) -> str:
    """A project's path in messages: relative to the source root where it lies in it."""
    base = _real(root) or root
    return real.relative_to(base).as_posix() if real.is_relative_to(base) else str(real)


def _check_project(root: Path, project: Path, python: str | None, field: str,
                   chain: tuple[Path, ...] = (), checked: set[Path] | None = None,
                   root_skips: Skips = RELEASE_SKIPS) -> list[str]:
    """Problems of one package and, through its path dependencies, of those it pulls in.
    `python` None: only what reading the sources needs, not whether the host can run them.

    `chain` holds the resolved projects that led here: a dependency back into it is a cycle,
    named, not followed; `checked` the projects already checked, each checked once. The source
    root as a project is walked with `root_skips` (the app's exclude), as its wheel is built."""
    skips = root_skips if is_source_root(project, root) else RELEASE_SKIPS
    problems = _walk_problems(root, project, field, skips)
    if problems:
        return problems  # not safe to read: its pyproject.toml is not even opened
    if not (project / "pyproject.toml").is_file():
        return [f"{field}: {project} has no pyproject.toml"]
    left_out = skips.left_out("pyproject.toml")
    if left_out:  # the root project is built from what its exclude leaves
        return [f"{field}: {project / 'pyproject.toml'} would not be built from: {left_out}"]
    real = _real(project)
    if real is None:
        return [f"{field}: {project}: looping symlink"]
    if not real.is_relative_to(_real(root) or root):
        return [f"{field}: {project} leads to {real}, outside the source root"]
    checked = set() if checked is None else checked
    checked.add(real)
    chain = (*chain, real)
    try:
        project_metadata(project)
        spec = requires_python(project)
        deps = path_dependencies(project)
    except (WheelhouseError, ValueError) as exc:
        return [f"{field}: {exc}"]
    problems = []
    if python and spec and not spec.allows(python):
        problems.append(f"{field}: {project.name} requires Python {spec}; "
                        f"the host builds with {python} (python.version)")
    for dep in deps:
        dep_real = _real(dep)
        inside = dep_real is not None and dep_real.is_relative_to(_real(root) or root)
        if not dep.is_relative_to(root.absolute()) or not inside:
            problems.append(f"{field}: {project.name} depends on {dep}, outside the source root")
        elif dep_real in chain:
            cycle = [*chain[chain.index(dep_real):], dep_real]
            problems.append(f"{field}: path dependency cycle: "
                            + " → ".join(_named(root, p) for p in cycle))
        elif dep_real not in checked:
            problems += _check_project(root, dep, python, f"{field} (path dependency)",
                                       chain, checked, root_skips)
    return problems


def _release_problems(host: HostSpec, app: App, field: str,
                      build: bool) -> tuple[list[str], dict[str, frozenset[str] | None]]:
    """What the release key and tar read of the app, judged; with `build`, whether the host
    can also build and run it. Also the names each of its trees carries into the release
    (None: a tree the walk could not read at all)."""
    root = source_root(host)
    problems = []
    carried: dict[str, frozenset[str] | None] = {}
    python = host.python.version if build else None
    for i, package in enumerate(app.packages):
        problems += _check_project(root, root / package, python,
                                   f"{field}.packages[{i}] {package!r}", root_skips=tree_skips(app))
    for i, name in enumerate(app.requirement_files):
        where, path = f"{field}.requirement_files[{i}]", root / name
        walked = _walk_problems(root, path, where, expect="file")
        if walked:
            problems += walked
            continue
        # Read whole, as pip would: a refused line is named by its number and the reason, not
        # by its content (a requirements file could be anything).
        try:
            text = requirement_file_text(path, root)
        except WheelhouseError as exc:
            problems.append(f"{where}: {exc}")
            continue
        refused = requirement_file_problems(text)
        problems += [f"{where}: {path} line {number}: {reason}" for number, reason in refused]
        if not refused:
            problems += _editable_problems(host, app, f"{where}: {path}", text, python)
    for i, tree in enumerate(app.trees):
        files, found = walk(root, root / tree, tree_skips(app), "dir")
        problems += [f"{field}.trees[{i}]: {problem}" for problem in found]
        carried[tree] = None if found and not files else frozenset(f.name for f in files)
    for i, name in enumerate(app.static_files):
        path = root / name
        if path.is_symlink():
            problems.append(f"{field}.static_files[{i}]: {path} is a symlink, not a regular file")
        else:
            problems += _walk_problems(root, path, f"{field}.static_files[{i}]", expect="file")
    constraints = constraints_of(host, app)
    if constraints and not constraints.is_file():
        problems.append(f"{field}.constraints: {constraints} is not a file of this project")
    return problems, carried


def _editable_problems(host: HostSpec, app: App, where: str, text: str,
                       python: str | None) -> list[str]:
    """Each editable line of a requirements file (`where`: field and file) that names no
    project of the source root, by its line number: the project is checked as a package is,
    whether the host can build it too where the line's marker holds for it."""
    root = source_root(host)
    problems = []
    for editable in requirement_file_editables(text):
        at = f"{where} line {editable.number}"
        try:
            path = tree_path(editable, host.editable_root)
        except EditableRefused as exc:
            problems.append(f"{at}: {exc}")
            continue
        build = python if python and editable.holds_for(python) else None
        problems += _check_project(root, root / path, build, f"{at}: editable {path!r}",
                                   root_skips=tree_skips(app))
    return problems


def _import_root_problems(root: Path, app: App, field: str,
                          carried: dict[str, frozenset[str] | None]) -> list[str]:
    """Each import root that is no directory the release carries: missing, out of the source
    root (source_tree's rule), not a directory, or holding no file of the release (all of it
    left out, say by which pattern)."""
    problems = []
    skips = tree_skips(app)
    for k, path in enumerate(app.import_roots):
        where = f"{field}.import_roots[{k}] {path!r}"
        named = root / path
        try:
            resolve_inside(root, named)
        except SourceTreeError as exc:
            problems += [f"{where}: {problem}" for problem in exc.problems]
            continue
        if not named.is_dir():
            problems.append(f"{where}: {named} is not a directory")
            continue
        tree, under = next((t, n) for t in app.trees if (n := path_in_tree(t, path)) is not None)
        names = carried.get(tree)
        if names is None or any(n.startswith(f"{under}/") or not under for n in names):
            continue  # carried, or in a tree whose own problem is named
        why = skips.left_out(under, directory=True) if under else None
        problems.append(f"{where}: {named} is not in the release: "
                        + (f"under the tree {tree!r}, {why}" if why else
                           f"the tree {tree!r} carries no file under it"))
    return problems


def _static_problems(app: App, field: str,
                     carried: dict[str, frozenset[str] | None]) -> list[str]:
    """A "." tree carrying a `static/` of its own beside the app's `static_files`: both
    would be the release's src/static."""
    names = carried.get(SOURCE_ROOT) or frozenset()
    clash = sorted(n for n in names if n.startswith(f"{STATIC_DIR}/"))
    if not (app.static_files and clash):
        return []
    return [f"{field}.trees: the tree '.' carries {STATIC_DIR}/ ({clash[0]}, ...), where the "
            f"release puts its static_files: leave it out (exclude {STATIC_DIR!r})"]


def _app_problems(host: HostSpec, app: App, field: str) -> list[str]:
    root = source_root(host)
    problems, carried = _release_problems(host, app, field, build=True)
    for j, svc in enumerate(app.services):
        if svc.workdir and svc.workdir not in app.data_dirs and not (root / svc.workdir).is_dir():
            problems.append(f"{field}.services[{j}].workdir: {root / svc.workdir} is not a directory")
    return (problems + _import_root_problems(root, app, field, carried)
            + _static_problems(app, field, carried)
            + script_problems(root, app, field, carried, tree_skips(app)))


def _root_problem(host: HostSpec) -> Problem | None:
    root = source_root(host)
    if root.is_dir():
        return None
    return Problem(f"host {host.node}", "app_sources", f"{root} is not a directory "
                   f"(set it in the data or with {SOURCE_ENV}=DIR)")


def release_problems(fleet: Fleet) -> list[Problem]:
    """What stops a release key (`diff`, the deploy) from being computed safely: every source
    it reads, judged as `check` judges it, but not whether the host can run it."""
    problems: list[Problem] = []
    for host in fleet.hosts.values():
        missing = _root_problem(host)
        if missing:
            problems.append(missing)
            continue
        for i, app in enumerate(host.apps):
            problems += [Problem(f"host {host.node}", f"apps[{i}] ({app.name})", msg)
                         for msg in _release_problems(host, app, f"apps[{i}]", build=False)[0]]
    return problems


def _web_problems(host: HostSpec, i: int, content: WebContent) -> tuple[list[Problem], Copied]:
    """The content's problems, and what its copy will hold as far as `check` can know it."""
    root, where = source_root(host), f"host {host.node}"
    problems = []
    built = root / content.source / "index.html"
    buildable = bool(content.build) and (root / content.build / "package.json").is_file()
    if not built.is_file() and not buildable:
        how = f" and {root / content.build} has no package.json" if content.build else ""
        problems.append(Problem(where, f"web_content[{i}].source", f"{built} is missing{how}"))
    # The build directory is npm's to read (its node_modules/ and output left out here); the
    # source is copied into the public web root as it is: every file of it is judged.
    if content.build:
        field = f"web_content[{i}].build"
        problems += [Problem(where, field, msg) for msg in walk(
            root, root / content.build, Skips(frozenset(SKIPPED_DIRS)), "dir")[1]]
    source = root / content.source
    names = None  # what the copy will hold: unknown while the deploy's build has to write it
    if source.is_dir() or source.is_symlink():  # not there yet: the build writes it
        files, found = walk(root, source, web_skips(content), "dir")
        problems += [Problem(where, f"web_content[{i}].source", msg) for msg in found]
        if not buildable and (files or not found):
            names = frozenset(f.name for f in files)
    return problems, Copied(i, content, names, web_skips(content))


def tree_skips(app: App) -> Skips:
    """What the release leaves out of each of the app's trees: debris, and its `exclude`."""
    return RELEASE_SKIPS.excluding(app.exclude)


def web_skips(content: WebContent) -> Skips:
    """What the copy of a web content leaves out: what its `exclude` names, nothing else (a
    web root holds what its source holds)."""
    return NOTHING.excluding(content.exclude)


def web_files(host: HostSpec, content: WebContent) -> list[SourceFile]:
    """The files of a web content's source, as copied into the web root (SourceTreeError
    otherwise, naming the host, the content and each path)."""
    root = source_root(host)
    try:
        return checked_files(root, root / content.source, web_skips(content), expect="dir")
    except SourceTreeError as exc:
        raise SourceTreeError([f"host {host.node}: web_content {content.source!r}: {p}"
                               for p in exc.problems]) from None


def check_sources(fleet: Fleet) -> list[Problem]:
    """Every declared source exists, is safe to read and is buildable for its host: no
    connection needed."""
    problems: list[Problem] = []
    for host in fleet.hosts.values():
        where = f"host {host.node}"
        missing = _root_problem(host)
        if missing:
            problems.append(missing)
            continue
        for i, app in enumerate(host.apps):
            problems += [Problem(where, f"apps[{i}] ({app.name})", msg)
                         for msg in _app_problems(host, app, f"apps[{i}]")]
        copied = []
        for i, content in enumerate(host.web_content):
            found, one = _web_problems(host, i, content)
            problems += found
            copied.append(one)
        problems += route_problems(host, copied)
    return problems
