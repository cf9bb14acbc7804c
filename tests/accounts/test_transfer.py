"""``ag2api accounts import`` from every format (files shaped like the peers' real ones) into a
running gateway that then serves from them; ``export`` in each format and back again."""

from __future__ import annotations

import asyncio
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.accounts.crypto import PREFIX, TokenCipher
from ag2api.accounts.oauth_client import GEMINI_CLI_CLIENT_ID, IDE_CLIENT
from ag2api.accounts.store import read_tokens
from ag2api.cli import main
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.helpers import chat_text
from tests.support.proxy_server import HttpProxy

NOW_MS = int(time.time() * 1000)
SCOPES = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
]


def nodejs(folder: Path) -> Path:
    """antigravity2api-nodejs data/accounts.json: one array, ms timestamps, camelCase project."""
    path = folder / "accounts.json"
    path.write_text(
        json.dumps(
            [
                {
                    "access_token": "ya29.stale",
                    "refresh_token": "1//rt-node",
                    "expires_in": 3599,
                    "timestamp": NOW_MS - 7200_000,  # expired: the lookup refreshes first
                    "enable": True,
                    "email": "node@example.com",
                    "hasQuota": True,
                    "sub": "g1-pro-tier",
                    "credits": None,
                },
                {"access_token": "ya29.x", "expires_in": 3599, "timestamp": NOW_MS},  # no token
                {
                    "access_token": "ya29.off",
                    "refresh_token": "1//rt-node-off",
                    "expires_in": 3599,
                    "timestamp": NOW_MS,
                    "projectId": "proj-node-off",
                    "enable": False,
                    "disableReason": "banned by hand",
                },
            ]
        )
    )
    return path


def cliproxy(folder: Path) -> Path:
    """A CLIProxyAPI auth-dir: one file per account, other providers' files beside them."""
    auth = folder / "cli-proxy-api"
    auth.mkdir()
    (auth / "antigravity-cpa@example.com.json").write_text(
        json.dumps(
            {
                "type": "antigravity",
                "access_token": "ya29.cpa",
                "refresh_token": "1//rt-cpa",
                "expires_in": 3599,
                "timestamp": NOW_MS,
                "expired": "2099-12-20T11:06:40+08:00",
                "email": "cpa@example.com",
                "project_id": "proj-cpa-0001",
                "proxy_url": "direct",
            }
        )
    )
    (auth / "codex-someone.json").write_text(json.dumps({"type": "codex", "access_token": "x"}))
    return auth


def antigravity_manager(folder: Path) -> Path:
    """Antigravity-Manager's data folder: the index, then accounts/<uuid>.json."""
    data = folder / ".antigravity_tools"
    (data / "accounts").mkdir(parents=True)
    ident = "0b7f6a34-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    (data / "accounts.json").write_text(
        json.dumps(
            {
                "version": "2.0",
                "accounts": [
                    {
                        "id": ident,
                        "email": "agm@example.com",
                        "name": None,
                        "disabled": False,
                        "proxy_disabled": False,
                        "protected_models": [],
                        "created_at": 1766000000,
                        "last_used": 1766000000,
                    }
                ],
                "current_account_id": ident,
                "current_target_ide": None,
            }
        )
    )
    (data / "accounts" / f"{ident}.json").write_text(
        json.dumps(
            {
                "id": ident,
                "email": "agm@example.com",
                "name": "A G M",
                "token": {
                    "access_token": "ya29.agm",
                    "refresh_token": "1//rt-agm",
                    "expires_in": 3599,
                    "expiry_timestamp": int(time.time()) + 3000,
                    "token_type": "Bearer",
                    "email": "agm@example.com",
                    "project_id": "proj-agm-0001",
                    "is_gcp_tos": False,
                },
                "quota": None,
                "disabled": False,
                "validation_blocked": False,
                "created_at": 1766000000,
                "last_used": 1766000000,
            }
        )
    )
    return data


