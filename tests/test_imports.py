"""The package's imports point downward: no cycle between modules (type-only and function-level
imports included), and no package importing one from a layer above it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ag2api"

# Bottom to top; a module imports from its own layer or those below. Within a layer the cycle
# check keeps the packages in one order.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ag2api", "ids", "jsoncodec", "redact", "safewrite", "conversation"),
    ("errors", "upstream", "logs", "observe", "quota"),
    ("config",),
    ("models", "keys", "accounts"),
    ("translate", "state", "media"),
    ("failover", "testing"),
    ("services",),
    ("handlers",),
    ("admin",),
    ("server", "demo"),
    ("app",),
    ("cli",),
    ("__main__",),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every ag2api module ``path`` imports, wherever the import statement sits."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ag2api"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield full if full in known else node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("ag2api"))


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {dep for dep in imported(path, known) if dep != name} for name, path in known.items()
    }


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_another_that_imports_it_back() -> None:
    assert cycles(graph()) == []


def test_no_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for module, deps in graph().items():
        edges.setdefault(package(module), set()).update(
            package(d) for d in deps if package(d) != package(module)
        )
    assert cycles(edges) == []


def test_every_package_has_a_layer_and_imports_only_downward() -> None:
    upward = []
    for module, deps in graph().items():
        layer = LAYER_OF.get(package(module))
        assert layer is not None, f"{module}: add its package to LAYERS"
        upward += [f"{module} → {d}" for d in deps if LAYER_OF[package(d)] > layer]
    assert upward == []


def test_translation_is_pure() -> None:
    """translate/ does no I/O: it imports no network, file or process module."""
    impure = {"socket", "asyncio", "tornado", "pycurl", "redis", "sqlite3", "subprocess", "os"}
    offenders = []
    for path in (ROOT / "translate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in impure]
    assert offenders == []


def test_each_package_says_what_it_owns() -> None:
    for init in ROOT.rglob("__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init.relative_to(ROOT.parent)} has no docstring"
