"""The shape of the house (issue 11), checked on the source tree so it cannot silently rot:
file sizes, SQL only in the store, no import cycles (function-level imports count), the library
below the CLI and the demo never importing `reports`, and harness/README.md naming every package."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "trainers", "reports", "dashboard")
MAX_LINES = 600


def _py_files() -> Iterator[Path]:
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in _py_files()}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Modules of this tree that an import statement names (a submodule when `from pkg import sub`
    names one, else the module or package itself)."""
    out: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                out.append(name)
        return out
    if node.level:
        base = module if _is_package(module) else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in MODULES:
            out.append(sub)
        elif target in MODULES:
            out.append(target)
    return out


def _imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):  # every import, at module level or inside a function
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for dep in _resolve(module, node):
                found.add(dep)
                # importing a.b.c runs a.b's __init__ first: count that edge too, except for the
                # top-level packages and the packages the importing module itself lives in
                parts = dep.split(".")
                for i in range(2, len(parts)):
                    parent = ".".join(parts[:i])
                    if parent in MODULES and not module.startswith(parent + "."):
                        found.add(parent)
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        deps = _imports(module)
        if _is_package(module):  # a package __init__ re-exporting its own submodules is no cycle
            deps = {d for d in deps if not d.startswith(module + ".")}
        graph[module] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return comps


def test_files_stay_readable() -> None:
    big = {
        str(p.relative_to(ROOT)): n for p in _py_files() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"files over {MAX_LINES} lines (two concepts in one room?): {big}"


def test_sql_only_in_the_store() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("harness.store"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            if any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in mods):
                offenders.append(name)
    assert not offenders, f"sqlalchemy imported outside harness/store/: {sorted(set(offenders))}"


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_library_never_imports_reports() -> None:
    graph = _graph()
    offenders = sorted(
        m
        for m, deps in graph.items()
        if m.startswith("harness")
        and not (m.startswith("harness.cli") or m == "harness.demo")
        and any(d == "reports" or d.startswith("reports.") for d in deps)
    )
    assert offenders == []


def test_harness_readme_names_every_package() -> None:
    text = (ROOT / "harness" / "README.md").read_text(encoding="utf-8")
    packages = sorted(p.parent.name for p in (ROOT / "harness").glob("*/__init__.py"))
    missing = [p for p in packages if f"`{p}/`" not in text]
    assert not missing, f"harness/README.md does not describe: {missing}"


@pytest.mark.parametrize(
    "src, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder_finds_cycles(src: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert _cycles(src) == expected


def test_import_resolution_counts_function_level_imports() -> None:
    # the checker must see imports inside functions, or it would miss lazy cycles
    counts: dict[str, int] = defaultdict(int)
    for module in MODULES:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)) and _resolve(module, sub):
                        counts[module] += 1
    assert counts, "expected some function-level imports in the tree"
    some = next(iter(counts))
    assert _imports(some), f"{some} has function-level imports the checker did not see"