def ag2api_tokens(folder: Path) -> Path:
    """Another ag2api's (or the seed's) tokens.json, with an entry that has no refresh token."""
    path = folder / "tokens.json"
    path.write_text(
        json.dumps(
            {
                "projects": [
                    {
                        "project_id": "proj-own-0001",
                        "refresh_token": "1//rt-own",
                        "access_token": None,
                        "expires_at": 0,
                        "enabled": True,
                        "disabled_reason": None,
                        "email": "own@example.com",
                        "last_used_at": 1766000000,
                    },
                    {"project_id": "proj-own-0002", "refresh_token": ""},
                ]
            }
        )
    )
    return path


def manager_accounts_export(folder: Path) -> Path:
    """Antigravity-Manager's export in its object shape: ``{"accounts": [{email,
    refresh_token}]}``."""
    path = folder / "antigravity_accounts.json"
    path.write_text(
        json.dumps({"accounts": [{"email": "mgr@example.com", "refresh_token": "1//rt-mgr"}]})
    )
    return path


def manager_account_file(folder: Path) -> Path:
    """One of Antigravity-Manager's ``accounts/<id>.json``, on its own (no index beside it)."""
    path = antigravity_manager(folder) / "accounts" / "0b7f6a34-1c2d-4e5f-8a9b-0c1d2e3f4a5b.json"
    lone = folder / path.name
    lone.write_bytes(path.read_bytes())
    return lone


def manager_export(folder: Path) -> Path:
    """Antigravity-Manager's export: emails and refresh tokens only (the project is looked up,
    here onboarded first)."""
    path = folder / "antigravity_accounts_2026-05-01.json"
    path.write_text(json.dumps([{"email": "fresh@example.com", "refresh_token": "1//rt-fresh"}]))
    return path


def gcli2api(folder: Path) -> Path:
    """gcli2api's export zip: one credential per file; its Gemini CLI ones are skipped."""
    path = folder / "antigravity_credentials.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "ag_proj-gcli-0001-1766000000.json",
            json.dumps(
                {
                    "client_id": IDE_CLIENT.client_id,
                    "client_secret": IDE_CLIENT.client_secret,
                    "token": "ya29.gcli",
                    "refresh_token": "1//rt-gcli",
                    "scopes": SCOPES,
                    "token_uri": "https://oauth2.googleapis.com/token",
                    "project_id": "proj-gcli-0001",
                    "expiry": "2099-12-20T03:06:40.123456+00:00",
                }
            ),
        )
        archive.writestr(
            "proj-cli-1766000000.json",
            json.dumps(
                {"client_id": GEMINI_CLI_CLIENT_ID, "refresh_token": "1//x", "scopes": SCOPES[:3]}
            ),
        )
        archive.writestr("__MACOSX/._ag_proj-gcli-0001-1766000000.json", b"\x00\x05junk")
    return path


FORMATS = {
    "ag2api": (ag2api_tokens, ["own@example.com"], 1),
    "nodejs": (nodejs, ["node@example.com", "proj…-off"], 1),
    "cliproxy": (cliproxy, ["cpa@example.com"], 1),
    "antigravity-manager": (antigravity_manager, ["agm@example.com"], 0),
    "manager-export": (manager_export, ["fresh@example.com"], 0),
    "manager-accounts-export": (manager_accounts_export, ["mgr@example.com"], 0),
    "manager-account-file": (manager_account_file, ["agm@example.com"], 0),
    "gcli2api": (gcli2api, ["proj…0001"], 1),
}


def register(fake: FakeUpstream) -> None:
    fake.add_account("1//rt-node", "proj-node-0001", "node@example.com")
    fake.add_account("1//rt-node-off", "proj-node-off", "off@example.com")
    fake.add_account("1//rt-cpa", "proj-cpa-0001", "cpa@example.com")
    fake.add_account("1//rt-agm", "proj-agm-0001", "agm@example.com")
    fake.add_account("1//rt-own", "proj-own-0001", "own@example.com")
    fake.add_account("1//rt-mgr", "proj-mgr-0001", "mgr@example.com")
    fake.add_account("1//rt-fresh", "proj-fresh-0001", "fresh@example.com").needs_onboarding = True
    gcli = fake.add_account("1//rt-gcli", "proj-gcli-0001", "gcli@example.com")
    gcli.client_id = IDE_CLIENT.client_id
    fake.clients[IDE_CLIENT.client_id] = IDE_CLIENT.client_secret


