"""Every command line the deploy builds keeps each value one argument, whatever it holds.

The commands run for real under `sh`, with their programs replaced by stubs that record the
arguments they were given: a value that broke out of its argument would show as a split or
extra argument, or as a call to a program it smuggled in (`touch`, `id`), or a PWNED file.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyinfra.api import Config
from pyinfra.api import State as PyinfraState
from pyinfra.context import ctx_state

from aitbc_infra import host_scripts
from aitbc_infra.activation import Journal
from aitbc_infra.host_names import RELEASE_MARKER
from aitbc_infra.model import User
from aitbc_infra.plan import Directory, HostPlan, Link
from deploys import shell as shell_module
from deploys.apps import UV_FLAGS, release_commands
from deploys.base import user_command
from deploys.facts import FileContent, UnitStates, UserEntries
from deploys.journal import add_command, commit_command
from deploys.lock import BUSY, READ_END, lock_command
from deploys.managed import (
    LINE_LIMIT,
    batched,
    directory,
    install_dir_command,
    lines,
    link,
    ownership_command,
    put,
    remove_command,
    temp_file_command,
)
from deploys.shell import script
from deploys.state import HostState, PathState, PathStates, State
from deploys.tls import certbot_command, issue_commands

# Each would run `touch PWNED` (or `id`) if it reached the shell unquoted. None holds a "/", so
# each can also be one component of a path.
HOSTILE = [
    "x; touch PWNED #",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a\ntouch PWNED",
    "a' ; touch PWNED ; 'b",
    'a" ; touch PWNED ; "b',
    "$(id) ${HOME} * ? [a] ~ \\ \\n",
    "-rf --no-preserve-root",
    "a && touch PWNED || touch PWNED | touch PWNED > PWNED",
]
# Every program the commands below may run, and those a hostile value names.
PROGRAMS = ["certbot", "rm", "nginx", "systemctl", "install", "chown", "chmod", "mkdir", "mv",
            "ln", "tar", "cat", "getent", "touch", "id", "record", "tee", "useradd", "usermod"]

_STUB = """import json, os, sys
name = sys.argv[0]
if os.path.dirname(name) == os.environ["STUBS"]:
    name = os.path.basename(name)
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
if name.endswith("systemctl") and sys.argv[1:4] == ["show", "-p", "ActiveState"]:
    print("active")  # every unit runs
if name.endswith("curl") and "-w" in sys.argv:
    print("200", end="")  # and every URL answers (a data probe reads the status it is told)
"""


def _stub(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{_STUB}")
    path.chmod(0o755)
    return path


class Shell:
    """`sh -c COMMAND` whose PATH holds only stubs; returns the calls they recorded."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.stubs = tmp / "stubs"
        self.log = tmp / "calls.jsonl"
        for name in PROGRAMS:
            _stub(self.stubs / name)
        (self.stubs / "sh").symlink_to("/bin/sh")  # the scripts' own shell is the real one

    def run(self, *commands: str, status: int = 0) -> list[list[str]]:
        self.log.unlink(missing_ok=True)
        for command in commands:  # as pyinfra runs them: one shell each
            result = subprocess.run(["/bin/sh", "-c", command], cwd=self.tmp, capture_output=True,
                                    text=True, env={"PATH": str(self.stubs), "STUBS": str(self.stubs),
                                                    "STUB_LOG": str(self.log), "HOME": "/nonexistent"})
            assert result.returncode == status, result.stderr
        assert not list(self.tmp.rglob("PWNED"))
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def shell(tmp_path) -> Shell:
    return Shell(tmp_path)


def _words(command: str) -> list[str]:
    """How a POSIX shell splits the command into words (no expansion happens in quoted words)."""
    return shlex.split(command)


# certbot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE + ["-d evil.example", "--register-unsafely"])
def test_certbot_values_stay_one_argument(shell, value):
    command = certbot_command(email=value, server=value, webroot=f"/var/www/{value}", lineage=value,
                              domains=[value, "aitbc.example"])
    expected = ["certbot", "certonly", "--non-interactive", "--agree-tos", f"--email={value}",
                f"--server={value}", "--webroot", f"--webroot-path=/var/www/{value}",
                f"--cert-name={value}", f"--domains={value}", "--domains=aitbc.example",
                "--deploy-hook", "systemctl reload nginx"]
    assert _words(command) == expected
    assert shell.run(command) == [expected]


def test_certbot_refuses_a_domain_it_would_split():
    with pytest.raises(ValueError, match="comma"):
        certbot_command(email="ops@example.org", server="https://acme.example/dir", webroot="/w",
                        lineage="example", domains=["a.example,evil.example"])


