"""The `ag2api` command as a person runs it: --demo, config errors, the no-keys guard, --help."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import openai

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