async def run(*argv: str) -> int:
    """The command, off the loop (it calls the fake, which runs on this loop)."""
    return await asyncio.get_running_loop().run_in_executor(None, main, list(argv))


@pytest.mark.parametrize("accounts_spec", [()])
@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_import_into_a_running_gateway_that_then_serves_them(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    watcher: FileWatcher,
    config_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    accounts_spec: Any,
    fmt: str,
) -> None:
    make, names, skipped = FORMATS[fmt]
    register(fake)
    source = make(tmp_path)
    code = await run(
        "accounts", "--config", str(config_path), "import", str(source), "--onboard-interval", "0"
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"Added {len(names)}: {', '.join(names)}" in out
    assert (f"Skipped {skipped}:" in out) == bool(skipped), out
    await watcher.wait_for(lambda: len(services.pool.accounts) >= 1)
    served = [a for a in services.pool.accounts if a.enabled]
    assert (await chat_text(client)).endswith("You said: hi")
    assert fake.generate_requests()[-1].body["project"] == served[0].project_id
    if fmt == "nodejs":
        assert "no refresh token" in out and "[1]" in out
        off = services.pool.get("proj-node-off")
        assert off is not None and not off.enabled and off.disabled_reason == "banned by hand"
    if fmt == "cliproxy":
        assert "not an account of Antigravity (type 'codex')" in out
        assert services.pool.accounts[0].proxy == "direct"
    if fmt == "gcli2api":
        assert "a Gemini CLI credential" in out
        # Its token belongs to the IDE's client, not this file's: kept with the account.
        assert services.pool.accounts[0].client_id == IDE_CLIENT.client_id
    if fmt == "ag2api":
        assert "(ag2api: 1)" in out and "no refresh token" in out and "projects[1]" in out
    if fmt in ("manager-accounts-export", "manager-account-file"):
        assert "(antigravity-manager: 1)" in out
    if fmt == "manager-accounts-export":
        assert services.pool.accounts[0].project_id == "proj-mgr-0001"  # looked up
    if fmt == "manager-export":
        assert services.pool.accounts[0].project_id == "proj-fresh-0001"  # onboarded
        assert len([r for r in fake.requests if r.path.endswith("onboardUser")]) == 2


async def test_duplicates_are_merged_and_a_second_import_updates(
    fake: FakeUpstream, tokens_path: Path, config_path: Path, tmp_path: Path, capsys: Any
) -> None:
    register(fake)
    cpa = cliproxy(tmp_path)
    node = tmp_path / "node.json"
    # The CPA account again, by email, with a newer sign-in (another refresh token).
    fake.add_account("1//rt-cpa-new", "proj-cpa-0001", "cpa@example.com")
    node.write_text(
        json.dumps(
            [
                {"refresh_token": "1//rt-cpa", "email": "cpa@example.com"},
                {"refresh_token": "1//rt-cpa", "projectId": "proj-cpa-0001"},
            ]
        )
    )
    assert await run("accounts", "--config", str(config_path), "import", str(cpa), str(node)) == 0
    out = capsys.readouterr().out
    assert "2 duplicate(s) merged" in out and "Added 1: cpa@example.com" in out
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps([{"refresh_token": "1//rt-cpa-new", "email": "cpa@example.com"}]))
    assert await run("accounts", "--config", str(config_path), "import", str(newer)) == 0
    assert "Updated 1: cpa@example.com" in capsys.readouterr().out
    accounts = read_tokens(tokens_path).accounts
    assert len(accounts) == 4
    assert (
        accounts[3].refresh_token == "1//rt-cpa-new" and accounts[3].project_id == "proj-cpa-0001"
    )


async def test_nothing_importable_is_an_error_and_changes_nothing(
    tokens_path: Path, config_path: Path, tmp_path: Path, capsys: Any
) -> None:
    before = tokens_path.read_bytes()
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    assert await run("accounts", "--config", str(config_path), "import", str(junk)) == 1
    assert "not an account file of a known format" in capsys.readouterr().out
    assert tokens_path.read_bytes() == before