@pytest.mark.parametrize("value", HOSTILE)
def test_certificate_issue_commands(shell, value):
    commands = issue_commands(email=value, server=value, lineage=value, domains=[value],
                              config_name=value, bootstrap=value)
    calls = shell.run(*commands)
    assert calls[0] == ["tee", "--", "/etc/nginx/sites-enabled/aitbc-acme-bootstrap"]
    assert calls[1] == ["rm", "-f", "--", "/etc/nginx/sites-enabled/default",
                        f"/etc/nginx/sites-enabled/{value}"]
    assert [c[0] for c in calls] == ["tee", "rm", "nginx", "systemctl", "certbot", "rm"]
    assert f"--email={value}" in calls[4] and f"--cert-name={value}" in calls[4]
    assert calls[-1] == ["rm", "-f", "--", "/etc/nginx/sites-enabled/aitbc-acme-bootstrap"]


def test_ordinary_certbot_command_is_unchanged_by_quoting():
    command = certbot_command(email="ops@bubuit.net", server="https://acme-v02.api.letsencrypt.org/directory",
                              webroot="/var/www/letsencrypt", lineage="bubuit.net",
                              domains=["aitbc.bubuit.net"])
    assert command == (
        "certbot certonly --non-interactive --agree-tos --email=ops@bubuit.net "
        "--server=https://acme-v02.api.letsencrypt.org/directory --webroot "
        "--webroot-path=/var/www/letsencrypt --cert-name=bubuit.net --domains=aitbc.bubuit.net "
        "--deploy-hook 'systemctl reload nginx'")


# Release builds ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_release_build_commands(shell, tmp_path, value):
    root = tmp_path / value
    releases, venv, target = root / "releases", root / ".venv", root / "releases" / value
    python = tmp_path / "python" / value / "python3"  # the interpreter's path is data too
    uv = _stub(tmp_path / "uv" / value / "uv")  # and where uv was uploaded
    target.mkdir(parents=True)  # what `uv venv` would have made
    wheelhouse = f"/var/cache/{value}"
    commands = release_commands(python=str(python), releases=str(releases), venv=str(venv),
                                release_id=value, wheels=[f"{value}.whl", "b.whl"],
                                tree=f"{value}.tar", wheelhouse=wheelhouse, uv=str(uv))
    assert shell.run(*commands) == [
        ["rm", "-rf", "--", str(target)],
        [str(uv), "venv", *UV_FLAGS, "--python", str(python), str(target)],
        [str(uv), "pip", "install", *UV_FLAGS, "--no-index", "--no-deps", "--link-mode=copy",
         "--compile-bytecode", "--python", f"{target}/bin/python", f"{wheelhouse}/{value}.whl",
         f"{wheelhouse}/b.whl"],
        ["mkdir", "--", f"{target}/src"],
        ["tar", "-xf", f"{wheelhouse}/{value}.tar", "-C", f"{target}/src", "--no-same-owner"],
        ["rm", "-f", "--", f"{target}/.lock"],
        ["ln", "-s", "--", f"releases/{value}", str(venv)],
    ]
    assert (target / RELEASE_MARKER).read_text() == f"{value}\n"


def test_ordinary_release_commands_are_unchanged_by_quoting():
    flags = "--quiet --no-config --no-cache --offline --no-python-downloads"
    assert release_commands(python="/usr/bin/python3", releases="/opt/app/releases",
                            venv="/opt/app/.venv", release_id="0a1b", wheels=["a-1.whl"],
                            tree=None) == [
        f"rm -rf -- /opt/app/releases/0a1b && /usr/local/lib/aitbc-infra/uv venv {flags} "
        "--python /usr/bin/python3 /opt/app/releases/0a1b",
        f"/usr/local/lib/aitbc-infra/uv pip install {flags} --no-index --no-deps --link-mode=copy "
        "--compile-bytecode --python /opt/app/releases/0a1b/bin/python "
        "/var/cache/aitbc/wheelhouse/a-1.whl",
        "rm -f -- /opt/app/releases/0a1b/.lock",
        "printf '%s\\n' 0a1b > /opt/app/releases/0a1b/.aitbc-release",
        "[ -e /opt/app/.venv ] || [ -L /opt/app/.venv ] || ln -s -- releases/0a1b /opt/app/.venv",
    ]


# Directories, files, links ----------------------------------------------------------------


