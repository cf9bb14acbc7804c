"""scripts/oauth_server.py and `ag2api login` (the same flow) against the fake Google
(authorization simulated by an HTTP GET)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

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
) -> tuple[int, str]:
    """Run the script (or `ag2api login`); ``consent(auth_url)`` returns the redirect address the
    browser gets (``None``: the person never comes back). ``tokens`` None: the command's default;
    ``client`` False: the OAuth client comes from tokens.json."""
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
        await fetch(redirect.replace("localhost", "127.0.0.1"))
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


@pytest.mark.parametrize("command", list(COMMANDS))
async def test_missing_oauth_client_is_explained(
    fake: FakeUpstream, tmp_path: Path, command: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *COMMANDS[command],
        "--tokens",
        str(tmp_path / "none.json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 1 and "No OAuth client" in out
    assert not (tmp_path / "none.json").exists()


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


async def test_the_example_client_placeholders_are_refused(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    shutil.copy(ROOT / "data" / "tokens.json.example", tokens)
    before = tokens.read_bytes()
    code, out = await run_script(
        fake, tokens, lambda url: None, command="ag2api login", client=False
    )
    assert code == 1 and "still holds the example's placeholders" in out
    assert "tokens.json was not changed" in out and tokens.read_bytes() == before
