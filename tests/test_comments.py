"""Comments and docstrings cite only what a reader of the repository can open: no issue numbers,
and every document (with its section) they point to is in the repository. They say what the code
does and why, not its history ("used to", "no longer")."""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("ag2api", "scripts", "conf", "tests", ".ci")
TOP_FILES = ("Dockerfile", "docker-compose.yml", "setup.cfg", "pyproject.toml")
HASH_SUFFIXES = (".sh", ".yaml", ".yml", ".cfg", ".toml")
ISSUE = re.compile(r"\bissues?[ -]?#?\d+|\bissue-\d+", re.I)
DOC = re.compile(r"((?:[\w.-]+/)*[\w.-]+\.md|README|CONTRIBUTING)\b")
# "docs/protocol.md §7.3", "docs/protocol.md §5 and §5.1"
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
# 'docs/operations.md, "Docker"' or 'README ("Quick start")'
NAMED = re.compile(r"""^[,:]?\s*\(?["“]([^"”]+)["”]""")
# Words that narrate the code's past; quoted text (an upstream's own message) is not ours.
HISTORY = re.compile(
    r"(?<!\bbe )(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )(?<!\bbeen )\bused to\b"
    r"|\bno longer\b|\bany ?more\b|\bpreviously\b|\bformerly\b",
    re.I,
)
QUOTED = re.compile(r'"[^"\n]*"|“[^”]*”')


def python_comments(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    found = [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None and node.body:
                found.append((node.body[0].lineno, doc))
    return found


def hash_comments(path: Path) -> list[tuple[int, str]]:
    """``#`` comments of shell, YAML and config files (a ``#`` inside a word is not one)."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = re.search(r"(?:^|\s)#(?!!)(.*)", line)
        if match:
            found.append((number, match.group(1)))
    return found


@functools.cache
def comments() -> list[tuple[str, int, str]]:
    paths = [ROOT / name for name in TOP_FILES]
    for top in SCANNED:
        paths += sorted((ROOT / top).rglob("*"))
    found = []
    for path in paths:
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if path.suffix == ".py":
            texts = python_comments(path)
        elif path.suffix in HASH_SUFFIXES or path.name in ("run", "Dockerfile"):
            texts = hash_comments(path)
        else:
            continue
        rel = path.relative_to(ROOT).as_posix()
        found += [(rel, line, text) for line, text in texts]
    return found


def headings(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"^#+ (.+)$", text, re.M)


def problems(text: str) -> list[str]:
    """What is wrong with the references of one comment (empty: nothing)."""
    found = [f"cites {m.group(0)!r}" for m in ISSUE.finditer(text)]
    # The text between one document name and the next belongs to the first.
    names = list(DOC.finditer(text))
    cited = set()
    for i, match in enumerate(names):
        name = match.group(1)
        doc = ROOT / (name + ".md" if name in ("README", "CONTRIBUTING") else name)
        tail = text[match.end() : names[i + 1].start() if i + 1 < len(names) else len(text)]
        if not doc.is_file():
            found.append(f"points to {name}, which is not in the repository")
            cited.update(SECTION.findall(tail))
            continue
        titles = headings(doc)
        for section in SECTION.findall(tail):
            cited.add(section)
            if not any(re.match(rf"{re.escape(section)}\.?\s", t) for t in titles):
                found.append(f"points to {name} §{section}, which has no such section")
        named = NAMED.match(tail)
        title = " ".join(named.group(1).split()) if named else ""
        if title and not any(title.lower() in t.lower() for t in titles):
            found.append(f'points to {name} "{title}", which has no such section')
    for section in SECTION.findall(text):
        if section not in cited:
            found.append(f"cites §{section} of no document")
    return found


def history(text: str) -> list[str]:
    """The words of one comment that narrate history (empty: none)."""
    return [f"narrates history: {m.group(0)!r}" for m in HISTORY.finditer(QUOTED.sub("", text))]


def test_comments_do_not_narrate_history() -> None:
    bad = [
        f"{path}:{line}: {problem}" for path, line, text in comments() for problem in history(text)
    ]
    assert not bad, "\n".join(bad)


def test_the_history_check_catches_what_it_should() -> None:
    assert history("a null one is no value (it used to be a 500)") == [
        "narrates history: 'used to'"
    ]
    assert history("routes no longer refuse it; nothing is wrong anymore") == [
        "narrates history: 'no longer'",
        "narrates history: 'anymore'",
    ]
    assert history('the "no longer supported" notice; it cannot be used to dodge a limit') == []


def test_comments_cite_only_what_is_in_the_repository() -> None:
    bad = [
        f"{path}:{line}: {problem}" for path, line, text in comments() for problem in problems(text)
    ]
    assert not bad, "\n".join(bad)


def test_the_check_catches_what_it_should() -> None:
    assert problems("the first retry (issue 11 §7)") == [
        "cites 'issue 11'",
        "cites §7 of no document",
    ]
    assert problems("see Issue 10.5 and issue-21") == ["cites 'Issue 10'", "cites 'issue-21'"]
    assert problems("protocol §7.3") == ["cites §7.3 of no document"]
    assert problems("(anthropic-messages.md §8.1)") == [
        "points to anthropic-messages.md, which is not in the repository"
    ]
    assert problems("docs/protocol.md §99.1") == [
        "points to docs/protocol.md §99.1, which has no such section"
    ]
    assert problems('README "No such part"') == [
        'points to README "No such part", which has no such section'
    ]
    assert problems('docs/protocol.md §7.3 and §5.1; docs/operations.md, "Docker"') == []
    assert problems("the key is reused now and then; see README") == []