def _state(paths: dict[str, PathState]) -> State:
    """A host state as the deploy reads it, with only these paths."""
    return State(paths=paths, units={}, users={}, packages=set(), firewall={})


@pytest.mark.parametrize("value", HOSTILE)
def test_directory_creation(shell, value):
    path = f"/opt/{value}/data"
    assert shell.run(install_dir_command(path, "0750", value, value)) == [
        ["install", "-d", "-m", "0750", "-o", value, "-g", value, "--", path]]
    assert shell.run(ownership_command(path, value, value, value)) == [
        ["chown", "--", f"{value}:{value}", path], ["chmod", "--", value, path]]
    # The operations themselves (their generators, run on a plan whose state is given).
    entry = Directory(path, "0750", value, value)
    plan = HostPlan("n", [], directories=[entry])
    # A directory's mode is given in five digits: a setgid bit it should not have is cleared.
    assert list(directory(plan, _state({}), entry)) == [install_dir_command(path, "00750", value, value)]
    there = _state({path: PathState("d", "2750", "root", "root", "-")})
    assert list(directory(plan, there, entry)) == [ownership_command(path, "00750", value, value)]


def test_an_operation_on_a_path_outside_the_plan_is_refused():
    plan = HostPlan("n", [], directories=[Directory("/opt/a", "0755", "root", "root")])
    with pytest.raises(ValueError, match="host n: /opt/b is not in the host's plan"):
        list(directory(plan, _state({}), Directory("/opt/b", "0755", "root", "root")))


@pytest.mark.parametrize("value", HOSTILE)
def test_upload_link_and_remove(shell, value):
    dest = f"/etc/{value}/app.env"
    assert shell.run(temp_file_command(dest, "0640", value, value)) == [
        ["mkdir", "-p", "--", f"/etc/{value}"],
        ["install", "-m", "0640", "-o", value, "-g", value, "--", "/dev/null", f"{dest}.aitbc-new"]]
    to, gone = Link(dest, value), Link(dest, None)
    plan = HostPlan("n", [], links=[to])
    assert shell.run(*link(plan, _state({}), to)) == [["ln", "-sfn", "--", value, dest]]
    there = _state({dest: PathState("l", "0777", "root", "root", value)})
    assert shell.run(*link(plan, there, gone)) == [["rm", "-f", "--", dest]]
    assert shell.run(remove_command([dest, value])) == [["rm", "-f", "--", dest, value]]


def _puts(plan: HostPlan, *paths: str) -> list:
    """The commands of a group of new files, as the operations build them (in a run of their
    own: `put` reads the run's --diff setting)."""
    run = PyinfraState()
    run.config = Config()
    with ctx_state.use(run):
        return [c for path in paths for c in put(plan, _state({}), path, path.encode(), "0644")]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_groups_files_are_written_in_three_round_trips(shell, value):
    paths = [f"/etc/{value}/a", f"/etc/{value}/b", f"/etc/{value}/c"]
    plan = HostPlan("n", [], links=[Link(p, "x") for p in paths])
    commands = _puts(plan, *paths)
    assert len(commands) == 9  # temporary file, upload, rename for each
    first, *uploads, last = batched(commands)
    assert [u.dest for u in uploads] == [f"{p}.aitbc-new" for p in paths]
    # Every temporary file (its owner and mode) before any byte, every rename after them all.
    assert shell.run(first) == [call for p in paths for call in (
        ["mkdir", "-p", "--", f"/etc/{value}"],
        ["install", "-m", "0644", "-o", "root", "-g", "root", "--", "/dev/null", f"{p}.aitbc-new"])]
    assert shell.run(last) == [["mv", "-f", "--", f"{p}.aitbc-new", p] for p in paths]


def test_a_batched_line_stops_at_the_first_failure(shell):
    # `||` inside one command stays inside it; a failing command stops the line, as it
    # stopped the operation when each command was a round trip of its own.
    line, = lines(["touch a || touch b", "id -u && false", "touch c"])
    assert shell.run(line, status=1) == [["touch", "a"], ["id", "-u"]]


def test_batched_lines_stay_under_the_limit_of_one_argument():
    commands = [f"touch {i:0{LINE_LIMIT // 4}d}" for i in range(10)]
    batches = lines(commands)
    assert len(batches) > 1
    assert all(len(b) <= LINE_LIMIT for b in batches)
    assert " && ".join(batches).count("touch") == 10


