"""The `ag2api` command as a person runs it: --demo, config errors, the no-keys guard, --help."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
from pathlib import Path

import openai
import pytest

from ag2api.cli import build_parser, load_config, main
from tests.support.cli import ROOT, Cli


def test_demo_serves_the_openai_sdk_and_stops_cleanly(tmp_path: Path) -> None:
    cli = Cli("--demo", "--port", "0", env={"TMPDIR": str(tmp_path)})
    try:
        text = cli.wait_for(r"Press Ctrl\+C")
        assert [p.name[:12] for p in tmp_path.iterdir()] == ["ag2api-demo-"]
        base = re.search(r"running on (http://\S+),", text).group(1)  # type: ignore[union-attr]
        key = re.search(r"API key:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        # It names the config it read and says that edits to it are not applied.
        assert (
            f"Config: {ROOT / 'conf' / 'gateway.yaml'} (read once: the demo does not watch" in text
        )
        with openai.OpenAI(
            base_url=base + "/v1", api_key=key, max_retries=0, _strict_response_validation=True
        ) as client:
            done = client.chat.completions.create(
                model="gemini-2.5-flash", messages=[{"role": "user", "content": "demo?"}]
            )
            assert (done.choices[0].message.content or "").endswith("You said: demo?")
            assert done.choices[0].message.reasoning_content  # type: ignore[attr-defined]
            chunks = list(
                client.chat.completions.create(
                    model="claude-sonnet-4-5-thinking",
                    stream=True,
                    messages=[{"role": "user", "content": "stream?"}],
                )
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks).endswith("stream?")
    finally:
        out = cli.finish(signal.SIGINT)
    assert cli.proc.returncode == 0, out
    log_lines = [line for line in out.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", line)]
    assert len(log_lines) >= 4 and not [line for line in log_lines if key in line]
    assert list(tmp_path.iterdir()) == []  # its throwaway tokens.json is gone


def test_demo_that_cannot_listen_leaves_nothing_behind(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cli = Cli("--demo", "--port", str(port), env={"TMPDIR": str(tmp_path)})
        out = cli.finish()
    assert cli.proc.returncode == 2 and f"Cannot listen on 127.0.0.1:{port}" in out
    assert list(tmp_path.iterdir()) == []


def test_help_is_plain_text() -> None:
    cli = Cli("--help")
    out = cli.finish()
    assert cli.proc.returncode == 0
    assert "usage: ag2api" in out and "login" in out and "$AG2API_CONFIG" in out
    # No reStructuredText or Markdown markup from docstrings.
    assert not re.search(r"``|:\w+:`|\*\*", out), out


def test_config_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.yaml"
    bad.write_text("server:\n  port: 80\nrotation:\n  count: -1\n")
    cli = Cli("--config", str(bad))
    out = cli.finish()
    assert cli.proc.returncode == 2
    assert f"{bad}:4: rotation.count: must be an integer from 1" in out


def test_refuses_a_public_address_without_api_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("server: {host: 0.0.0.0, port: 0}\n")
    cli = Cli("--config", str(cfg))
    out = cli.finish()
    assert cli.proc.returncode == 2
    assert "Refusing to listen on 0.0.0.0 with no api_keys configured" in out


def test_starts_without_accounts_and_explains_how_to_add_one(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("server: {port: 0}\n")
    cli = Cli("--config", str(cfg))
    try:
        out = cli.wait_for(r"listening on")
    finally:
        rest = cli.finish(signal.SIGTERM)
    assert "no Google accounts in" in out and "tokens.json" in out
    assert cli.proc.returncode == 0, rest


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "99999"], "argument --port: must be an integer from 0 to 65535"),
        (["--port", "-1"], "argument --port: must be an integer from 0 to 65535"),
        (["--port", "eighty"], "argument --port: must be an integer, not 'eighty'"),
        (["--workers", "0"], "argument --workers: must be an integer from 1 to 256"),
    ],
)
def test_port_and_workers_are_checked_like_the_config_file(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(args)
    assert info.value.code == 2 and said in capsys.readouterr().err


def test_a_key_written_twice_stops_the_start_naming_both_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(
        "api_keys: [sk-first-0123456]\nserver: {port: 0}\napi_keys: [sk-second-012345]\n"
    )
    assert main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:3: api_keys: written twice, on lines 1 and 3" in err


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder and a working folder of their own, and no AG2API_* variable."""
    for name in list(os.environ):
        if name.startswith("AG2API_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def files_of(argv: list[str]) -> tuple[Path, Path]:
    cfg = load_config(build_parser().parse_args(argv))
    return cfg.tokens_file, cfg.usage_db


def test_the_shipped_config_copied_to_the_user_folder_keeps_its_accounts_there(
    elsewhere: Path,
) -> None:
    user = elsewhere / "home" / ".config" / "ag2api"
    user.mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "gateway.yaml", user / "gateway.yaml")
    assert files_of([]) == (user / "tokens.json", user / "usage.sqlite3")
    # Where it ships (a clone, the Docker image: conf/ beside data/) it means data/tokens.json.
    repo = elsewhere / "work" / "conf"
    repo.mkdir()
    shutil.copy(ROOT / "conf" / "gateway.yaml", repo / "gateway.yaml")
    data = elsewhere / "work" / "data"
    assert files_of([]) == (data / "tokens.json", data / "usage.sqlite3")


@pytest.mark.parametrize(
    "where",
    [
        [],
        ["--tokens", "fake/tokens.json"],
        ["--config", "../etc/gateway.yaml"],
        ["--config", "../etc/gateway.yaml", "--tokens", "fake/tokens.json"],
        ["AG2API_CONFIG=../etc/gateway.yaml", "AG2API_TOKENS_FILE=fake/tokens.json"],
    ],
)
def test_accounts_and_usage_find_the_files_the_gateway_uses(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, where: list[str]
) -> None:
    (elsewhere / "etc").mkdir()
    (elsewhere / "etc" / "gateway.yaml").write_text("tokens_file: accounts/tokens.json\n")
    user = elsewhere / "home" / ".config" / "ag2api"
    user.mkdir(parents=True)
    (user / "gateway.yaml").write_text("server: {port: 0}\n")
    options = [w for w in where if "=" not in w]
    for assignment in (w for w in where if "=" in w):
        monkeypatch.setenv(*assignment.split("=", 1))
    served = files_of(options)
    assert served[0].is_absolute() and served[1].parent == served[0].parent
    for command in ("accounts", "usage"):
        assert files_of([*options, command]) == served, command  # options before the command
        assert files_of([command, *options]) == served, command  # or after it
