"""The package's imports point downward: no cycle between modules (type-only, function-level and
relative imports included), no package importing one from a layer above it, and translate/
loading only itself and pure leaves. Each package says what it owns, naming all it holds."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ag2api"

# Bottom to top; a module imports from its own layer or those below. Within a layer the cycle
# check keeps the packages in one order.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ag2api", "ids", "jsoncodec", "redact", "files"),
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
    return {module_of(path): path for path in ROOT.rglob("*.py")}


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, module: str, is_package: bool, known: Iterable[str]) -> Iterator[str]:
    """Every ag2api module ``source`` (the text of ``module``) imports, wherever the import
    statement sits; a relative import resolved against the module's package."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            if base.split(".")[0] == "ag2api":
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    yield full if full in known else base
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "ag2api")


def imported(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every ag2api module ``path`` imports (see :func:`imports_in`)."""
    source = path.read_text(encoding="utf-8")
    yield from imports_in(source, module_of(path), path.name == "__init__.py", known)


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


# What translate/ may import besides itself: leaves that do no I/O and import nothing above them.
PURE_LEAVES = {
    "ag2api",
    "ag2api.errors",
    "ag2api.ids",
    "ag2api.jsoncodec",
    "ag2api.redact",
    "ag2api.models",
    "ag2api.models.entries",
    "ag2api.models.families",
}
# Network, files, processes, threads, clocks and logs: nothing pure imports them.
IO_MODULES = {
    "asyncio",
    "concurrent",
    "filelock",
    "http",
    "io",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "pycurl",
    "redis",
    "select",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "tempfile",
    "threading",
    "time",
    "tornado",
    "urllib.request",
    "watchfiles",
}
# os.urandom is randomness, not I/O (``ids``); any other use of os is.
PURE_OS = {"urandom"}


def closure(roots: Iterable[str]) -> set[str]:
    """Every ag2api module loaded by importing ``roots``: what they import, transitively, and
    the packages (``__init__``) each of those sits in."""
    edges = graph()
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)]
        todo += [*edges[module], *parents]
    return seen


def io_used(source: str) -> list[str]:
    """The I/O modules ``source`` imports (``os`` only for more than ``os.urandom``), and the
    built-in I/O it calls."""
    tree = ast.parse(source)
    names: list[str] = []
    os_uses: set[str] = set()
    calls: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names += [node.module] if node.module != "os" else [f"os.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            os_uses |= {node.attr} if node.value.id == "os" else set()
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.add(node.func.id)
    # ``import os`` passes when os.urandom is all it uses.
    allowed = {f"os.{n}" for n in PURE_OS} | ({"os"} if os_uses <= PURE_OS else set())
    found = [
        n
        for n in names
        if (n.split(".")[0] in IO_MODULES or ".".join(n.split(".")[:2]) in IO_MODULES)
        and n not in allowed
    ]
    return found + sorted(calls & {"open", "print", "input"})


def translate_modules() -> set[str]:
    return {m for m in modules() if m == "ag2api.translate" or m.startswith("ag2api.translate.")}


def test_translation_imports_only_pure_leaves() -> None:
    """translate/ stays pure: what it loads, transitively, is translate/ and the pure leaves —
    not the config, the upstream client or the live model catalog."""
    outside = closure(translate_modules()) - translate_modules()
    assert outside - PURE_LEAVES == set(), "translate/ reaches past the pure leaves"


def test_translation_and_its_leaves_do_no_io() -> None:
    known = modules()
    offenders = [
        f"{module}: {name}"
        for module in sorted(translate_modules() | PURE_LEAVES)
        for name in io_used(known[module].read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_purity_checks_catch_io_and_relative_imports() -> None:
    known = modules()
    sample = "from . import dialect\nfrom ..models.catalog import ModelCatalog\nimport ag2api.ids\n"
    assert set(imports_in(sample, "ag2api.translate.input", False, known)) == {
        "ag2api.translate.dialect",
        "ag2api.models.catalog",
        "ag2api.ids",
    }
    assert set(imports_in("from .gemini import events", "ag2api.translate", True, known)) == {
        "ag2api.translate.gemini.events"
    }
    assert io_used("import os\nos.urandom(8)") == []
    assert io_used("import os\nos.getenv('X')") == ["os"]
    assert io_used("from os import path\nimport time\nopen('f')") == ["os.path", "time", "open"]
    assert io_used("import asyncio.tasks\nfrom tornado.ioloop import IOLoop") == [
        "asyncio.tasks",
        "tornado.ioloop",
    ]


def test_each_package_says_what_it_owns() -> None:
    for init in ROOT.rglob("__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init.relative_to(ROOT.parent)} has no docstring"


def unnamed_in_docstring(package: Path) -> list[str]:
    """The modules (``name``) and folders (``name/``) of ``package`` its ``__init__``
    docstring does not name."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    wanted = [
        f"``{p.stem}``" if p.is_file() else f"``{p.name}/``"
        for p in sorted(package.iterdir())
        if (p.suffix == ".py" and not p.stem.startswith("__"))
        or (p.is_dir() and p.name != "__pycache__")
    ]
    return [name for name in wanted if name not in (doc or "")]


def test_each_package_docstring_names_all_it_holds() -> None:
    unnamed = {
        init.parent.relative_to(ROOT.parent).as_posix(): missing
        for init in sorted(ROOT.rglob("__init__.py"))
        if (missing := unnamed_in_docstring(init.parent))
    }
    assert unnamed == {}, "name each module and folder in its package's docstring"


# Entry points and true leaves; everything else lives in a package named for what it owns.
LOOSE = {"__init__", "__main__", "cli", "app", "services", "demo"} | {
    "errors",
    "ids",
    "jsoncodec",
    "redact",
}


def test_only_entry_points_and_leaves_are_loose_modules() -> None:
    loose = {path.stem for path in ROOT.glob("*.py")}
    assert loose <= LOOSE, f"put these in a package: {sorted(loose - LOOSE)}"