@pytest.mark.parametrize("value", HOSTILE)
def test_user_commands(shell, value):
    # Names and homes are validated data; here, unvalidated, each could be anything.
    system = User.model_construct(name=value, home=f"/opt/{value}", system=True)
    person = User.model_construct(name=value, home=f"/home/{value}", system=False)
    commands = lines([user_command(system, None), user_command(person, ("/home/x", "/bin/sh"))])
    # getent is a stub that succeeds: a group of the user's name exists, it becomes the primary.
    assert shell.run(*commands) == [
        ["getent", "group", "--", value],
        ["useradd", "-d", f"/opt/{value}", "-s", "/usr/sbin/nologin", "-r", "-M", "-g", value, "--", value],
        ["usermod", "-d", f"/home/{value}", "-s", "/bin/bash", "--", value],
    ]
    assert user_command(person, None).endswith(
        f"else useradd -d {shlex.quote(f'/home/{value}')} -s /bin/bash -m -- {shlex.quote(value)}; fi")


@pytest.mark.parametrize("value", HOSTILE)
def test_facts(shell, value):
    assert shell.run(FileContent().command(path=value)) == [["cat", "--", value]]
    assert shell.run(UnitStates().command(units=[value, "nginx"])) == [
        ["systemctl", "show", "-p", "Id", "-p", "ActiveState", "-p", "UnitFileState", "--",
         f"{value}.service", "nginx.service"]]
    assert shell.run(UserEntries().command(users=[value, "root"])) == [
        ["getent", "passwd", "--", value, "root"]]


def test_path_states_read_hostile_names(tmp_path):
    names = [v for v in HOSTILE if "\n" not in v]  # the fact's output is one path a line
    tree = tmp_path / "tree"
    for name in names:
        (tree / name).mkdir(parents=True)
        (tree / name / name).write_text("x")
    listed = [str(tree / n) for n in names]
    command = PathStates().command(paths=listed, trees=[str(tree)], globs=[(str(tree), "*")])
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    states = PathStates().process(result.stdout.splitlines())
    assert not list(tmp_path.rglob("PWNED"))
    digest = hashlib.sha256(b"x").hexdigest()
    for name in names:
        assert states[str(tree / name)].kind == "d"
        assert states[str(tree / name / name)] == PathState("f", "0644", "root", "root", digest)


def test_path_states_skip_names_and_targets_holding_a_newline(tmp_path):
    """The output is one path a line: a name or link target with a newline could forge a line
    of another path, so such entries are not read at all."""
    tree = tmp_path / "tree"
    forged = tree / "a\nS d|0777|root|root|"
    forged.mkdir(parents=True)
    (forged / "etc").write_text("y")
    (tree / "ok").write_text("x")
    (tree / "link").symlink_to("x\nS f|0777|root|root|/etc/passwd")
    command = PathStates().command(paths=[str(tree / "ok")], trees=[str(tree)], globs=[])
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert set(PathStates().process(result.stdout.splitlines())) == {str(tree), str(tree / "ok")}


def test_host_state_reads_paths_links_globs_units_users_and_packages(tmp_path):
    (tmp_path / "releases" / "r1").mkdir(parents=True)
    (tmp_path / "releases" / "r1" / "marker").write_text("")
    (tmp_path / "releases" / "r2").mkdir()  # no marker: an unfinished build
    (tmp_path / ".venv").symlink_to("releases/r1")
    (tmp_path / "data").mkdir(mode=0o750)
    command = HostState().command(
        paths=[str(tmp_path / ".venv"), str(tmp_path / "data"), str(tmp_path / "absent")],
        trees=[], globs=[(str(tmp_path / "releases"), "marker")], units=["nginx"],
        users=["root", "no-such-user"], packages=["dpkg", "no-such-package"],
        firewall_applied=str(tmp_path / "applied"))
    (tmp_path / "applied").write_text("f00d\n")
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True)
    got = HostState().process(result.stdout.splitlines())
    assert got.paths[str(tmp_path / ".venv")] == PathState("l", "0777", "root", "root", "releases/r1")
    assert got.paths[str(tmp_path / "data")] == PathState("d", "0750", "root", "root", "-")
    marker = str(tmp_path / "releases" / "r1" / "marker")
    assert got.paths[marker] == PathState("f", "0644", "root", "root", hashlib.sha256(b"").hexdigest())
    assert set(got.paths) == {str(tmp_path / ".venv"), str(tmp_path / "data"), marker}
    root = pwd.getpwnam("root")
    assert got.users == {"root": (root.pw_dir, root.pw_shell)}
    assert got.packages == {"dpkg"}
    assert set(got.units) <= {"nginx"}  # systemd answers only where it runs
    assert got.firewall["applied"] == "f00d"
    assert len(got.firewall["live"]) == 64  # the digest of whatever rules this machine has


