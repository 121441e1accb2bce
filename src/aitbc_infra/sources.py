"""Where each app's sources are, and whether they can be built for their host, before connecting.

Every source path of the data is relative to the host's `app_sources` root: this project's
`payload/` by default, or a checkout of the AITBC repository (`AITBC_SRC`). A path that is
missing, a package without pyproject.toml or one whose `requires-python` the host's interpreter
does not meet is a problem naming host, app, field and path. Every line of every requirements file
is read and held to the rule of the data's `requirements` (model.requirement_problem).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import SOURCE_ENV, Fleet, Problem
from aitbc_infra.model import STATIC_DIR, App, HostSpec, requirement_file_problems
from aitbc_infra.wheelhouse import (
    SKIPPED_DIRS,
    ReleaseInputs,
    WheelhouseError,
    path_dependencies,
    project_metadata,
    requirement_file_text,
    requires_python,
)

__all__ = ["SOURCE_ENV", "check_sources", "release_inputs", "source_root"]


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
        root=root,
    )


def _tree_problems(root: Path, tree: Path, field: str) -> list[str]:
    """What would make a copied tree unsafe or unreadable: a symlink that leaves the source
    root (a secret of the control machine uploaded as a web page), a link loop, a file name
    that is not UTF-8."""
    problems = []
    base = root.resolve()
    for current, dirs, names in os.walk(tree, followlinks=False):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]  # never copied to a host
        for name in [*dirs, *names]:
            path = Path(current, name)
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"{field}: {path!r}: file name is not UTF-8")
                continue
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError) as exc:
                    problems.append(f"{field}: {path}: broken or looping symlink ({exc})")
                    continue
                if not target.is_relative_to(base):
                    problems.append(f"{field}: {path} links to {target}, outside the source root")
    return problems


def _real(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None


def _named(root: Path, real: Path) -> str:
    """A project's path in messages: relative to the source root where it lies in it."""
    base = _real(root) or root
    return real.relative_to(base).as_posix() if real.is_relative_to(base) else str(real)


def _check_project(root: Path, project: Path, python: str, field: str,
                   chain: tuple[Path, ...] = (), checked: set[Path] | None = None) -> list[str]:
    """Problems of one package and, through its path dependencies, of those it pulls in.

    `chain` holds the resolved projects that led here: a dependency back into it is a cycle,
    named, not followed; `checked` the projects already checked, each checked once."""
    if not (project / "pyproject.toml").is_file():
        return [f"{field}: {project} has no pyproject.toml"]
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
    if spec and not spec.allows(python):
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
                                       chain, checked)
    return problems


def _app_problems(host: HostSpec, app: App, field: str) -> list[str]:
    root = source_root(host)
    problems = []
    for i, package in enumerate(app.packages):
        problems += _check_project(root, root / package, host.python.version,
                                   f"{field}.packages[{i}] {package!r}")
    for i, name in enumerate(app.requirement_files):
        # Read whole, as pip would: a refused line is named by its number and the reason, not
        # by its content (a requirements file could be anything).
        where, path = f"{field}.requirement_files[{i}]", root / name
        try:
            text = requirement_file_text(path, root)
        except WheelhouseError as exc:
            problems.append(f"{where}: {exc}")
            continue
        problems += [f"{where}: {path} line {number}: {reason}"
                     for number, reason in requirement_file_problems(text)]
    for i, tree in enumerate(app.trees):
        if not (root / tree).is_dir():
            problems.append(f"{field}.trees[{i}]: {root / tree} is not a directory")
        else:
            problems += _tree_problems(root, root / tree, f"{field}.trees[{i}]")
    for i, name in enumerate(app.static_files):
        path = root / name
        if path.is_symlink() or not path.is_file():
            problems.append(f"{field}.static_files[{i}]: {path} is not a regular file")
        elif not path.resolve().is_relative_to(root.resolve()):
            problems.append(f"{field}.static_files[{i}]: {path} lies outside the source root")
    for j, svc in enumerate(app.services):
        if svc.workdir and svc.workdir not in app.data_dirs and not (root / svc.workdir).is_dir():
            problems.append(f"{field}.services[{j}].workdir: {root / svc.workdir} is not a directory")
    constraints = constraints_of(host, app)
    if constraints and not constraints.is_file():
        problems.append(f"{field}.constraints: {constraints} is not a file of this project")
    return problems


def check_sources(fleet: Fleet) -> list[Problem]:
    """Every declared source exists and is buildable for its host: no connection needed."""
    problems: list[Problem] = []
    for host in fleet.hosts.values():
        where = f"host {host.node}"
        root = source_root(host)
        if not root.is_dir():
            problems.append(Problem(where, "app_sources", f"{root} is not a directory "
                                    f"(set it in the data or with {SOURCE_ENV}=DIR)"))
            continue
        for i, app in enumerate(host.apps):
            problems += [Problem(where, f"apps[{i}] ({app.name})", msg)
                         for msg in _app_problems(host, app, f"apps[{i}]")]
        for i, content in enumerate(host.web_content):
            built = root / content.source / "index.html"
            buildable = content.build and (root / content.build / "package.json").is_file()
            if not built.is_file() and not buildable:
                how = f" and {root / content.build} has no package.json" if content.build else ""
                problems.append(Problem(where, f"web_content[{i}].source",
                                        f"{built} is missing{how}"))
            for spot in (content.source, content.build):
                if spot and (root / spot).is_dir():
                    problems += [Problem(where, f"web_content[{i}]", msg) for msg in
                                 _tree_problems(root, root / spot, f"web_content[{i}]")]
    return problems
