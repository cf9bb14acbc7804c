"""The documentation matches the repository: the files the README, CONTRIBUTING.md and docs/ name
exist, their links and anchors resolve, every environment variable is documented, and the test
command they give is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS]
# Files the docs name that a running gateway (or the person) creates; never in the repository.
CREATED_AT_RUNTIME = {
    "data/tokens.json",
    "tokens.json",
    "tokens.json.lock",
    "usage.sqlite3",
    ".env",
    "test-artifacts/",
    "gateway.svg",
}
# "930 tests", "1,200 passing tests" (not "-n 2 tests/translate").
TEST_COUNT = re.compile(r"\b\d[\d,]*\+?\s+(?:[a-z-]+\s+)?tests\b(?!/)")
# Files of other programs that docs/protocol.md quotes (peers' sources), not of this repository.
OTHER_PROGRAMS = {"data/accounts.json", "scripts/oauth-server.js"}
FILE_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".json", ".example", ".sh", ".toml", ".cfg")


def rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def repo_files() -> set[str]:
    skip = {".git", ".venv", "build", "dist", "test-artifacts"}
    found = set()
    for p in ROOT.rglob("*"):
        parts = p.relative_to(ROOT).parts
        if skip & set(parts) or "egg-info" in p.as_posix() or "__pycache__" in parts:
            continue
        found.add(p.relative_to(ROOT).as_posix())
    return found


def named_paths(text: str) -> set[str]:
    """Paths in `code` spans: with a folder (``scripts/bench.py``, ``ag2api/upstream/``), or a bare
    file name with a known suffix; a test id's ``::name`` is cut off."""
    found = set()
    for span in re.findall(r"`([^`\s]+)`", text):
        path = span.split("::")[0]
        if path.startswith(("/", "~", "http")) or any(c in path for c in ("://", "*", "…", "<")):
            continue  # absolute or container paths, URLs, globs, elisions, placeholders, MIME types
        if ":" in path.split("/")[0]:
            continue  # host:port/path
        if "/" in path or path.endswith(FILE_SUFFIXES):
            found.add(path)
    return found


def missing_paths(text: str, files: set[str], repo_only: bool) -> list[str]:
    """Named paths that are not in the repository. ``repo_only``: judge only paths that start at
    a top-level entry of the repository (docs/ also quotes the paths of other programs)."""
    names = {f.rsplit("/", 1)[-1] for f in files}
    top = {f.split("/", 1)[0] for f in files}
    missing = []
    for path in named_paths(text):
        clean = path.removeprefix("./")
        if clean.startswith("../"):  # the shipped config's relative tokens_file
            clean = (Path("conf") / clean).as_posix().replace("conf/../", "")
        if {clean, path} & (CREATED_AT_RUNTIME | OTHER_PROGRAMS):
            continue
        if repo_only and clean.split("/", 1)[0] not in top:
            continue
        if "/" in clean:
            if clean.rstrip("/") not in files:
                missing.append(path)
        elif clean not in names:
            missing.append(path)
    return missing


def test_every_file_the_readme_names_exists() -> None:
    missing = missing_paths(README, repo_files(), repo_only=False)
    assert not missing, f"README names files that are not in the repository: {missing}"


@pytest.mark.parametrize("page", PAGES[1:], ids=rel)
def test_every_repository_path_the_docs_name_exists(page: Path) -> None:
    missing = missing_paths(page.read_text(encoding="utf-8"), repo_files(), repo_only=True)
    assert not missing, f"{rel(page)} names files that are not in the repository: {missing}"


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.M)
    }


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_markdown_link_resolves(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:", "data:")):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{rel(page)} links to {target}, which does not exist"
        if anchor:
            assert dest.suffix == ".md" and anchor in anchors(dest), (
                f"{rel(page)} links to {target}: no such section"
            )


def test_the_scan_catches_a_missing_file_and_section(tmp_path: Path) -> None:
    assert named_paths("see `scripts/nope.py` and `gone.md` and `tests/x.py::test_y`") == {
        "scripts/nope.py",
        "gone.md",
        "tests/x.py",
    }
    files = {"scripts/test.sh", "docs/protocol.md"}
    assert missing_paths("`scripts/nope.py` `node_modules/x.js`", files, repo_only=True) == [
        "scripts/nope.py"
    ]
    assert TEST_COUNT.findall("about 2 min for ~930 tests; 1,204 passing tests") == [
        "930 tests",
        "1,204 passing tests",
    ]
    assert not TEST_COUNT.findall("pytest -n 2 tests/translate; 4. Test it")
    page = tmp_path / "p.md"
    page.write_text("# One\n## 7.3 Two (three)\n```\n# not a heading\n```\n")
    assert anchors(page) == {"one", "73-two-three"}


def test_every_environment_variable_and_the_ca_file_are_documented() -> None:
    config_doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = set(re.findall(r"AG2API_\w+", (ROOT / "ag2api" / "config" / "env.py").read_text()))
    names |= set(re.findall(r"AG2API_\w+", (ROOT / "ag2api" / "cli.py").read_text()))
    assert names >= {"AG2API_HOST", "AG2API_CONFIG"}
    undocumented = sorted(n for n in names if f"`{n}`" not in config_doc)
    assert not undocumented, f"docs/configuration.md does not document {undocumented}"
    assert "| `upstream.ca_file` |" in config_doc


def test_the_test_command_is_what_ci_runs() -> None:
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for text in (README, contributing):
        assert re.search(r"```sh\nscripts/test\.sh\n```", text)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "step scripts/test.sh" in ci
    for lint in ("ruff check", "ruff format --check", "mypy"):
        assert f".venv/bin/{lint}" in ci and f"`.venv/bin/{lint}`" in contributing
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "apt-get update" in script and "chromium" in script and "redis-server" in script
    assert "pytest" in script


def test_no_page_states_a_test_count() -> None:
    """A count of tests goes stale with the next test; the docs say how to run them instead."""
    stated = {rel(p): TEST_COUNT.findall(p.read_text(encoding="utf-8")) for p in PAGES}
    assert not {p: found for p, found in stated.items() if found}


def test_the_readme_stays_a_front_door() -> None:
    assert len(README.splitlines()) <= 400


def test_the_suite_installs_no_system_package() -> None:
    installer = re.compile(r"apt-get|apt install|dnf install|yum install|brew install")
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tests").rglob("*.py")
        if p != Path(__file__) and installer.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"tests that install system packages: {offenders}"