# The journal: the script helper, journaled writes, the commit -----------------------------


def test_script_passes_each_argument_as_one(shell, tmp_path, monkeypatch):
    (tmp_path / "scripts").mkdir()
    shutil.copy(shell_module.SCRIPTS / "lib.sh", tmp_path / "scripts")
    (tmp_path / "scripts" / "args.sh").write_text('exec record "$0" "$@"\n')
    monkeypatch.setattr(host_scripts, "SCRIPTS", tmp_path / "scripts")  # script() reads it there
    assert shell.run(script("args", *HOSTILE, "")) == [["record", "args", *HOSTILE, ""]]


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\n" not in v])
def test_journaled_write_and_rejected_commit(tmp_path, value):
    work = tmp_path / value
    pending, dest = work / "pending", work / value
    work.mkdir()
    dest.write_text("validated\n")
    run = dict(capture_output=True, text=True, cwd=tmp_path)
    write = add_command(value, str(dest), str(pending))
    assert subprocess.run(["/bin/sh", "-c", write], **run).returncode == 0
    assert (pending / value).read_text() == f"{dest}\n"
    dest.write_text("rejected\n")
    rejecting = Journal(value, ("false", value), ("true",), effect="reload")
    result = subprocess.run(["/bin/sh", "-c", commit_command(rejecting, str(pending))], **run)
    assert result.returncode == 1 and "REJECTED" in result.stderr
    assert dest.read_text() == "validated\n"
    assert not (pending / value).exists()
    assert not list(tmp_path.rglob("PWNED"))


def test_journal_refuses_a_path_it_cannot_list():
    with pytest.raises(ValueError, match="newline"):
        add_command("web", "/etc/a\n/etc/passwd")


# activate-release refuses what it would split ----------------------------------------------


_GOOD = ("/p", "/r", "abc", "3", "5", "app-x", "true", "/usr/bin/python3", "db=sqlite=/r/data/a.db",
         "")
_UNIT = ("unit", "restart", "no", "no", "-", "-", "-")  # UNIT ACTION LISTENS NEW LIVE CANDIDATE PROBE
_FIXED = ("/p", "/r", "abc", "3", "5", "app-x", "true")  # up to VALIDATE
_DATA = ("/usr/bin/python3", "db=sqlite=/r/data/a.db", "")  # PYTHON DATA STEPS


@pytest.mark.parametrize("args", [
    (*_GOOD, "x; touch PWNED #", "restart", "no", "no", "-", "-", "-"),
    (*_GOOD, "unit", "restart", "no", "no", "http://a/ b", "-", "-"),
    (*_GOOD, "unit", "restart", "no", "no", "-", "http://a/?x=1", "-"),
    (*_GOOD, "unit", "restart", "maybe", "no", "-", "-", "-"),
    (*_GOOD, "unit", "restart", "no", "maybe", "-", "-", "-"),
    (*_GOOD, "unit", "reload", "no", "no", "-", "-", "-"),
    (*_GOOD, "unit", "no", "-", "-"),
    (*_GOOD, "unit", "restart", "no", "no", "-", "-"),
    (*_GOOD, "unit", "restart", "no", "no", "http://a/h", "-", "api/x"),
    (*_GOOD, "unit", "restart", "no", "no", "http://a/h", "-", "/api/x y"),
    (*_GOOD, "unit", "restart", "no", "no", "http://a/h", "-", "/a\ntouch PWNED"),
    ("/p", "/r", "../../etc", "3", "5", "app-x", "true", *_DATA, *_UNIT),
    ("/p", "/r", "abc", "$(touch PWNED)", "5", "app-x", "true", *_DATA, *_UNIT),
    ("/p", "/r", "abc", "3", "5 ", "app-x", "true", *_DATA, *_UNIT),
    ("/p", "-rf", "abc", "3", "5", "app-x", "true", *_DATA, *_UNIT),
    ("/p", "/r", "abc", "3", "5", "../x", "true", *_DATA, *_UNIT),
    (*_FIXED, "python3", "", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3 -c x", "", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3", "db=postgresql=/r/data/a.db", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3", "db=sqlite=data/a.db", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3", "db=sqlite=/r/../etc/shadow", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3", "Db=sqlite=/r/data/a.db", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3", "db=sqlite=/r/$(touch PWNED)", "", *_UNIT),
    (*_FIXED, "/usr/bin/python3", "/r/data/a.db", "", *_UNIT),
    (*_FIXED, *_DATA[:2], "migrate=unit;touch PWNED", *_UNIT),
    (*_FIXED, *_DATA[:2], "x-y=unit", *_UNIT),
    (*_FIXED, *_DATA[:2], "migrate", *_UNIT),
    (*_FIXED, *_DATA[:2]),
], ids=["unit", "url-blank", "url-equals", "socket", "new", "action", "not-seven", "six",
        "probe-relative", "probe-blank", "probe-newline", "release", "keep", "timeout", "root",
        "journal", "python-relative", "python-words", "data-kind", "data-relative",
        "data-climbs", "data-name", "data-shell", "data-unnamed", "step-shell", "step-name",
        "step-unnamed", "no-steps-argument"])
