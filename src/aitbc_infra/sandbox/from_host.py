"""`aitbc-infra sandbox from-host NODE -- COMMAND...`: run aitbc-infra where the document's
operator runs it, on the sandbox's at1 itself, with that machine as pyinfra's `@local` and every
other host reached over SSH from there.

The operator's checkout is laid out in the machine at this checkout's own absolute path: the
project's files with their build caches (wheelhouse, the SPAs' node_modules and dist: the
machine has no network, so nothing may need a download there), the sandbox's key, known hosts,
ssh config, secrets and ACME roots, and the sandbox inventory with NODE as `@local`. Its Python
environment is the machine's own: a venv of the machine's python3 with this project's runtime
requirements at the versions this checkout runs, installed offline from wheels downloaded here.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.errors import UserError
from aitbc_infra.host_scripts import quoted
from aitbc_infra.sandbox import incus, machines
from aitbc_infra.sandbox import inventory as inventory_file
from aitbc_infra.sandbox.fleet import is_up, load_plan
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.ssh import current_plan, ssh_argv, ssh_run

# The checkout's own venv, where `./dev setup` makes it: one per machine, for its Python.
VENV = ".venv"
# Not part of an operator's checkout: this machine's venv (built for this machine's Python),
# the sandbox's own state (machines, image) and render output.
LEFT_OUT = (VENV, ".sandbox", "out")
WHEELS = "operator-wheels"  # under .sandbox/, on both sides
INSTALLED_STAMP = f"{VENV}/.operator-wheels"


def requirements() -> list[str]:
    """The project's runtime requirements, plus the build backend its editable install needs."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    return [*project["project"]["dependencies"], *project["build-system"]["requires"]]


def download_wheels(p: Paths, log=print) -> tuple[Path, str]:
    """Wheels of every runtime requirement at the versions this checkout's venv runs (its
    `pip freeze` as constraints), for a CPython of the same minor version. Cached: downloaded
    again only when the requirements or the versions change. Returns (directory, its stamp)."""
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout
    wanted = "\n".join(requirements()) + "\n"
    stamp = hashlib.sha256((wanted + freeze).encode()).hexdigest()[:16]
    out = p.state / WHEELS
    if (out / "stamp").is_file() and (out / "stamp").read_text() == stamp:
        return out, stamp
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "requirements.txt").write_text(wanted)
    (out / "constraints.txt").write_text(freeze)
    log(f"[from-host] downloading the operator's wheels into {out}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                    "--dest", str(out), "-r", str(out / "requirements.txt"),
                    "-c", str(out / "constraints.txt")], check=True)
    (out / "stamp").write_text(stamp)
    return out, stamp


def _copy_tree(source: Path, dest: Path) -> None:
    """The checkout's files as they are (its caches included) at `dest`, anything a previous
    lay-out left there removed, the machine's venv kept. tar to tar: one pass, modes kept."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.name != VENV:
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    excludes = [f"--exclude=./{name}" for name in LEFT_OUT]
    pack = subprocess.Popen(["tar", "-C", str(source), *excludes, "-cf", "-", "."],
                            stdout=subprocess.PIPE)
    unpack = subprocess.run(["tar", "-C", str(dest), "-xf", "-"], stdin=pack.stdout)
    assert pack.stdout is not None
    pack.stdout.close()
    if pack.wait() != 0 or unpack.returncode != 0:
        raise UserError(f"copying the checkout into {dest} failed (tar, see above)")


def _sandbox_files(p: Paths) -> list[Path]:
    """What the sandbox inventory points at, needed on the operator's machine too."""
    return [p.key, Path(f"{p.key}.pub"), p.known_hosts, p.ssh_config, p.secrets,
            p.pebble_ca, p.pebble_root]


def lay_out(p: Paths, source: Path, node: str, log=print) -> None:
    """The operator's checkout in machine `node` of the sandbox standing in for `source` (an
    inventory), at this checkout's path."""
    if incus.enabled(p):
        raise UserError("from-host runs in a sandbox of nspawn machines only (it is up with "
                        "--incus: its containers live on this machine, not in at1)")
    production, plan = load_plan(source)
    if plan != current_plan(p) or not is_up(p, plan):
        raise UserError(f"the sandbox is not up for {source}: aitbc-infra sandbox up first")
    if node not in production.hosts or production.hosts[node].container:
        raise UserError(f"{node}: not a host of the sandbox (run from one of "
                        f"{', '.join(n for n, h in production.hosts.items() if not h.container)})")
    wheels, stamp = download_wheels(p, log)
    dest = machines.root(p, plan.machine(node)) / PROJECT_ROOT.relative_to("/")
    log(f"[from-host] {node}: the checkout at {PROJECT_ROOT}")
    _copy_tree(PROJECT_ROOT, dest)
    state = dest / p.state.relative_to(PROJECT_ROOT)
    for f in _sandbox_files(p):
        target = state / f.relative_to(p.state)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    shutil.copytree(wheels, state / WHEELS)
    shutil.copy2(Path(sys.executable).with_name("uv"), state / "uv")
    (state / "inventory.py").write_text(inventory_file.render(p, production, plan, local=node))
    _install_venv(node, stamp, log)


def _install_venv(node: str, stamp: str, log) -> None:
    """The machine's venv: its own python3, the wheels, this project editable (so the copied
    sources are what runs). Skipped when it holds these wheels already."""
    here = str(PROJECT_ROOT)
    wheels = f"{here}/.sandbox/{WHEELS}"
    uv = f"{here}/.sandbox/uv"
    offline = ("--quiet", "--offline", "--no-index", "--no-config", "--find-links", wheels)
    command = " && ".join([
        f"cd {quoted(here)}",
        f"{{ [ \"$(cat {INSTALLED_STAMP} 2>/dev/null)\" = {quoted(stamp)} ] || {{ "
        + " && ".join([
            quoted("rm", "-rf", VENV),
            quoted(uv, "venv", "--quiet", "--no-config", "--python", "/usr/bin/python3", VENV),
            quoted(uv, "pip", "install", *offline, "--python", f"{VENV}/bin/python",
                   "-r", f"{wheels}/requirements.txt", "-c", f"{wheels}/constraints.txt"),
            quoted(uv, "pip", "install", *offline, "--python", f"{VENV}/bin/python",
                   "--no-deps", "-e", here),
            f"printf %s {quoted(stamp)} > {INSTALLED_STAMP}",
        ]) + "; }; }",
    ])
    log(f"[from-host] {node}: the operator's venv ({node}'s python3)")
    done = ssh_run(node, command, timeout=300)
    if done.returncode != 0:
        raise UserError(f"{node}: installing the operator's venv failed:\n{done.stderr.strip()}")


def run_there(node: str, args: list[str]) -> int:
    """`aitbc-infra ARGS` in the operator's checkout on `node`, its output streamed here; its
    exit status."""
    command = f"cd {quoted(str(PROJECT_ROOT))} && {VENV}/bin/aitbc-infra {quoted(*args)}"
    return subprocess.run(ssh_argv(node, command)).returncode
