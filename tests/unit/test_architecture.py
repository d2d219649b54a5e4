"""The layout ARCHITECTURE.md describes, checked on the code: which part may import which,
no import cycles, short modules, and deferred imports that say why."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PARTS = ("pipeline", "store", "worker", "dashboard", "cli", "settings", "migrations")
MAX_LINES = 400

# part -> the parts it may import (besides itself)
ALLOWED = {
    "settings": set(),
    "pipeline": set(),
    "store": {"pipeline", "settings"},
    "migrations": {"pipeline", "settings", "store"},
    "worker": {"pipeline", "settings", "store", "migrations"},
    "dashboard": {"pipeline", "settings", "store", "migrations"},
    "cli": {"pipeline", "settings", "store", "migrations", "worker", "dashboard"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for part in PARTS:
        for path in sorted((REPO / part).rglob("*.py")):
            if "versions" in path.parts:  # migrations declare their tables locally
                continue
            relative = path.relative_to(REPO).with_suffix("")
            name = ".".join(relative.parts).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _function_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [
        node
        for func in ast.walk(tree) if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(func) if isinstance(node, ast.Import | ast.ImportFrom)
    ]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every project import of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target:
                found.append((target, node.lineno))
    return found


def _resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _part(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_part_imports_only_the_parts_below_it(module: str) -> None:
    part = _part(module)
    wrong = sorted({t for t, _ in _imports(MODULES[module])
                    if _part(t) != part and _part(t) not in ALLOWED[part]})
    assert not wrong, f"{module} ({part}) imports {wrong}"


def test_worker_and_dashboard_never_import_each_other() -> None:
    crossing = [(m, t) for m in MODULES for t, _ in _imports(MODULES[m])
                if {_part(m), _part(t)} == {"worker", "dashboard"}]
    assert not crossing


def test_there_are_no_import_cycles() -> None:
    graph = {m: {t for t, _ in _imports(p) if t != m} for m, p in MODULES.items()}
    # a package's __init__ importing its own submodules is how a package is assembled
    graph = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_short(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_an_import_inside_a_function_says_why(module: str) -> None:
    path = MODULES[module]
    lines = path.read_text(encoding="utf-8").splitlines()
    unexplained = []
    for node in _function_imports(ast.parse("\n".join(lines))):
        line = node.lineno
        here, above = lines[line - 1], lines[line - 2] if line > 1 else ""
        if "#" not in here and not above.strip().startswith("#"):
            unexplained.append(f"{path.relative_to(REPO)}:{line}: {here.strip()}")
    assert not unexplained, "deferred imports without a reason:\n" + "\n".join(unexplained)
