"""The package's import graph: no cycle, and data flows one way (README "Development").

Edges are the imports a module runs when it is loaded (module level, including under `if` and
`try`); imports inside functions are the deliberate lazy ones that keep `--help` free of JAX.
"""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "archinspect"


def _modules() -> dict[str, object]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def known(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        statements = []
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.If | ast.Try):
                statements.extend(node.body)
            else:
                statements.append(node)
        deps = set()
        for node in statements:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("archinspect"):
                assert node.module is not None
                deps.add(known(node.module))
                deps.update(
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if f"{node.module}.{a.name}" in modules
                )
            elif isinstance(node, ast.Import):
                deps.update(known(a.name) for a in node.names if a.name.startswith("archinspect"))
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                found.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_known_edges():
    graph = _graph()
    assert "archinspect.report" in graph["archinspect.analysis.receptive_field.structural"]
    assert "archinspect.families" in graph["archinspect.spec.validate"]


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_data_model_and_families_import_no_compute():
    """report.py, metrics.py and the family declarations are read by every layer: they import
    nothing that computes (no analysis, command, build, model or renderer) -- except the
    JAX-free cone algebra that a family's analytic receptive field is written in."""
    compute = ("analysis", "commands", "build", "models", "render", "cli")
    cones = {"archinspect.analysis.receptive_field.analytic"}
    graph = _graph()
    for name, deps in graph.items():
        if name in ("archinspect.report", "archinspect.metrics") or name.startswith(
            "archinspect.families"
        ):
            bad = sorted(
                d for d in deps - cones if d.split(".")[1:2] and d.split(".")[1] in compute
            )
            assert bad == [], name
