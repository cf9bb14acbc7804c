"""scripts/oauth_server.py and `ag2api login` (the same flow) against the fake Google
(authorization simulated by an HTTP GET)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ag2api.accounts.login import CALLBACK_PORT, SCOPES
from ag2api.accounts.login_cli import add_arguments
from ag2api.accounts.oauth_client import IDE_CLIENT
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.http import fetch, free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "oauth_server.py"
COMMANDS = {"script": [str(SCRIPT)], "ag2api login": ["-m", "ag2api", "login"]}


async def run_script(
    fake: FakeUpstream,
    tokens: Path | None,
    consent: Any,
    *extra: str,
    port: int | None = None,
    command: str = "script",
    client: bool = True,
    pages: list[tuple[int, str]] | None = None,
) -> tuple[int, str]:
    """Run the script (or `ag2api login`); ``consent(auth_url)`` returns the redirect address the
    browser gets (``None``: the person never comes back). ``tokens`` None: the command's default;
    ``client`` False: the OAuth client comes from tokens.json; ``pages`` gets the callback
    page the browser shows (status, text)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *COMMANDS[command],
        *(["--tokens", str(tokens)] if tokens is not None else []),
        "--port",
        str(port or free_port()),
        "--no-browser",
        "--timeout",
        "20",
        *(["--client-id", FAKE_CLIENT_ID, "--client-secret", FAKE_CLIENT_SECRET] if client else []),
        "--token-url",
        fake.token_url,
        "--userinfo-url",
        fake.url + "/oauth2/v2/userinfo",
        "--api-base",
        fake.url,
        "--onboard-interval",
        "0",
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output = ""
    while not (match := re.search(r"(http://\S+/auth\S*|https://accounts\S+)", output)):
        line = (await proc.stdout.readline()).decode()
        if not line:
            return await proc.wait(), output
        output += line
    redirect = consent(match.group(1))
    if redirect is not None:
        answer = await fetch(redirect.replace("localhost", "127.0.0.1"))
        if pages is not None:
            pages.append((answer.code, (answer.body or b"").decode()))
    output += (await proc.stdout.read()).decode()
    return await proc.wait(), output


@pytest.mark.parametrize("command", list(COMMANDS))
async def test_adds_an_account_end_to_end(
    fake: FakeUpstream, tokens_path: Path, command: str
) -> None:
    fake.add_account("rt-new", "proj-new-0004", "new@example.com")
    before = json.loads(tokens_path.read_text())
    code, out = await run_script(
        fake, tokens_path, lambda url: fake.authorize(url, "rt-new"), command=command
    )
    assert code == 0, out
    assert "Added project proj…0004 (new@example.com)" in out
    doc = json.loads(tokens_path.read_text())
    assert doc["projects"][:3] == before["projects"]
    new = doc["projects"][3]
    assert (new["project_id"], new["refresh_token"], new["email"]) == (
        "proj-new-0004",
        "rt-new",
        "new@example.com",
    )
    assert new["access_token"] in fake.tokens and new["enabled"] is True
    assert stat.S_IMODE(tokens_path.stat().st_mode) == 0o600
    sent = next(r for r in fake.requests if r.path == "/token").body
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43


async def test_onboards_an_account_without_a_project(fake: FakeUpstream, tokens_path: Path) -> None:
    fake.add_account("rt-fresh", "proj-fresh-0005").needs_onboarding = True
    code, out = await run_script(fake, tokens_path, lambda url: fake.authorize(url, "rt-fresh"))
    assert code == 0, out
    assert [p["project_id"] for p in json.loads(tokens_path.read_text())["projects"]][-1] == (
        "proj-fresh-0005"
    )
    assert len([r for r in fake.requests if r.path.endswith("onboardUser")]) == 2


async def test_same_account_again_updates_instead_of_duplicating(
    fake: FakeUpstream, tokens_path: Path
) -> None:
    code, out = await run_script(fake, tokens_path, lambda url: fake.authorize(url, "rt-two"))
    assert code == 0, out
    assert "Updated project" in out
    assert len(json.loads(tokens_path.read_text())["projects"]) == 3


