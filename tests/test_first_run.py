"""A new user's first minutes, as processes: the README's examples against `ag2api --demo`, the
commands run from any folder, a non-editable install, and the gateway in front of the fake."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from ag2api.accounts.store import read_tokens
from ag2api.cli import PACKAGED_CONFIG, find_config
from ag2api.config.live import read_config
from ag2api.demo import DEMO_KEY, is_loopback
from tests.support.cli import Cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
README_BASE = "http://127.0.0.1:8000"
# Each client snippet of the README, and the line that installs what it needs.
SNIPPETS = {
    "client.chat.completions.create(": "pip install openai",
    "client.responses.create(": "pip install openai",
    "anthropic.Anthropic(": "pip install anthropic",
    "genai.Client(": "pip install google-genai",
}
CLIS = {
    "ANTHROPIC_BASE_URL=": "npm install -g @anthropic-ai/claude-code",
    "[model_providers.ag2api]": "npm install -g @openai/codex",
    "GOOGLE_GEMINI_BASE_URL=": "npm install -g @google/gemini-cli",
}


def code_blocks(lang: str, text: str = README) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def code_block(lang: str, contains: str, text: str = README) -> str:
    """The first fenced ``lang`` block of ``text`` that contains ``contains``."""
    for block in code_blocks(lang, text):
        if contains in block:
            return block
    raise AssertionError(f"no {lang} block with {contains!r}")


def test_readme_examples_use_what_the_demo_serves() -> None:
    blocks = [b for lang in ("python", "sh", "toml") for b in code_blocks(lang) if "http://" in b]
    assert len(blocks) >= 8  # four SDKs, curl, the three CLIs
    for block in blocks:
        assert set(re.findall(r"http://[\w.:]+", block)) == {README_BASE}, block
        keys = set(re.findall(r"sk-[\w-]+", block))
        assert keys <= {DEMO_KEY}, block
    for block in code_blocks("python"):
        assert DEMO_KEY in block
    # Started from the clone, the demo listens where the examples point.
    cfg = read_config(ROOT / "conf" / "gateway.yaml", environ={})
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8000)
    packaged = read_config(PACKAGED_CONFIG, environ={})
    assert (packaged.server.host, packaged.server.port) == ("127.0.0.1", 8000)


def test_every_client_snippet_says_what_to_install() -> None:
    """Each snippet comes after the `pip`/`npm` line that installs its client, and the Python
    SDKs are the ones the suite runs them with."""
    for marker, install in {**SNIPPETS, **CLIS}.items():
        at = README.index(marker)
        heading = README.rindex("\n### ", 0, at)
        assert f"```sh\n{install}\n```" in README[heading:at], (marker, install)
    extras = (ROOT / "setup.cfg").read_text()
    for install in set(SNIPPETS.values()):
        assert re.search(rf"^\s+{install.split()[-1]}\b", extras, re.M), install


def test_readme_examples_work_against_the_demo(tmp_path: Path) -> None:
    # Port 8000 may be taken on a test machine: the demo takes any port and the examples are
    # pointed at it; everything else (key, paths, models) runs as pasted.
    cli = Cli("--demo", "--port", "0", env={"TMPDIR": str(tmp_path)})
    try:
        text = cli.wait_for(r"Press Ctrl\+C")
        base = re.search(r"running on (http://\S+),", text).group(1)  # type: ignore[union-attr]
        # One interpreter runs every Python snippet in turn (each prints its answers).
        snippets = [code_block("python", marker) for marker in SNIPPETS]
        assert len(snippets) == len(code_blocks("python"))
        program = "\nprint('=' * 8)\n".join(s.replace(README_BASE, base) for s in snippets)
        run = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=90
        )
        assert run.returncode == 0, run.stderr
        chat, responses, messages, genai = run.stdout.split("=" * 8 + "\n")
        assert "You said: Explain SSE in one sentence." in chat
        assert "completion_tokens=" in chat  # the streamed usage chunk
        assert "You said: What is a gateway?" in responses
        assert "You said: And in one word?" in responses  # the stored response continued
        assert "thinking : " in messages and "You said: Name a prime number." in messages
        assert "You said: Say hello." in messages  # the streamed text
        assert "You said: Hello" in genai and "You said: Hi" in genai
        if shutil.which("curl"):
            curl = code_block("sh", "curl http://127.0.0.1:8000/v1/chat/completions")
            # --fail-with-body: an HTTP error (a 401) fails the command instead of printing.
            curl = curl.replace(README_BASE, base).replace("curl ", "curl -sS --fail-with-body ")
            run = subprocess.run(
                ["bash", "-e", "-c", curl], capture_output=True, text=True, timeout=60
            )
            assert run.returncode == 0, run.stdout + run.stderr
            assert "data: [DONE]" in run.stdout and '"object":"list"' in run.stdout.replace(" ", "")
    finally:
        out = cli.finish(signal.SIGINT)
    assert cli.proc.returncode == 0, out


def test_the_well_known_demo_key_is_for_loopback_only() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.0.0.2", "::1", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "192.168.1.10", "example.com")))


def test_config_lookup_order(tmp_path: Path) -> None:
    cwd, home = tmp_path / "work", tmp_path / "home"
    named = tmp_path / "named.yaml"
    assert find_config(named, {"AG2API_CONFIG": "/x.yaml"}, cwd, home) == (named, True)
    assert find_config(None, {"AG2API_CONFIG": "/x.yaml"}, cwd, home) == (Path("/x.yaml"), True)
    assert find_config(None, {}, cwd, home) == (PACKAGED_CONFIG, False)
    user = home / ".config" / "ag2api" / "gateway.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("{}\n")
    assert find_config(None, {}, cwd, home) == (user, False)
    local = cwd / "conf" / "gateway.yaml"
    local.parent.mkdir(parents=True)
    local.write_text("{}\n")
    assert find_config(None, {"AG2API_CONFIG": ""}, cwd, home) == (local, False)


def test_commands_work_from_any_folder(tmp_path: Path) -> None:
    elsewhere, home = tmp_path / "elsewhere", tmp_path / "home"
    elsewhere.mkdir()
    env = {"HOME": str(home)}
    tokens = home / ".config" / "ag2api" / "tokens.json"
    accounts = Cli("accounts", cwd=elsewhere, env=env)
    out = accounts.finish()
    assert accounts.proc.returncode == 0, out
    assert f"{tokens} does not exist yet: add an account with `ag2api login`" in out
    usage = Cli("usage", cwd=elsewhere, env=env)
    out = usage.finish()
    assert usage.proc.returncode == 0 and "no usage recorded yet" in out, out
    gateway = Cli("--port", "0", cwd=elsewhere, env=env)
    try:
        out = gateway.wait_for(r"listening on")
    finally:
        out = gateway.finish(signal.SIGTERM)
    assert gateway.proc.returncode == 0, out
    assert f"(config {PACKAGED_CONFIG})" in out and f"no Google accounts in {tokens}" in out
    # A config of one's own in ~/.config/ag2api is found from anywhere too.
    (home / ".config" / "ag2api" / "gateway.yaml").write_text("rotation: {count: -1}\n")
    bad = Cli("accounts", cwd=elsewhere, env=env)
    out = bad.finish()
    assert bad.proc.returncode == 2 and f"{home}/.config/ag2api/gateway.yaml:1:" in out


def test_a_non_editable_install_ships_a_usable_config(tmp_path: Path) -> None:
    """What `pip install .` puts in site-packages (setuptools' build_py, which builds the wheel's
    contents), run from an empty folder with nothing of the repository on the path."""
    source, lib, elsewhere = tmp_path / "src", tmp_path / "lib", tmp_path / "elsewhere"
    shutil.copytree(
        ROOT / "ag2api", source / "ag2api", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "-d",
            lib,
        ],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    assert (lib / "ag2api" / "defaults" / "gateway.yaml").is_file()
    elsewhere.mkdir()
    env = {"HOME": str(tmp_path / "home"), "PYTHONPATH": str(lib), "PYTHONSAFEPATH": "1"}
    gateway = Cli("--port", "0", cwd=elsewhere, env=env)
    try:
        out = gateway.wait_for(r"listening on")
    finally:
        out = gateway.finish(signal.SIGTERM)
    assert gateway.proc.returncode == 0, out
    assert f"(config {lib / 'ag2api' / 'defaults' / 'gateway.yaml'})" in out


def test_the_gateway_in_front_of_the_fake_as_the_docs_say(tmp_path: Path) -> None:
    block = code_block("sh", "ag2api.testing.run_fake", OPERATIONS)
    assert "--tokens /tmp/fake-tokens.json" in block and "AG2API_UPSTREAM_BASE_URLS" in block
    tokens = tmp_path / "fake-tokens.json"
    fake = Cli("--port", "0", "--tokens", str(tokens), module="ag2api.testing.run_fake")
    try:
        info = json.loads(fake.wait_for(r"\}\s*$").strip().splitlines()[-1])
        env = {"HOME": str(tmp_path / "home"), "AG2API_UPSTREAM_BASE_URLS": info["url"]}
        gateway = Cli("--port", "0", "--tokens", str(tokens), cwd=tmp_path, env=env)
        try:
            text = gateway.wait_for(r"listening on http://\S+")
            base = re.search(r"listening on (http://\S+)", text).group(1)  # type: ignore[union-attr]
            with openai.OpenAI(base_url=base + "/v1", api_key="any", max_retries=0) as client:
                done = client.chat.completions.create(
                    model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi fake"}]
                )
            assert (done.choices[0].message.content or "").endswith("You said: hi fake")
        finally:
            out = gateway.finish(signal.SIGTERM)
        assert gateway.proc.returncode == 0, out
    finally:
        fake.finish(signal.SIGTERM)


def test_the_example_tokens_file_holds_no_account(tmp_path: Path) -> None:
    """Copied as the README says, the example loads no placeholder account into the pool."""
    copy = tmp_path / "tokens.json"
    shutil.copy(ROOT / "data" / "tokens.json.example", copy)
    doc = read_tokens(copy)
    assert list(doc.accounts) == [] and doc.oauth is not None


@pytest.mark.parametrize("name", ["Dockerfile", "docker-compose.yml"])
def test_docker_files_stay_safe(name: str) -> None:
    """No engine runs here: the properties that matter, read from the files."""
    text = (ROOT / name).read_text()
    if name == "Dockerfile":
        users = re.findall(r"^USER\s+(\S+)", text, re.M)
        assert users and users[-1] not in ("root", "0")
        assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.M)
    else:
        assert '"${PUBLISH:-127.0.0.1}:8000:8000"' in text
        assert "- AG2API_ADMIN_KEY\n" in text and 'user: "${UID:-1000}:${GID:-1000}"' in text