@pytest.mark.parametrize("fmt", ["ag2api", "cliproxy", "nodejs"])
@pytest.mark.parametrize("key", [None, "an export key of some length"], ids=["plain", "sealed"])
def test_export_then_import_round_trip(
    tokens_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    fmt: str,
    key: str | None,
) -> None:
    doc = json.loads(tokens_path.read_text())
    doc["projects"][0].update(email="a@example.com", proxy="http://u:p@127.0.0.1:3128")
    doc["projects"][1].update(enabled=False, disabled_reason="by hand")
    doc["projects"][2]["access_token"] = "ya29.live"
    doc["projects"][2]["expires_at"] = int(time.time()) + 3000
    tokens_path.write_text(json.dumps(doc))
    if key:
        monkeypatch.setenv("AG2API_SECRET_KEY", key)
    out = tmp_path / ("out" if fmt == "cliproxy" else "out.json")
    argv = ["accounts", "--tokens", str(tokens_path), "export", "--format", fmt, "--out", str(out)]
    assert main(argv) == 0
    written = "".join(p.read_text() for p in ([*out.iterdir()] if out.is_dir() else [out]))
    assert ("rt-one" in written) == (key is None)
    assert (PREFIX in written) == (key is not None)
    assert "exported 3" in capsys.readouterr().err.lower()
    fresh = tmp_path / "fresh.json"
    assert main(["accounts", "--tokens", str(fresh), "import", str(out)]) == 0
    cipher = TokenCipher(key.encode()) if key else None
    before = {a.project_id: a for a in read_tokens(tokens_path, cipher).accounts}
    after = {a.project_id: a for a in read_tokens(fresh, cipher).accounts}
    assert after.keys() == before.keys()
    for pid, a in before.items():
        b = after[pid]
        assert (b.refresh_token, b.email, b.enabled) == (a.refresh_token, a.email, a.enabled)
        assert b.proxy == (a.proxy if fmt != "nodejs" else None)  # its format has no proxy
    assert after["proj-gamma-0003"].access_token == "ya29.live"


def test_export_plaintext_needs_the_key(
    tokens_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("AG2API_SECRET_KEY", "the key the file was sealed with")
    assert main(["accounts", "--tokens", str(tokens_path), "encrypt"]) == 0
    monkeypatch.delenv("AG2API_SECRET_KEY")
    assert main(["accounts", "--tokens", str(tokens_path), "export", "--plaintext"]) == 1
    assert "no key is set" in capsys.readouterr().err


def test_a_seed_tokens_file_with_the_example_placeholders_imports(
    tokens_path: Path, tmp_path: Path, capsys: Any
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "oauth_config": {"client_id": "YOUR_ID", "client_secret": "YOUR_SECRET"},
                "projects": [{"project_id": "proj-seed-0001", "refresh_token": "1//rt-seed"}],
            }
        )
    )
    assert main(["accounts", "--tokens", str(tokens_path), "import", str(seed)]) == 0
    assert "Added 1: proj…0001" in capsys.readouterr().out
    added = read_tokens(tokens_path).accounts[3]
    assert (added.project_id, added.client_id) == ("proj-seed-0001", None)


async def test_the_project_lookup_goes_through_the_accounts_own_proxy(
    fake: FakeUpstream, tokens_path: Path, config_path: Path, tmp_path: Path, capsys: Any
) -> None:
    proxy = HttpProxy(user="u", password="pw-for-import")
    await proxy.start()
    try:
        fake.add_account("1//rt-via", "proj-via-0001", "via@example.com")
        auth = tmp_path / "antigravity-via@example.com.json"
        auth.write_text(
            json.dumps(
                {
                    "type": "antigravity",
                    "refresh_token": "1//rt-via",
                    "email": "via@example.com",
                    "proxy_url": f"http://u:pw-for-import@127.0.0.1:{proxy.port}",
                }
            )
        )
        assert await run("accounts", "--config", str(config_path), "import", str(auth)) == 0
    finally:
        await proxy.stop()
    assert "Added 1: via@example.com" in capsys.readouterr().out
    assert proxy.saw("refresh_token=1%2F%2Frt-via") and proxy.saw("loadCodeAssist")
    assert not proxy.saw("rt-one")
    assert read_tokens(tokens_path).accounts[3].project_id == "proj-via-0001"
