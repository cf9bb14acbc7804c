"""The suite's own rules: code shared by tests lives in ``tests/support/`` or a conftest, never in
a test module another one imports; and each fixture is defined once (a module may extend a
fixture, or set one of the inputs the conftest leaves open)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Fixtures the conftest offers for a module to replace with its own value.
OVERRIDE_POINTS = {"accounts_spec", "config_overrides", "app"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def imports(source: str, module: str) -> set[str]:
    """What ``module`` (its ``source``) imports from, absolute: each module named, and each
    name it imports as a possible submodule. Imports inside functions count too."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def fixtures(source: str) -> list[tuple[str, bool]]:
    """(name, extends) of each fixture ``source`` defines; ``extends``: it asks for the fixture of
    its own name, i.e. builds on the one it overrides."""
    found = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr == "fixture":
                params = {a.arg for a in node.args.args}
                found.append((node.name, node.name in params))
    return found


def test_each_fixture_is_defined_once() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(TESTS.rglob("*.py")):
        for name, extends in fixtures(path.read_text(encoding="utf-8")):
            if not extends and name not in OVERRIDE_POINTS:
                where[name].append(str(path.relative_to(TESTS)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert twice == {}, "one fixture per concept: keep one (in a conftest) and use it"


SAMPLE = """
import tests.server.test_reload
from . import test_sse
from ..support.http import fetch
from tests.keys import test_admission as admission
import pytest

@pytest.fixture
def claude(base_url): ...

@pytest.fixture(params=[1])
def services(services): ...

def helper(): ...

def inner():
    from tests.handlers.test_chat import ask
"""


def test_the_checks_see_what_they_look_for() -> None:
    found = imports(SAMPLE, "tests.upstream.test_sample")
    assert {
        "tests.server.test_reload",
        "tests.upstream.test_sse",
        "tests.support.http",
        "tests.keys.test_admission",
        "tests.handlers.test_chat",
    } <= found
    assert fixtures(SAMPLE) == [("claude", False), ("services", True)]
