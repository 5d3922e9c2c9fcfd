"""The package's import graph (module-level and function-level imports alike) has no cycle."""

import ast
from pathlib import Path

import attnsr

ROOT = Path(attnsr.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from attnsr.x import y` names the module attnsr.x.y when it is one
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_graph_sees_the_lpips_and_assets_edges():
    graph = _graph()
    assert "attnsr.assets" in graph["attnsr.metrics.lpips"]
    assert "attnsr.ops.backbones" in graph["attnsr.assets"]


def test_no_import_cycle_between_modules():
    graph = _graph()
    # package __init__ files re-export their children, so a child importing a sibling through the package
    # is not a cycle of code: leave out the edges from a package to its own submodules
    pruned = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    assert _cycle(pruned) is None, " -> ".join(_cycle(pruned) or [])
