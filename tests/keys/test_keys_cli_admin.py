"""``ag2api keys new``, the admin view of keys against their limits, ``ag2api usage``, and the
policy settings' validation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ag2api.cli import main
from ag2api.config.errors import ConfigError
from ag2api.config.load import parse_config
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from tests.support.clients import ADMIN, ALICE, API_KEY, openai_sdk
from tests.support.files import reload
from tests.support.helpers import chat_text
from tests.support.http import fetch


def test_keys_new_prints_the_key_once_and_the_hashed_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ag2api", "keys", "new", "--label", "ci-bot"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    key = re.search(r"^  (sk-ag-\S+)$", out, re.M)
    line = re.search(r"^  (- \{key: .*\})$", out, re.M)
    assert key and line
    entry = yaml.safe_load(line.group(1))[0]
    assert entry["label"] == "ci-bot"
    assert entry["key"].startswith("sha256:")
    assert key.group(1) not in line.group(1)
    cfg = parse_config(
        yaml.safe_dump({"api_keys": [entry]}), path=Path("/tmp/gateway.yaml"), environ={}
    )
    from ag2api.keys.auth import find_key

    assert find_key(cfg.api_keys, key.group(1)) is cfg.api_keys[0]
    assert find_key(cfg.api_keys, entry["key"]) is None


async def test_a_key_from_keys_new_works_after_a_live_edit(
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    assert main(["keys", "new", "--label", "pasted"]) == 0
    out = capsys.readouterr().out
    key = re.search(r"^  (sk-ag-\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    entry = yaml.safe_load(re.search(r"^  (- \{.*\})$", out, re.M).group(1))[0]  # type: ignore[union-attr]
    entry["policy"] = {"rpm": 5}
    await reload(
        watcher,
        services,
        config_path,
        config_doc,
        {"api_keys": [{"key": API_KEY, "label": "tests"}, entry]},
    )
    client = openai_sdk(base_url, key)
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-ratelimit-remaining-requests"] == "4"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "config_overrides",
    [
        {
            "admin_key": ADMIN,
            "api_keys": [
                {"key": API_KEY, "label": "tests"},
                {
                    "key": ALICE,
                    "label": "alice",
                    "policy": {"rpm": 10, "daily_tokens": 100000, "models": ["gemini-*"]},
                },
            ],
        }
    ],
)
async def test_admin_shows_use_against_limits_and_usage_cli(
    config_overrides: dict[str, Any],
    base_url: str,
    services: Services,
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = openai_sdk(base_url, ALICE)
    try:
        done = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
        await chat_text(client, stream=True)
    finally:
        await client.close()
    assert done.usage is not None
    got = await fetch(base_url + "/admin/keys", key=ADMIN)
    page = await fetch(base_url + "/admin/api/keys", key=ADMIN)
    assert got.code == page.code == 200
    view = {k["label"]: k for k in json.loads(got.body)["keys"]}
    assert ALICE not in got.body.decode() and API_KEY not in got.body.decode()
    alice = view["alice"]
    assert alice["limits"]["rpm"] == {"limit": 10, "used": 2}
    assert alice["limits"]["daily_tokens"]["used"] >= done.usage.total_tokens
    assert alice["models"] == ["gemini-*"]
    assert view["tests"]["limits"]["rpm"] == {"limit": None, "used": None}
    console = {k["label"]: k for k in json.loads(page.body)["keys"]}
    assert console["alice"]["limits"]["rpm"] == {"limit": 10, "used": 2}
    assert ALICE not in page.body.decode()
    await services.usage.flush()
    assert main(["usage", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("alice"))
    assert "gemini-*" in row and "/100000" in row


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ({"rpm": 0}, "integer from 1"),
        ({"tpm": "lots"}, "integer"),
        ({"models": "gemini-*"}, "list"),
        ({"expires": "next week"}, "date"),
        ({"enabled": "yes"}, "true or false"),
        ({"budget": 5}, "unknown key"),
    ],
)
def test_bad_policies_name_the_setting(policy: dict[str, Any], reason: str) -> None:
    text = yaml.safe_dump(
        {"api_keys": [{"key": "sk-x-0123456789", "label": "x", "policy": policy}]}
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, path=Path("/tmp/gateway.yaml"), environ={})
    assert "api_keys[0].policy" in str(err.value)
    assert reason in str(err.value)


def test_hashed_keys_are_checked_and_compared() -> None:
    with pytest.raises(ConfigError, match="64 hex"):
        parse_config(
            "api_keys: [{key: 'sha256:abc', label: a}]\n", path=Path("/tmp/g.yaml"), environ={}
        )
    import hashlib

    digest = hashlib.sha256(b"sk-same-0123456789").hexdigest()
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_config(
            f"api_keys: [sk-same-0123456789, 'sha256:{digest}']\n",
            path=Path("/tmp/g.yaml"),
            environ={},
        )
    with pytest.raises(ConfigError, match="admin_key"):
        parse_config(
            f"admin_key: sk-same-0123456789\napi_keys: ['sha256:{digest}']\n",
            path=Path("/tmp/g.yaml"),
            environ={},
        )
    cfg = parse_config(
        "defaults: {policy: {tpm: 9, expires: 2026-12-31}}\napi_keys: [sk-a-0123456789]\n",
        path=Path("/tmp/g.yaml"),
        environ={},
    )
    policy = cfg.policy_of(cfg.api_keys[0])
    assert policy.tpm == 9
    assert policy.expires == 1798761600.0  # the end of 2026-12-31, UTC