def test_activate_release_refuses_before_doing_anything(shell, args):
    result = subprocess.run(["/bin/sh", "-c", script("activate-release", *args)], cwd=shell.tmp,
                            capture_output=True, text=True,
                            env={"PATH": str(shell.stubs), "STUBS": str(shell.stubs),
                                 "STUB_LOG": str(shell.log)})
    assert result.returncode == 2 and "activate-release: refused" in result.stderr
    assert not shell.log.exists() and not list(shell.tmp.rglob("PWNED"))


def _activate(tmp_path: Path, root: Path, pending: Path, *units: str,
              validate: str = "exit 1", timeout: str = "5", data: str = "",
              programs: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, list]:
    """activate-release run against stub programs (each call logged); `programs` replaces a
    stub by a script of its own. The python taking the data's snapshot is a real one."""
    stubs = tmp_path / "stubs"
    for name in ("systemctl", "curl", "journalctl"):
        _stub(stubs / name)
    for name, text in (programs or {}).items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "STUBS": str(stubs), "STUB_LOG": str(tmp_path / "log")}
    result = subprocess.run(["/bin/sh", "-c", script("activate-release", str(pending), str(root),
                                                     "r1", "3", timeout, "app-x", validate,
                                                     sys.executable, data, "", *units)],
                            cwd=tmp_path, capture_output=True, text=True, env=env)
    log = tmp_path / "log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


@pytest.mark.parametrize("value", HOSTILE)
def test_activate_release_under_a_hostile_root(tmp_path, value):
    root, pending = tmp_path / value, tmp_path / f"pending {value}"
    (root / "releases" / "r1").mkdir(parents=True)
    result, calls = _activate(tmp_path, root, pending, "app", "restart", "yes", "no",
                              "http://x/h", "http://127.0.0.1:28000/h", "-")
    assert result.returncode == 0, result.stderr
    assert "candidates healthy after" in result.stdout and "healthy after" in result.stdout
    assert (root / ".venv").readlink() == Path("releases/r1")
    # The candidate first, on its own socket and URL; then the live unit, its socket kept.
    start = calls.index(["systemctl", "start", "app-candidate@r1.socket", "app-candidate@r1.service"])
    probe = calls.index(["curl", "-fsS", "-o", "/dev/null", "-m", "2", "http://127.0.0.1:28000/h"])
    restart = calls.index(["systemctl", "restart", "app"])
    assert start < probe < restart
    assert ["curl", "-fsS", "-o", "/dev/null", "-m", "2", "http://x/h"] in calls[restart:]
    assert ["systemctl", "stop", "app.service"] not in calls
    assert not list(tmp_path.rglob("PWNED"))


def test_activate_release_does_to_each_unit_what_the_decision_owes_it(tmp_path):
    """What each unit owes is decided in Python (aitbc_infra/decision.py); the script does just
    that: a socket owed is restarted with its service stopped first, a restart keeps the socket
    open, a start restarts nothing, and a unit owed nothing is left alone."""
    root, pending = tmp_path / "app", tmp_path / "pending"
    (root / "releases" / "r1").mkdir(parents=True)
    (root / ".venv").symlink_to("releases/r1")  # the release is already active: no cutover
    result, calls = _activate(tmp_path, root, pending,
                              "a", "socket", "yes", "no", "http://x/a", "-", "-",
                              "b", "start", "no", "no", "http://x/b", "-", "-",
                              "c", "none", "yes", "no", "http://x/c", "-", "-",
                              "d", "restart", "yes", "no", "http://x/d", "-", "-")
    assert result.returncode == 0, result.stderr
    assert "healthy after" in result.stdout and "a b d (release r1)" in result.stdout
    assert ["systemctl", "enable", "-q", "a", "b", "d"] in calls
    touched = [c for c in calls if c[:2] in (["systemctl", "restart"], ["systemctl", "start"],
                                             ["systemctl", "stop"]) and "-candidate@" not in c[2]]
    assert touched == [["systemctl", "stop", "a.service"], ["systemctl", "restart", "a.socket"],
                       ["systemctl", "restart", "a", "d"], ["systemctl", "start", "b"]]
    assert ["curl", "-fsS", "-o", "/dev/null", "-m", "2", "http://x/c"] not in calls


