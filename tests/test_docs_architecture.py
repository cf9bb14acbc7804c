"""docs/architecture.md against the code: the tree names every loose module and package of
``ag2api/`` and nothing that is gone, every module (and ``module.py:Name``) the page names
exists, the state table lists the members of ``AccountState`` and only those, and the dialect
recipe names every field of the ``Dialect`` entry."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from ag2api.translate.dialect import Dialect, Errors, ModelList

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ag2api"
PAGE = ROOT / "docs" / "architecture.md"
TEXT = PAGE.read_text(encoding="utf-8")
NAME = re.compile(r"[\w.]+(?:\.py|/)")
# `handlers/completion.py`, `state/base.py:Routing`, `ag2api/testing/`, `dialect.py`
MODULE_REF = re.compile(r"((?:[\w]+/)*(?:[\w]+\.py|[\w]+/))(?::([\w.]+))?")


def tree_block(text: str) -> list[str]:
    section = text.split("## The tree", 1)[1]
    return section.split("```", 2)[1].splitlines()[1:]


def tree_entries(lines: list[str]) -> list[tuple[Path, str, int]]:
    """(parent folder, name, depth) for each name the tree lists. An entry line is indented by
    0, 2 or 4 spaces; its names come first, two spaces apart, then three or more spaces and what
    they own. Deeper lines continue the description above them."""
    parents: dict[int, Path] = {0: ROOT}
    found: list[tuple[Path, str, int]] = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent not in (0, 2, 4):
            continue
        depth = indent // 2
        names = re.split(r" {3,}", line.strip(), maxsplit=1)[0].split()
        assert all(NAME.fullmatch(n) for n in names), f"cannot read the tree line {line!r}"
        for name in names:
            found.append((parents[depth], name, depth))
            if name.endswith("/"):
                parents[depth + 1] = parents[depth] / name.rstrip("/")
    return found


def children(folder: Path) -> set[str]:
    """A folder's modules (``x.py``) and sub-folders (``x/``), as the tree writes them."""
    out = set()
    for p in folder.iterdir():
        if p.name == "__pycache__":
            continue
        if p.is_dir():
            out.add(p.name + "/")
        elif p.suffix == ".py":
            out.add(p.name)
    return out


def test_every_name_in_the_tree_exists() -> None:
    missing = [
        (parent / name).relative_to(ROOT).as_posix()
        for parent, name, _ in tree_entries(tree_block(TEXT))
        if not (parent / name.rstrip("/")).exists()
    ]
    assert not missing, f"docs/architecture.md's tree names what does not exist: {missing}"


def test_the_tree_lists_every_loose_module_and_package() -> None:
    """Where the tree lists a folder's contents (``ag2api/``, ``translate/``), it lists all of
    them: a new package or loose module cannot go unmentioned."""
    listed: dict[Path, set[str]] = {}
    for parent, name, depth in tree_entries(tree_block(TEXT)):
        if depth:
            listed.setdefault(parent, set()).add(name)
    assert PACKAGE in listed and PACKAGE / "translate" in listed
    for folder, names in listed.items():
        unlisted = sorted(children(folder) - names)
        where = folder.relative_to(ROOT).as_posix()
        assert not unlisted, f"docs/architecture.md's tree leaves out {where}/{unlisted}"


def defined(path: Path) -> set[str]:
    """The names a module defines or imports at its top level, and each class's members."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{item.name}")
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(f"{node.name}.{item.target.id}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def resolve(ref: str) -> list[Path]:
    """Where a module the page names may be: from the repository root (``ag2api/…``,
    ``tests/…``), inside the package (``handlers/base.py``), or, a bare file name, anywhere in
    the package (``dialect.py`` of a dialect folder)."""
    found = [p for p in (ROOT / ref, PACKAGE / ref) if p.exists()]
    if found or "/" in ref.rstrip("/"):
        return found
    return [p for p in PACKAGE.rglob(ref.rstrip("/")) if "__pycache__" not in p.parts]


def test_every_module_and_name_the_page_names_exists() -> None:
    problems = []
    for span in re.findall(r"`([^`\s]+)`", TEXT):
        match = MODULE_REF.fullmatch(span.removesuffix("()"))
        if match is None or "<" in span:
            continue
        ref, name = match.groups()
        where = resolve(ref)
        if not where:
            problems.append(f"{span}: no such module or package")
        elif name and not any(name in defined(p) for p in where if p.is_file()):
            problems.append(f"{span}: {ref} defines no {name}")
    assert not problems, problems


def state_table() -> str:
    section = TEXT.split("## The state interface", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return "\n".join(rows[1:])  # not the header


def test_the_state_table_lists_the_contract() -> None:
    from ag2api.state.base import AccountState

    members = {n for n in vars(AccountState) if not n.startswith("_")}
    named = set()
    for row in state_table().splitlines():
        for span in re.findall(r"`([^`]+)`", row.split("|")[2]):
            head = span.split("(")[0].split(".")[0]
            if head.isidentifier() and head.islower():
                named.add(head)
    assert named - members == set(), f"not members of AccountState: {named - members}"
    assert members - named == set(), f"the state table leaves out {members - named}"


def test_the_dialect_recipe_names_every_field_of_the_entry() -> None:
    step = TEXT.split("2. Fill the entry:", 1)[1].split("\n3. ", 1)[0]
    named = {s for s in re.findall(r"`(\w+)`", step) if s.islower()}
    fields = {f.name for f in dataclasses.fields(Dialect)}
    known = fields | {f.name for cls in (Errors, ModelList) for f in dataclasses.fields(cls)}
    assert fields - named == set(), f"the recipe leaves out Dialect fields {fields - named}"
    assert named - known == set(), f"the recipe names fields that do not exist: {named - known}"


def test_the_checks_catch_a_stale_tree(tmp_path: Path) -> None:
    lines = ["ag2api/", "  gone.py       a module that left", "                its continuation"]
    entries = tree_entries(lines)
    assert [(p.relative_to(ROOT).as_posix(), n) for p, n, _ in entries] == [
        (".", "ag2api/"),
        ("ag2api", "gone.py"),
    ]
    assert not (PACKAGE / "gone.py").exists()
    assert resolve("handlers/nothing_here.py") == []
    assert "Dispatcher.stream" in defined(PACKAGE / "failover" / "dispatcher.py")
