"""Project ids never reach a client, /health or /admin unmasked: not in the error
a client gets for an upstream 403, not in a disabled reason, not in the log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.redact import mask_projects
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream, Step
from ag2api.upstream.google_error import parse_google_error
from tests.support.clients import ADMIN
from tests.support.helpers import chat_text
from tests.support.http import fetch

RAW, MASKED = "proj-alpha-0001", "proj…0001"
DENIED = {
    "error": {
        "code": 403,
        "message": f"Permission denied on resource project {RAW}.",
        "status": "PERMISSION_DENIED",
    }
}
# The same message, with the ErrorInfo that marks the project itself unusable (the account is
# disabled with this as its reason).
DENIED_CONSUMER = {
    "error": {
        **DENIED["error"],
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CONSUMER_INVALID",
                "domain": "googleapis.com",
                "metadata": {"containerInfo": RAW, "consumer": f"projects/{RAW}"},
            }
        ],
    }
}


def raw_ids_logged(caplog: pytest.LogCaptureFixture, *raw: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("ag2api") and not r.name.startswith("ag2api.testing")
        if any(p in r.getMessage() for p in raw)
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_403_naming_the_project_reaches_the_client_masked(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    stream: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake.script(Step(status=403, body=DENIED), Step(status=403, body=DENIED))
    with pytest.raises(openai.APIStatusError) as info:
        await chat_text(client, stream=stream)
    assert info.value.status_code == 502 and info.value.code == "upstream_account_error"
    message = info.value.message
    assert RAW not in message and f"resource project {MASKED}" in message
    assert RAW not in json.dumps(info.value.body)
    assert services.pool.counts() == (3, 0)  # no account cause: nobody disabled
    assert raw_ids_logged(caplog, RAW) == []


@pytest.mark.parametrize("accounts_spec", [(("rt-one", RAW),)])
@pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])
async def test_a_disabled_reason_naming_the_project_is_masked_everywhere(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    base_url: str,
    tokens_path: Path,
    caplog: pytest.LogCaptureFixture,
    accounts_spec: Any,
    config_overrides: dict[str, Any],
) -> None:
    caplog.set_level(logging.INFO)
    fake.script(Step(status=403, body=DENIED_CONSUMER), Step(status=403, body=DENIED_CONSUMER))
    with pytest.raises(openai.APIStatusError) as info:
        await chat_text(client)
    assert info.value.status_code == 502
    assert RAW not in info.value.message and MASKED in info.value.message

    health = json.loads((await fetch(base_url + "/health")).body)
    (disabled,) = health["accounts"]["disabled_reasons"]
    assert (
        disabled["reason"] == f"CONSUMER_INVALID: Permission denied on resource project {MASKED}."
    )
    admin = await fetch(base_url + "/admin/accounts", key=ADMIN)
    assert admin.code == 200 and RAW not in admin.body.decode()
    assert MASKED in json.loads(admin.body)["accounts"][0]["disabled_reason"]
    await services.writer.flush()
    stored = json.loads(tokens_path.read_text())["projects"][0]
    assert stored["enabled"] is False and RAW not in stored["disabled_reason"]  # masked on disk too
    assert raw_ids_logged(caplog, RAW) == []


@pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])
async def test_reasons_already_in_tokens_json_are_shown_masked(
    services: Services,
    watcher: FileWatcher,
    tokens_path: Path,
    base_url: str,
    config_overrides: dict[str, Any],
) -> None:
    """A reason an older version stored, or a hand edit, with the raw id in any form."""
    doc = json.loads(tokens_path.read_text())
    reasons = {
        "proj-beta-0002": "quota tests for proj-beta-0002 (by hand)",
        "proj-gamma-0003": "CONSUMER_INVALID: Permission denied on resource project "
        "proj-gamma-0003.",
    }
    for entry in doc["projects"]:
        if entry["project_id"] in reasons:
            entry.update(enabled=False, disabled_reason=reasons[entry["project_id"]])
    tokens_path.write_text(json.dumps(doc))
    await watcher.wait_for(lambda: services.pool.counts() == (1, 2))

    body = (await fetch(base_url + "/health")).body.decode()
    shown = [d["reason"] for d in json.loads(body)["accounts"]["disabled_reasons"]]
    assert shown == [
        "quota tests for proj…0002 (by hand)",
        "CONSUMER_INVALID: Permission denied on resource project proj…0003.",
    ]
    for raw in reasons:
        assert raw not in body
    for path in ("/admin/accounts", "/admin/api/accounts", "/admin/api/overview"):
        page = await fetch(base_url + path, key=ADMIN)
        assert page.code == 200
        assert not [raw for raw in reasons if raw in page.body.decode()], path


@pytest.mark.parametrize(
    ("text", "known", "masked"),
    [
        (f"Permission denied on resource project {RAW}.", (), f"resource project {MASKED}."),
        ("consumer 'projects/123456789012' is invalid", (), "'projects/1234…9012'"),
        ("visit https://console/overview?project=swift-core-1234 then", (), "project=swif…1234"),
        ('{"project_id": "helpful-perigee-2nnd9"}', (), '"project_id": "help…nnd9"'),
        (f"account {RAW} refused", (RAW,), f"account {MASKED} refused"),
        ("the project is disabled", (), "the project is disabled"),
        (f"project {MASKED} twice", (RAW,), f"project {MASKED} twice"),
    ],
)
def test_mask_projects(text: str, known: tuple[str, ...], masked: str) -> None:
    out = mask_projects(text, known)
    assert masked in out and mask_projects(out, known) == out
    for raw in (RAW, "123456789012", "swift-core-1234", "helpful-perigee-2nnd9"):
        assert raw not in out


def test_ids_named_in_the_error_metadata_are_masked_in_any_form() -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Consumer 'helpful-perigee-2nnd9' has been suspended.",
            "status": "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "CONSUMER_SUSPENDED",
                    "metadata": {"consumer": "projects/helpful-perigee-2nnd9"},
                }
            ],
        }
    }
    err = parse_google_error(403, json.dumps(body))
    assert err.message == "Consumer 'help…nnd9' has been suspended."
    plain = parse_google_error(403, f"<html>no access to project {RAW}</html>")
    assert RAW not in plain.message and MASKED in plain.message
