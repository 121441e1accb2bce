"""The project's modules import each other in layers: no cycle, and no import hidden in a function.

An import inside a function is how a cycle is usually kept from failing at startup; forbidding
both keeps the layering visible in each module's header. Imports of third-party modules inside
functions (pyinfra, kept out of `--help`) are not counted: only the project's own modules are.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from aitbc_infra import PROJECT_ROOT

PACKAGES = (PROJECT_ROOT / "src" / "aitbc_infra", PROJECT_ROOT / "deploys")


def _module_name(path: Path, package_dir: Path) -> str:
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {_module_name(path, pkg): path for pkg in PACKAGES for path in sorted(pkg.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` denotes: itself, or the package it is an attribute of."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import statement."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _base(module, path, child)
                # `from pkg import sub` imports the submodule when there is one, else pkg itself.
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, nested)
                continue
            for name in names:
                target = _resolve(name, modules)
                if target is not None and target != module:
                    found.append((target, child.lineno, in_function))

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges between project modules, and each import of one made inside a function."""
    modules = project_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    hidden = []
    for module, path in modules.items():
        for target, line, in_function in imports(module, path, modules):
            graph[module].add(target)
            where = f"{path.relative_to(PROJECT_ROOT)}:{line}: imports {target} inside a function"
            if in_function and where not in hidden:
                hidden.append(where)
    return graph, hidden


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def dfs(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in done and (cycle := dfs(nxt)):
                return cycle
        on_stack.discard(stack.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := dfs(start)):
            return cycle
    return None


def test_the_graph_covers_both_packages_and_resolves_submodules():
    graph, _ = import_graph()
    assert "aitbc_infra.cli" in graph and "deploys.site" in graph
    # `from aitbc_infra.sandbox import image` is an edge to the submodule, not the package.
    assert "aitbc_infra.sandbox.image" in graph["aitbc_infra.sandbox.fleet"]
    assert "aitbc_infra.errors" in graph["aitbc_infra.cli"]


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_function_level_imports_are_seen(tmp_path):
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("")
    (pkg / "high.py").write_text("import os\n\ndef f():\n    from p import low\n    import os\n")
    modules = {_module_name(f, pkg): f for f in pkg.rglob("*.py")}
    assert imports("p.high", pkg / "high.py", modules) == [("p.low", 4, True)]


def test_no_import_cycle_between_project_modules():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_project_module_imported_inside_a_function():
    _, hidden = import_graph()
    assert not hidden, "\n".join(hidden)


SANDBOX = "aitbc_infra.sandbox"
# The command line registers the sandbox's subcommands and hands `verify` its outside view.
SANDBOX_USERS = {"aitbc_infra.cli"}


def _in_sandbox(module: str) -> bool:
    return module == SANDBOX or module.startswith(f"{SANDBOX}.")


def test_nothing_outside_the_sandbox_imports_it_but_the_command_line():
    """The sandbox stands on the deploy, never the reverse: no module of src/aitbc_infra/ (but
    the command line) nor of deploys/ imports from src/aitbc_infra/sandbox/."""
    graph, _ = import_graph()
    assert any(map(_in_sandbox, graph["aitbc_infra.cli"]))  # the one use, seen
    found = [f"{module} imports {target}" for module, targets in sorted(graph.items())
             if not _in_sandbox(module) and module not in SANDBOX_USERS
             for target in sorted(targets) if _in_sandbox(target)]
    assert not found, "\n".join(found)


def test_help_does_not_import_pyinfra():
    """pyinfra is the slowest import: `aitbc-infra --help` and every parser stay without it."""
    code = ("import sys; from aitbc_infra.cli import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyinfra', 'pyinfra_cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
