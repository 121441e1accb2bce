"""Every name and path the deploy shares with its hosts is spelled in one module,
aitbc_infra/host_names.py: no other code file of src/, deploys/ or deploys/scripts/ holds one
of its values. Python code is read as its string literals (docstrings are its prose, as comments
are the scripts'); a script as its code lines.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from aitbc_infra import PROJECT_ROOT, host_names
from deploys import shell
from deploys.state import PathStates

HOME = PROJECT_ROOT / "src" / "aitbc_infra" / "host_names.py"
CODE = [*sorted((PROJECT_ROOT / "src").rglob("*.py")), *sorted((PROJECT_ROOT / "deploys").rglob("*.py")),
        *sorted((PROJECT_ROOT / "deploys" / "scripts").glob("*.sh"))]

# A journal is named for the program whose configuration it covers ("nginx", "sshd"): those
# words are also the programs' and units' own names, so it is the journals that are held to the
# home module (test_every_journal_takes_its_name_from_the_home_module), not the words.
JOURNALS = {name for name in vars(host_names) if name.endswith("_JOURNAL")}

# The same spelling meaning something else, not a path on a host: (file, value) -> what it is.
ELSEWHERE = {
    ("src/aitbc_infra/wheelhouse.py", host_names.VENV_LINK):
        "a virtualenv inside a source tree on this machine, left out of the release",
    ("src/aitbc_infra/sandbox/from_host.py", host_names.VENV_LINK):
        "this project's own venv in the operator's checkout (./dev setup's), not an app's",
}


def shared_values() -> dict[str, str]:
    """{value: its name in the home module}."""
    return {value: name for name, value in vars(host_names).items()
            if name.isupper() and isinstance(value, str) and name not in JOURNALS}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def code_strings(path: Path) -> list[str]:
    """What the file says as code: a Python file's string literals (each literal part of an
    f-string on its own), a script's lines without their comments."""
    text = path.read_text()
    if path.suffix == ".py":
        tree = ast.parse(text, str(path))
        prose = _docstrings(tree)
        return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                and isinstance(node.value, str) and id(node) not in prose]
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [re.sub(r"\s+#\s.*$", "", line) for line in lines]


def occurs(value: str, text: str) -> bool:
    """Whether `text` spells `value`: an absolute path (or one below it), an affix anywhere
    (".aitbc-prev", "restart-"), a name as a component of a path ("releases/", "/.venv"), or a
    file's name as a whole string."""
    v = re.escape(value)
    if value.startswith("/"):
        return re.search(rf"{v}(?![\w.-])", text) is not None
    if value[0] in "-@" or value[-1] in "-@" or value.startswith(".aitbc-"):
        return value in text
    if "." in value and text == value:
        return True
    return re.search(rf"(?<=/){v}(?![^\s/\"'])|(?<![^\s/\"'=]){v}(?=/)", text) is not None


def test_occurs_reads_paths_affixes_and_components():
    assert occurs("/etc/nginx", 'find /etc/nginx/conf.d -newer "$p"')
    assert not occurs("/etc/nginx", "/etc/nginx-old")
    assert occurs(".aitbc-prev", '"$1.aitbc-prev$2"') and occurs("restart-", "restart-")
    assert occurs("releases", 'ls -1t "$root/releases"') and occurs("releases", "releases/")
    assert not occurs("releases", "number of releases to keep")
    assert occurs(".venv", "/.venv") and occurs(".venv", ".venv")
    assert not occurs(".venv", "a .venv here")


def test_the_scan_reads_literals_not_docstrings(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""In /etc/aitbc."""\n\ndef f(x):\n    """/etc/aitbc too."""\n'
                      '    return f"{x}/etc/aitbc"\n')
    script = tmp_path / "s.sh"
    script.write_text('# /etc/aitbc\nx=/etc/aitbc  # /var/lib\n')
    assert code_strings(module) == ["/etc/aitbc"]
    assert code_strings(script) == ["x=/etc/aitbc"]


def test_each_shared_name_and_path_is_spelled_in_the_home_module_only():
    values = shared_values()
    assert {"/var/lib/aitbc", ".aitbc-prev", "/var/cache/aitbc-infra/path-hashes",
            "/run/lock/aitbc-deploy.lock", "/etc/aitbc", "releases"} <= set(values)
    found = []
    for path in CODE:
        if path == HOME:
            continue
        where = str(path.relative_to(PROJECT_ROOT))
        for text in code_strings(path):
            found += [f"{where}: {values[v]} ({v!r}) in {text!r}" for v in values
                      if (where, v) not in ELSEWHERE and occurs(v, text)]
    assert not found, "\n".join(found)


def test_each_exception_is_still_one():
    for (where, value), _ in ELSEWHERE.items():
        assert any(occurs(value, text) for text in code_strings(PROJECT_ROOT / where)), where


def test_the_digest_cache_reaches_path_states_as_an_argument():
    """sh -c BODY NAME, the shared names, then the script's own: the cache first."""
    argv = shlex.split(PathStates().command(paths=["/etc"], trees=[], globs=[]))
    own = argv[4 + len(host_names.SCRIPT_ARGUMENTS):]
    assert argv[3] == "path-states" and own[:2] == [host_names.PATH_HASHES, "/etc"]


def test_the_home_module_holds_each_value_once():
    values = [v for name, v in vars(host_names).items() if name.isupper() and isinstance(v, str)]
    assert len(values) == len(set(values))


def _journal_names(path: Path) -> list[str]:
    """`Journal("literal", ...)` in a file: a journal named in place."""
    tree = ast.parse(path.read_text(), str(path))
    named = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Journal":
            first = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "name"), None)
            if isinstance(first, ast.Constant):
                named.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {first.value!r}")
    return named


def test_every_journal_takes_its_name_from_the_home_module():
    assert JOURNALS
    named = [n for path in CODE if path.suffix == ".py" for n in _journal_names(path)]
    assert not named, "\n".join(named)


def test_lib_sh_takes_exactly_the_script_arguments():
    """lib.sh names the shared values in SCRIPT_ARGUMENTS' order, then shifts them off: a
    script's own first argument is $1 after it."""
    code = code_strings(shell.SCRIPTS / "lib.sh")
    names = re.findall(r"(\w+)=\$(\d)", code[0])
    assert [int(i) for _, i in names] == list(range(1, len(host_names.SCRIPT_ARGUMENTS) + 1))
    assert code[1] == f"shift {len(host_names.SCRIPT_ARGUMENTS)}"
    probe = "printf '%s\\n' " + " ".join(f'"${n}"' for n, _ in names) + ' "$1"'
    out = subprocess.run(["sh", "-c", "\n".join(code[:2]) + "\n" + probe, "lib",
                          *host_names.SCRIPT_ARGUMENTS, "own"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [*host_names.SCRIPT_ARGUMENTS, "own"]


@pytest.mark.parametrize("script", sorted((PROJECT_ROOT / "deploys" / "scripts").glob("*.sh")),
                         ids=lambda p: p.name)
def test_no_script_spells_a_host_directory(script):
    """A path on the host reaches a script as an argument: none is written in one."""
    spelled = [line for line in code_strings(script)
               if re.search(r"(?<![\w$}])/(etc|var|run|usr/local|opt|srv)/", line)]
    assert not spelled, "\n".join(spelled)