async def test_denied_consent_leaves_tokens_unchanged(
    fake: FakeUpstream, tokens_path: Path
) -> None:
    before = tokens_path.read_bytes()
    code, out = await run_script(
        fake, tokens_path, lambda url: fake.authorize(url, "rt-one", deny=True)
    )
    assert code == 1
    assert "consent denied" in out and "tokens.json was not changed" in out
    assert tokens_path.read_bytes() == before


async def test_timeout_leaves_tokens_unchanged(fake: FakeUpstream, tokens_path: Path) -> None:
    before = tokens_path.read_bytes()
    code, out = await run_script(fake, tokens_path, lambda url: None, "--timeout", "1")
    assert code == 1 and "No authorization arrived within 1s" in out
    assert tokens_path.read_bytes() == before


async def test_busy_port_is_reported(fake: FakeUpstream, tokens_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = await run_script(fake, tokens_path, lambda url: None, port=port)
    assert code == 1 and f"Cannot listen on 127.0.0.1:{port}" in out
    assert "tokens.json was not changed" in out


async def test_token_endpoint_error_leaves_tokens_unchanged(
    fake: FakeUpstream, tokens_path: Path
) -> None:
    before = tokens_path.read_bytes()

    def forged(url: str) -> str:
        good = fake.authorize(url, "rt-one")
        return re.sub(r"code=[^&]+", "code=4/forged", good)

    code, out = await run_script(fake, tokens_path, forged)
    assert code == 1 and "answered HTTP 400" in out and "invalid_grant" in out
    assert tokens_path.read_bytes() == before


async def test_no_project_leaves_tokens_unchanged(fake: FakeUpstream, tokens_path: Path) -> None:
    fake.add_account("rt-lost", "proj-lost-0006").needs_onboarding = True
    fake.onboard_polls = 100  # onboarding never finishes
    before = tokens_path.read_bytes()
    code, out = await run_script(
        fake, tokens_path, lambda url: fake.authorize(url, "rt-lost"), "--onboard-polls", "2"
    )
    assert code == 1 and "no Antigravity project" in out
    assert tokens_path.read_bytes() == before


async def first_address(*argv: str, env: dict[str, str] | None = None) -> str:
    """Start `ag2api login --no-browser …`, return the consent address it prints, stop it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ag2api",
        "login",
        "--no-browser",
        "--port",
        str(free_port()),
        *argv,
        stdin=asyncio.subprocess.PIPE,  # kept open: it waits for a pasted address
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    try:
        out = ""
        while not (match := re.search(r"https://accounts\S+", out)):
            line = (await proc.stdout.readline()).decode()
            assert line, out
            out += line
        return match.group(0)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("command", list(COMMANDS))
async def test_no_oauth_setup_signs_in_with_the_ides_client(tmp_path: Path, command: str) -> None:
    """Nothing configured: the consent address is printed at once, holding the IDE's client."""
    if command == "script":
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--tokens",
            str(tmp_path / "none.json"),
            "--no-browser",
            "--port",
            str(free_port()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        out = ""
        while "accounts.google.com" not in out:
            line = (await proc.stdout.readline()).decode()
            assert line, out
            out += line
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        url = re.search(r"https://accounts\S+", out).group(0)  # type: ignore[union-attr]
    else:
        url = await first_address("--tokens", str(tmp_path / "none.json"))
    query = query_of(url)
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert query["client_id"] == IDE_CLIENT.client_id
    assert query["scope"].split() == list(SCOPES)
    assert re.fullmatch(r"http://localhost:\d+/oauth-callback", query["redirect_uri"])
    assert query["access_type"] == "offline" and query["code_challenge_method"] == "S256"
    assert not (tmp_path / "none.json").exists()


async def test_the_default_callback_port_is_the_ides(tmp_path: Path) -> None:
    assert CALLBACK_PORT == 51121
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).port == 51121


async def test_the_environment_and_the_flags_override_the_built_in_client(tmp_path: Path) -> None:
    env = {"AG2API_OAUTH_CLIENT_ID": "env-id.apps", "AG2API_OAUTH_CLIENT_SECRET": "env-secret"}
    url = await first_address("--tokens", str(tmp_path / "t.json"), env=env)
    assert query_of(url)["client_id"] == "env-id.apps"
    url = await first_address(
        "--tokens",
        str(tmp_path / "t.json"),
        "--client-id",
        "f.apps",
        "--client-secret",
        "s",
        env=env,
    )
    assert query_of(url)["client_id"] == "f.apps"
    tokens = tmp_path / "with-config.json"
    tokens.write_text(
        json.dumps({"oauth_config": {"client_id": "file.apps", "client_secret": "x"}})
    )
    url = await first_address("--tokens", str(tokens), env=env)
    assert query_of(url)["client_id"] == "file.apps"


async def test_ag2api_login_writes_the_tokens_file_of_the_config(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """Without --tokens, `ag2api login` adds to the tokens_file the gateway itself reads."""
    fake.add_account("rt-cfg", "proj-cfg-0007", "cfg@example.com")
    config = tmp_path / "gateway.yaml"
    config.write_text("tokens_file: accounts/tokens.json\n")
    code, out = await run_script(
        fake,
        None,
        lambda url: fake.authorize(url, "rt-cfg"),
        "--config",
        str(config),
        command="ag2api login",
    )
    assert code == 0, out
    written = json.loads((tmp_path / "accounts" / "tokens.json").read_text())
    assert [p["project_id"] for p in written["projects"]] == ["proj-cfg-0007"]


async def test_the_example_client_placeholders_mean_the_built_in_client(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps({"oauth_config": {"client_id": "YOUR_ID", "client_secret": "YOUR_SECRET"}})
    )
    url = await first_address("--tokens", str(tokens))
    assert query_of(url)["client_id"] == IDE_CLIENT.client_id


async def test_signs_in_with_the_built_in_client_end_to_end(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """No client anywhere: the IDE's client signs in, and the file records only what the gateway
    needs to refresh with it (here the fake's token URL)."""
    fake.clients[IDE_CLIENT.client_id] = IDE_CLIENT.client_secret
    fake.add_account("rt-ide", "proj-ide-0008", "ide@example.com")
    tokens = tmp_path / "tokens.json"
    code, out = await run_script(
        fake,
        tokens,
        lambda url: fake.authorize(url, "rt-ide"),
        command="ag2api login",
        client=False,
    )
    assert code == 0, out
    assert "Signing in with the Antigravity IDE's built-in client" in out
    doc = json.loads(tokens.read_text())
    assert doc["oauth_config"]["client_id"] == IDE_CLIENT.client_id
    assert doc["oauth_config"]["token_url"] == fake.token_url
    assert [p["email"] for p in doc["projects"]] == ["ide@example.com"]
    assert "client_id" not in doc["projects"][0]


async def test_the_callback_page_says_added_only_once_the_account_is_saved(
    fake: FakeUpstream, tokens_path: Path
) -> None:
    fake.add_account("rt-page", "proj-page-0009", "page@example.com")
    pages: list[tuple[int, str]] = []
    code, out = await run_script(
        fake, tokens_path, lambda url: fake.authorize(url, "rt-page"), pages=pages
    )
    assert code == 0, out
    status, text = pages[0]
    assert status == 200 and "account added" in text and "page@example.com" in text
    assert "proj-page-0009" not in text  # masked, as in the terminal


@pytest.mark.parametrize(
    "spoil, said",
    [
        (lambda url: re.sub(r"state=[^&]+", "state=wrong", url), "state does not match"),
        (lambda url: re.sub(r"code=[^&]+", "code=4/forged", url), "invalid_grant"),
    ],
)
async def test_the_callback_page_shows_why_the_sign_in_failed(
    fake: FakeUpstream, tokens_path: Path, spoil: Any, said: str
) -> None:
    before = tokens_path.read_bytes()
    pages: list[tuple[int, str]] = []
    code, out = await run_script(
        fake, tokens_path, lambda url: spoil(fake.authorize(url, "rt-one")), pages=pages
    )
    assert code == 1 and said in out
    status, text = pages[0]
    assert status == 400 and "sign-in failed" in text and said in text
    assert "account added" not in text and "close this tab" not in text
    assert tokens_path.read_bytes() == before
