"""The suite's own rule on fixtures: each is defined once (a module may extend a fixture, or set
one of the inputs the conftest leaves open). Where shared code lives: tests/test_test_tree.py."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Fixtures the conftest offers for a module to replace with its own value.
OVERRIDE_POINTS = {"accounts_spec", "config_overrides", "app"}


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
import pytest

@pytest.fixture
def claude(base_url): ...

@pytest.fixture(params=[1])
def services(services): ...

def helper(): ...
"""


def test_the_checks_see_what_they_look_for() -> None:
    assert fixtures(SAMPLE) == [("claude", False), ("services", True)]
