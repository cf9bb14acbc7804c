"""Where the suite's shared code lives: a conftest holds fixtures only, so nothing imports from
one (pytest finds its fixtures by itself); helpers and constants two modules share live in
``tests/support/``, never in a test module another one imports."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Modules of another session's that still import from a conftest; each entry must still offend
# (the test says when one can go).
CONFTEST_IMPORTERS_ALLOWED: set[str] = set()


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def imported(source: str, module: str) -> set[str]:
    """Every module ``module`` (its ``source``) may import, absolute: each module named, and each
    name imported from one taken as a possible submodule. Imports inside functions count too."""
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


def is_conftest(name: str) -> bool:
    return "conftest" in name.split(".")


def is_test_module(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("test_")


def suite() -> dict[str, set[str]]:
    """Each module of the suite, with what it imports."""
    return {
        module_name(path): imported(path.read_text(encoding="utf-8"), module_name(path))
        for path in sorted(TESTS.rglob("*.py"))
    }


def test_nothing_imports_from_a_conftest() -> None:
    offenders = {
        name: sorted(filter(is_conftest, found))
        for name, found in suite().items()
        if any(map(is_conftest, found))
    }
    for name in CONFTEST_IMPORTERS_ALLOWED:
        assert name in offenders, f"{name} no longer imports a conftest: drop it from the allowance"
        del offenders[name]
    assert offenders == {}, "a conftest keeps fixtures only: move the helper to tests/support/"


def test_no_test_module_imports_another() -> None:
    modules = suite()
    offenders = {
        name: others
        for name, found in modules.items()
        if (others := sorted(m for m in found if m != name and is_test_module(m) and m in modules))
    }
    assert offenders == {}, "move what they share to tests/support/"


SAMPLE = """
import tests.conftest
from . import conftest
from .conftest import show
from ..support.http import fetch
from tests.keys import test_admission as admission
from tests.support.files import conftest_like

def inner():
    from tests.handlers.test_chat import ask
"""


def test_the_checks_see_what_they_look_for() -> None:
    found = imported(SAMPLE, "tests.admin.browser.test_sample")
    assert sorted(filter(is_conftest, found)) == [
        "tests.admin.browser.conftest",
        "tests.admin.browser.conftest.show",
        "tests.conftest",
    ]
    assert sorted(filter(is_test_module, found)) == [
        "tests.handlers.test_chat",
        "tests.keys.test_admission",
    ]
