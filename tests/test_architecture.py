"""The package's dependency rules, read from the source: mapping/ is pure geometry that
never imports the optional techniques or anything above it, and no two modules import
each other at load time (a function-local import is a deliberate late binding, not a
dependency of the module)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hyperdrive_sim"

#: what each layer may not import (DESIGN: cli → sweep → evaluators → mapping → workload/spec)
FORBIDDEN = {
    "mapping": ("techniques", "evaluators", "sweep", "explore", "planner", "cli", "pricing"),
    "workload": ("mapping", "evaluators", "techniques", "sweep", "explore", "planner", "cli"),
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules of the package imported at load time (module body, not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("hyperdrive_sim")}


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _top_level_imports(path):
            while imported and imported not in modules:  # "pkg.mod.Name" -> "pkg.mod"
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def test_mapping_and_workload_import_nothing_above_them():
    offences = []
    for name, targets in _graph().items():
        layer = name.split(".")[1] if name.count(".") else ""
        for target in targets:
            top = target.split(".")[1] if target.count(".") else ""
            if top in FORBIDDEN.get(layer, ()):
                offences.append(f"{name} imports {target}")
    assert offences == []


def test_no_import_cycle_at_load_time():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checks_can_fail():
    """The graph sees a real import: mapping.pipeline depends on mapping.plan."""
    assert "hyperdrive_sim.mapping.plan" in _graph()["hyperdrive_sim.mapping.pipeline"]
