"""The README matches the repository: the files it names exist, every variable and setting it must
document is there, and the test command it gives is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Files the README names that a running gateway (or the person) creates; never in the repository.
CREATED_AT_RUNTIME = {
    "data/tokens.json",
    "tokens.json",
    "tokens.json.lock",
    "usage.sqlite3",
    ".env",
    "test-artifacts/",
}
FILE_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".json", ".example", ".sh", ".toml", ".cfg")


def repo_files() -> set[str]:
    skip = {".git", ".venv", "build", "dist", "test-artifacts"}
    return {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if not skip & set(p.relative_to(ROOT).parts) and "egg-info" not in p.as_posix()
    }


def named_paths(text: str) -> set[str]:
    """Paths in `code` spans: with a folder (``scripts/bench.py``, ``ag2api/upstream/``), or a bare
    file name with a known suffix; a test id's ``::name`` is cut off."""
    found = set()
    for span in re.findall(r"`([^`\s]+)`", text):
        path = span.split("::")[0]
        if path.startswith(("/", "~", "http")) or "://" in path or "*" in path:
            continue  # absolute or container paths, URLs, globs and MIME types
        if ":" in path.split("/")[0]:
            continue  # host:port/path
        if "/" in path or path.endswith(FILE_SUFFIXES):
            found.add(path)
    return found


def test_every_file_the_readme_names_exists() -> None:
    files = repo_files()
    names = {f.rsplit("/", 1)[-1] for f in files}
    missing = []
    for path in named_paths(README):
        clean = path.removeprefix("./")
        if clean.startswith("../"):  # the shipped config's relative tokens_file
            clean = (Path("conf") / clean).as_posix().replace("conf/../", "")
        if clean in CREATED_AT_RUNTIME or path in CREATED_AT_RUNTIME:
            continue
        if "/" in clean:
            if clean.rstrip("/") not in files:
                missing.append(path)
        elif clean not in names:
            missing.append(path)
    assert not missing, f"README names files that are not in the repository: {missing}"


def test_every_markdown_link_resolves() -> None:
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", README, re.M)
    }
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        if target.startswith("#"):
            assert target[1:] in anchors, f"README links to a missing section: {target}"
        else:
            assert (ROOT / target.split("#")[0]).exists(), f"README links to {target}"


def test_the_scan_catches_a_missing_file() -> None:
    assert named_paths("see `scripts/nope.py` and `gone.md` and `tests/x.py::test_y`") == {
        "scripts/nope.py",
        "gone.md",
        "tests/x.py",
    }


def test_every_environment_variable_and_the_ca_file_are_documented() -> None:
    names = set(re.findall(r"AG2API_\w+", (ROOT / "ag2api" / "config" / "env.py").read_text()))
    names |= set(re.findall(r"AG2API_\w+", (ROOT / "ag2api" / "cli.py").read_text()))
    assert names >= {"AG2API_HOST", "AG2API_CONFIG"}
    undocumented = sorted(n for n in names if f"`{n}`" not in README)
    assert not undocumented, f"README does not document {undocumented}"
    assert "| `upstream.ca_file` |" in README


def test_the_readme_test_command_is_what_ci_runs() -> None:
    assert re.search(r"```sh\nscripts/test\.sh\n```", README)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "step scripts/test.sh" in ci
    for lint in ("ruff check", "ruff format --check", "mypy"):
        assert f".venv/bin/{lint}" in ci
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "apt-get update" in script and "chromium" in script and "redis-server" in script
    assert "pytest" in script


def test_the_suite_installs_no_system_package() -> None:
    installer = re.compile(r"apt-get|apt install|dnf install|yum install|brew install")
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tests").rglob("*.py")
        if p != Path(__file__) and installer.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"tests that install system packages: {offenders}"