def test_activate_release_rejected_units_put_the_files_back(tmp_path):
    root, pending = tmp_path / "app", tmp_path / "pending"
    (root / "releases" / "r1").mkdir(parents=True)
    unit = tmp_path / "app.service"
    unit.write_text("validated\n")
    write = add_command("app-x", str(unit), str(pending))
    assert subprocess.run(["/bin/sh", "-c", write]).returncode == 0
    unit.write_text("rejected\n")
    result, calls = _activate(tmp_path, root, pending, "app", "restart", "no", "no", "-", "-", "-",
                              validate="exit 3")
    assert result.returncode == 1 and "REJECTED by 'exit 3'" in result.stderr
    assert unit.read_text() == "validated\n" and not (pending / "app-x").exists()
    assert ["systemctl", "daemon-reload"] in calls
    assert not [c for c in calls if c[:2] in (["systemctl", "restart"], ["systemctl", "start"])]


# The deploy lock ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_lock_names_a_hostile_holder_verbatim(tmp_path, value):
    lock_file, holder_file = tmp_path / f"{value}.lock", tmp_path / f"{value}.holder"
    first = subprocess.Popen(["/bin/sh", "-c", lock_command(value, str(lock_file), str(holder_file))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert first.stdout.readline() == "locked\n"
        assert holder_file.read_text() == f"{value}\n"
        second = subprocess.run(["/bin/sh", "-c", lock_command("other", str(lock_file),
                                                               str(holder_file))],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                cwd=tmp_path)
        assert second.returncode == BUSY
        assert second.stdout == f"{value}\n"
    finally:
        first.stdin.close()
        first.wait(timeout=10)
    assert first.returncode == 0 and not holder_file.exists()
    assert not list(tmp_path.rglob("PWNED"))


def test_lock_runs_its_read_under_the_lock_and_keeps_it(tmp_path):
    lock_file, holder_file = tmp_path / "lock", tmp_path / "holder"
    command = lock_command("me", str(lock_file), str(holder_file),
                           then="echo 'state line'; [ -e holder ] && exit 3")
    first = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        lines = [first.stdout.readline() for _ in range(3)]
        assert lines == ["locked\n", "state line\n", f"{READ_END}3\n"]  # its status, once read
        second = subprocess.run(["/bin/sh", "-c", lock_command("other", str(lock_file),
                                                               str(holder_file))],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True)
        assert second.returncode == BUSY and second.stdout == "me\n"  # still held after `exit`
    finally:
        first.stdin.close()
        first.wait(timeout=10)
    assert first.returncode == 0 and not holder_file.exists()


def test_path_states_cache_digests_but_see_every_change(tmp_path):
    """Digests of unchanged files come from the host's cache; a change is read again, even one
    that keeps the size and puts the old mtime back (the ctime moves all the same)."""
    target = tmp_path / "file"
    target.write_text("one")
    time.sleep(3)  # a file changed in the last two seconds is not cached (its ctime may repeat)

    hashes = tmp_path / "cache" / "path-hashes"

    def digest() -> str:
        command = PathStates().command(paths=[str(target)], trees=[], globs=[], cache=str(hashes))
        result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return PathStates().process(result.stdout.splitlines())[str(target)].sha256

    assert digest() == digest() == hashlib.sha256(b"one").hexdigest()
    before = target.stat()
    key = f"{before.st_dev}:{before.st_ino}:{before.st_size}:"
    cached = hashes.read_text()
    assert any(line.startswith(key) and line.endswith(hashlib.sha256(b"one").hexdigest())
               for line in cached.splitlines())
    target.write_text("two")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    assert digest() == hashlib.sha256(b"two").hexdigest()


def test_a_first_release_failing_its_gate_says_nothing_was_there_to_restore(tmp_path):
    """No previous unit file (a first deploy): the unit is stopped and its new files removed,
    never restarted with files that are gone, and nothing is said to be restored."""
    root, pending = tmp_path / "app", tmp_path / "pending"
    (root / "releases" / "r1").mkdir(parents=True)
    unit = tmp_path / "app.service"
    assert subprocess.run(["/bin/sh", "-c", add_command("app-x", str(unit), str(pending))]).returncode == 0
    unit.write_text("new\n")
    result, calls = _activate(tmp_path, root, pending, "app", "restart", "no", "yes",
                              "http://x/h", "-", "-", validate="true", timeout="1",
                              programs={"curl": "#!/bin/sh\nexit 7\n"})  # never healthy
    assert result.returncode == 1
    assert "NOTHING TO RESTORE for app: new with release r1" in result.stderr
    assert "RESTORED" not in result.stderr and "ROLLED BACK" not in result.stderr
    assert not unit.exists()  # its new file removed, as before the run
    restarts = [i for i, c in enumerate(calls) if c[:3] == ["systemctl", "restart", "app"]]
    assert len(restarts) == 1  # the cutover's only: never again with its files gone
    assert calls.index(["systemctl", "stop", "app"]) > restarts[0]  # it has no socket


# Scheduled jobs: their timers are the units, the jobs are never started -------------------


def test_activate_release_restarts_a_timer_never_its_job(tmp_path):
    """A timer owed a restart (its file changed) is enabled and restarted beside a service's
    restart, gated on staying active; no candidate is made of it, and its job is never
    started, stopped or restarted by the run."""
    root, pending = tmp_path / "app", tmp_path / "pending"
    (root / "releases" / "r1").mkdir(parents=True)
    (root / ".venv").symlink_to("releases/r1")
    result, calls = _activate(tmp_path, root, pending,
                              "api", "restart", "yes", "no", "http://x/a", "-", "-",
                              "job.timer", "restart", "no", "no", "-", "-", "-")
    assert result.returncode == 0, result.stderr
    assert "healthy after" in result.stdout and "api job.timer (release r1)" in result.stdout
    assert ["systemctl", "enable", "-q", "api", "job.timer"] in calls
    assert ["systemctl", "restart", "api", "job.timer"] in calls
    assert ["systemctl", "show", "-p", "ActiveState", "--value", "job.timer"] in calls
    assert not [c for c in calls if c[0] == "systemctl" and c[1] != "show"
                and any(w.startswith("job.timer-candidate@") and "*" not in w for w in c)]
    assert not [c for c in calls if "job" in c or "job.service" in c]


def test_activate_release_switches_a_release_no_unit_restarts_for(tmp_path):
    """An app whose units are all timers: a new release is pointed at all the same (the jobs
    run it from their next run), the previous one kept, nothing started or restarted."""
    root, pending = tmp_path / "app", tmp_path / "pending"
    (root / "releases" / "r0").mkdir(parents=True)
    (root / "releases" / "r1").mkdir()
    (root / ".venv").symlink_to("releases/r0")
    result, calls = _activate(tmp_path, root, pending, "job.timer", "none", "no", "no", "-", "-", "-")
    assert result.returncode == 0, result.stderr
    assert "switched to release r1, no unit restarted" in result.stdout
    assert (root / ".venv").readlink() == Path("releases/r1")
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["r0", "r1"]
    assert not [c for c in calls if c[:2] in (["systemctl", "restart"], ["systemctl", "start"],
                                             ["systemctl", "stop"], ["systemctl", "enable"])]
    # The same release already active: nothing at all.
    result, calls = _activate(tmp_path, root, pending, "job.timer", "none", "no", "no", "-", "-", "-")
    assert result.returncode == 0 and "switched" not in result.stdout
    assert (root / ".venv").readlink() == Path("releases/r1")


def test_a_new_timer_that_does_not_stay_up_is_stopped_by_its_own_name(tmp_path):
    """A new timer failing its gate is stopped as itself (job.timer), not as a service or a
    socket of that name."""
    root, pending = tmp_path / "app", tmp_path / "pending"
    (root / "releases" / "r1").mkdir(parents=True)
    (root / ".venv").symlink_to("releases/r1")
    # systemctl as the stub, but the timer never active.
    never_active = f"#!{sys.executable}\n{_STUB}".replace('print("active")', 'print("failed")')
    result, calls = _activate(tmp_path, root, pending, "job.timer", "start", "no", "yes", "-", "-", "-",
                              validate="true", timeout="1", programs={"systemctl": never_active})
    assert result.returncode == 1
    assert "job.timer did not stay up" in result.stderr
    assert "NOTHING TO RESTORE for job.timer" in result.stderr
    assert ["systemctl", "start", "job.timer"] in calls
    assert ["systemctl", "stop", "job.timer"] in calls
    assert not [c for c in calls if any(w.startswith("job.timer.") for w in c)]
