"""/admin/api/ over real HTTP: each endpoint, and who may call it — the session cookie only with
its CSRF token for a write (never from another site), the admin key as Bearer; every write in
the write log with who and what, never a secret."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ag2api.redact import mask
from ag2api.server.watch import FileWatcher
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import ADMIN, API_KEY
from tests.support.files import DEFAULT_ACCOUNTS, file_projects

BEARER = {"Authorization": f"Bearer {ADMIN}"}
WITH_ADMIN = pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])


async def session(base_url: str) -> tuple[httpx.AsyncClient, str]:
    """A signed-in browser-like client (cookie) and the CSRF token its console page carries."""
    http = httpx.AsyncClient(base_url=base_url, timeout=30)
    login = await http.post("/admin/login", data={"key": ADMIN})
    assert login.status_code == 302
    # The cookie is Secure; httpx keeps it for http://127.0.0.1 only when told it is sent back.
    cookie = login.headers["set-cookie"].split(";", 1)[0]
    http.headers["Cookie"] = cookie
    page = await http.get("/admin/")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert page.status_code == 200 and found
    assert "script-src 'self'" in page.headers["content-security-policy"]
    return http, found.group(1)


WRITES = [
    ("POST", "/admin/api/keys", {"label": "x"}),
    ("PATCH", "/admin/api/keys/tests", {"enabled": False}),
    ("DELETE", "/admin/api/keys/tests", None),
    ("POST", "/admin/api/accounts/proj…0001/disable", None),
    ("POST", "/admin/api/accounts/proj…0001/enable", None),
    ("POST", "/admin/api/accounts/proj…0001/recheck", None),
    ("DELETE", "/admin/api/accounts/proj…0001", None),
    ("POST", "/admin/api/accounts/import", {"files": []}),
    ("POST", "/admin/api/accounts/sign-in", {"mode": "paste"}),
    ("POST", "/admin/api/accounts/sign-in/some-sign-in", {"url": "http://localhost:51121/x"}),
]
READS = [
    "/admin/api/overview",
    "/admin/api/keys",
    "/admin/api/accounts",
    "/admin/api/accounts/export",
    "/admin/api/accounts/proj…0001",
    "/admin/api/accounts/sign-in/some-sign-in",
]


@WITH_ADMIN
async def test_every_endpoint_refuses_a_caller_without_the_admin(
    base_url: str, config_overrides: dict[str, Any], tokens_path: Path, config_path: Path
) -> None:
    before = (tokens_path.read_text(), config_path.read_text())
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for path in READS:
            for headers in ({}, {"Authorization": f"Bearer {API_KEY}"}):
                got = await http.get(path, headers=headers)
                assert got.status_code == 401, path
        for method, path, body in WRITES:
            got = await http.request(method, path, json=body, headers={"X-CSRF-Token": "x"})
            assert got.status_code == 401, (method, path)
    assert (tokens_path.read_text(), config_path.read_text()) == before


@WITH_ADMIN
async def test_a_cookie_write_needs_the_sessions_csrf_token(
    base_url: str, config_overrides: dict[str, Any], tokens_path: Path, config_path: Path
) -> None:
    before = (tokens_path.read_text(), config_path.read_text())
    http, csrf = await session(base_url)
    other, other_csrf = await session(base_url)
    try:
        assert (await http.get("/admin/api/keys")).status_code == 200  # reads need no token
        for method, path, body in WRITES:
            for headers in (
                {},
                {"X-CSRF-Token": "forged"},
                {"X-CSRF-Token": other_csrf},  # another session's token
                {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
                {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-site"},
            ):
                got = await http.request(method, path, json=body, headers=headers)
                assert got.status_code == 403, (method, path, headers)
                assert got.json()["error"]["code"] == "forbidden"
        assert (tokens_path.read_text(), config_path.read_text()) == before
        made = await http.post(
            "/admin/api/keys",
            json={"label": "by-cookie"},
            headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"},
        )
        assert made.status_code == 201 and made.json()["key"].startswith("sk-ag-")
    finally:
        await http.aclose()
        await other.aclose()


@WITH_ADMIN
async def test_keys_create_edit_disable_delete(
    base_url: str,
    config_overrides: dict[str, Any],
    config_path: Path,
    watcher: FileWatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "ag2api.admin.audit")
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        made = await http.post(
            "/admin/api/keys", json={"label": "ci", "policy": {"rpm": 2, "models": ["gemini-*"]}}
        )
        assert made.status_code == 201
        key = made.json()["key"]
        assert made.json()["applied"] is True  # the running gateway reloaded it
        listed = (await http.get("/admin/api/keys")).json()
        ci = next(k for k in listed["keys"] if k["label"] == "ci")
        assert ci["own_policy"]["rpm"] == 2 and ci["limits"]["rpm"] == {"limit": 2, "used": 0}
        assert ci["today"] == {"requests": 0, "tokens": 0, "errors": 0}
        assert key not in json.dumps(listed)

        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
            auth = {"Authorization": f"Bearer {key}"}
            assert (await client.post("/v1/chat/completions", json=chat, headers=auth)).is_success
            listed = (await http.get("/admin/api/keys")).json()
            ci = next(k for k in listed["keys"] if k["label"] == "ci")
            assert ci["today"]["requests"] == 1 and ci["today"]["tokens"] > 0
            assert ci["month"] == ci["today"]

            edited = await http.patch("/admin/api/keys/ci", json={"policy": {"rpm": 1}})
            assert edited.status_code == 200 and edited.json()["applied"] is True
            again = await client.post("/v1/chat/completions", json=chat, headers=auth)
            assert again.status_code == 429
            off = await http.patch("/admin/api/keys/ci", json={"enabled": False})
            assert off.json()["applied"] is True
            refused = await client.post("/v1/chat/completions", json=chat, headers=auth)
            assert refused.status_code == 401
        policy = yaml.safe_load(config_path.read_text())["api_keys"][-1]["policy"]
        assert policy == {"rpm": 1, "enabled": False}
        cleared = await http.patch("/admin/api/keys/ci", json={"enabled": True, "policy": None})
        assert cleared.status_code == 200
        assert "policy" not in yaml.safe_load(config_path.read_text())["api_keys"][-1]

        deleted = await http.delete("/admin/api/keys/ci")
        assert deleted.status_code == 200 and deleted.json()["applied"] is True
        assert "ci" not in config_path.read_text()

        for method, path, body, status, param in [
            ("POST", "/admin/api/keys", {"label": "tests"}, 400, "label"),
            ("POST", "/admin/api/keys", {"label": "x", "policy": {"rpm": 0}}, 400, "policy.rpm"),
            ("POST", "/admin/api/keys", {"label": "x", "policy": []}, 400, "policy"),
            ("PATCH", "/admin/api/keys/tests", {"enabled": "no"}, 400, "enabled"),
            ("PATCH", "/admin/api/keys/tests", {"colour": 1}, 400, "colour"),
            ("PATCH", "/admin/api/keys/nobody", {"enabled": False}, 404, None),
            ("DELETE", "/admin/api/keys/nobody", None, 404, None),
        ]:
            got = await http.request(method, path, json=body)
            assert got.status_code == status, (method, path, body, got.text)
            assert got.json()["error"]["param"] == param
    audit = [r.getMessage() for r in caplog.records if r.name == "ag2api.admin.audit"]
    assert any("keys.create ci by admin key from 127.0.0.1: ok" in line for line in audit)
    assert any("keys.disable ci" in line for line in audit)
    assert any("keys.create tests" in line and "refused (400)" in line for line in audit)
    assert not [line for line in audit if key in line or ADMIN in line]


@WITH_ADMIN
async def test_a_config_the_gateway_refuses_is_not_written(
    base_url: str, config_overrides: dict[str, Any], config_path: Path
) -> None:
    broken = config_path.read_text() + "rotation: {count: many}\n"
    config_path.write_text(broken)
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        got = await http.post("/admin/api/keys", json={"label": "new"})
    assert got.status_code == 409 and "rotation.count" in got.json()["error"]["message"]
    assert config_path.read_text() == broken


@WITH_ADMIN
async def test_accounts_list_act_and_remove(
    base_url: str,
    config_overrides: dict[str, Any],
    tokens_path: Path,
    watcher: FileWatcher,
    fake: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "ag2api.admin.audit")
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
        auth = {"Authorization": f"Bearer {API_KEY}"}
        assert (await http.post("/v1/chat/completions", json=chat, headers=auth)).is_success
        [sent] = fake.generate_requests()
        listed = (await http.get("/admin/api/accounts?refresh=1")).json()["accounts"]
        assert [a["id"] for a in listed] == ["proj…0001", "proj…0002", "proj…0003"]
        served = {a["id"]: a for a in listed}.pop(mask(sent.body["project"]))
        assert served["today"]["requests"] == 1 and served["today"]["tokens"] > 0
        assert served["last_used_at"]
        idle = [a for a in listed if a is not served]
        assert [(a["today"]["requests"], a["last_used_at"]) for a in idle] == [(0, None)] * 2
        first = listed[0]
        assert first["state"] == "enabled"
        assert {q["model"] for q in first["quota"]["models"]} >= {"gemini-2.5-flash"}
        assert "proj-alpha-0001" not in json.dumps(listed) and "rt-one" not in json.dumps(listed)

        off = await http.post("/admin/api/accounts/proj…0002/disable", json={"reason": "spare"})
        assert off.status_code == 200 and off.json()["applied"] is True
        assert off.json()["account"]["state"] == "disabled"
        assert off.json()["account"]["disabled_reason"] == "spare"
        entry = json.loads(tokens_path.read_text())["projects"][1]
        assert (entry["enabled"], entry["disabled_reason"]) == (False, "spare")
        on = await http.post("/admin/api/accounts/proj…0002/enable")
        assert on.json()["account"]["state"] == "enabled"
        checked = await http.post("/admin/api/accounts/proj…0002/recheck")
        assert checked.json()["outcome"] == "quota checked"
        one = await http.get("/admin/api/accounts/proj…0002")
        assert one.json()["account"]["quota"]["checked_at"]

        removed = await http.delete("/admin/api/accounts/proj…0003")
        assert removed.status_code == 200 and removed.json()["applied"] is True
        projects = [p["project_id"] for p in json.loads(tokens_path.read_text())["projects"]]
        assert projects == ["proj-alpha-0001", "proj-beta-0002"]

        for method, path in [
            ("POST", "/admin/api/accounts/proj…0009/disable"),
            ("DELETE", "/admin/api/accounts/proj-alpha-0001"),  # the raw id is no id here
            ("GET", "/admin/api/accounts/nope"),
        ]:
            assert (await http.request(method, path)).status_code == 404
        bad = await http.post("/admin/api/accounts/proj…0001/disable", json={"reason": 5})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "reason"
    audit = [r.getMessage() for r in caplog.records if r.name == "ag2api.admin.audit"]
    done = "by admin key from 127.0.0.1: ok"
    assert f"admin accounts.disable proj…0002 {done}" in audit
    assert f"admin accounts.enable proj…0002 {done}" in audit
    assert f"admin accounts.remove proj…0003 {done}" in audit
    raw = [secret for pair in DEFAULT_ACCOUNTS for secret in pair] + [ADMIN]  # tokens, ids
    assert not [line for line in audit for secret in raw if secret in line]


@WITH_ADMIN
async def test_import_by_upload_and_json_then_export(
    base_url: str,
    config_overrides: dict[str, Any],
    fake: FakeUpstream,
    tokens_path: Path,
    watcher: FileWatcher,
) -> None:
    fake.add_account("rt-seven", "proj-eta-0007", "eta@example.com")
    fake.add_account("rt-eight", "proj-theta-0008", "theta@example.com")
    cliproxy = {
        "type": "antigravity",
        "access_token": "ya29.x",
        "refresh_token": "rt-seven",
        "expires_in": 3599,
        "timestamp": 0,
        "expired": "2026-01-01T00:00:00Z",
        "email": "eta@example.com",
        "project_id": "proj-eta-0007",
    }
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        uploaded = await http.post(
            "/admin/api/accounts/import",
            files=[("file", ("eta.json", json.dumps(cliproxy).encode(), "application/json"))],
        )
        report = uploaded.json()
        assert uploaded.status_code == 200, report
        assert (report["added"], report["applied"], report["accounts"]) == (
            1,
            True,
            ["eta@example.com"],
        )
        own = {"projects": [{"project_id": "proj-theta-0008", "refresh_token": "rt-eight"}]}
        sent = await http.post(
            "/admin/api/accounts/import",
            json={
                "files": [{"name": "theirs.json", "content": own}, {"name": "b", "content": "{"}]
            },
        )
        report = sent.json()
        assert report["added"] == 1
        assert [s["file"] for s in report["skipped"]] == ["b"]
        none = await http.post("/admin/api/accounts/import", json={"files": []})
        assert none.status_code == 400 and none.json()["error"]["param"] == "files"

        exported = await http.get("/admin/api/accounts/export")
        assert exported.headers["content-disposition"] == 'attachment; filename="tokens.json"'
        ids = [p["project_id"] for p in exported.json()["projects"]]
        assert ids[-2:] == ["proj-eta-0007", "proj-theta-0008"]
        zipped = await http.get("/admin/api/accounts/export?format=cliproxy")
        assert zipped.headers["content-type"] == "application/zip" and zipped.content[:2] == b"PK"
        bad = await http.get("/admin/api/accounts/export?format=csv")
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "format"

        # Zips: CLIProxyAPI auth files zipped, and the console's own export read back — sent
        # under a name without .zip and under a .json one, as a picker may: known by content.
        fake.add_account("rt-eleven", "proj-lambda-0011", "lambda@example.com")
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as archive:
            lam = {**cliproxy, "refresh_token": "rt-eleven", "project_id": "proj-lambda-0011"}
            archive.writestr(
                "antigravity-lambda@example.com.json",
                json.dumps(lam | {"email": "lambda@example.com"}),
            )
        for name, data, added, updated in [
            ("auths.zip", packed.getvalue(), 1, 0),
            ("export", zipped.content, 0, 5),
            ("export.json", zipped.content, 0, 5),
        ]:
            sent = await http.post(
                "/admin/api/accounts/import", files=[("file", (name, data, "application/zip"))]
            )
            report = sent.json()
            assert sent.status_code == 200, report
            assert (report["added"], report["updated"], report["skipped"]) == (added, updated, [])
        assert "proj-lambda-0011" in file_projects(tokens_path)


@WITH_ADMIN
async def test_sign_in_by_paste_and_by_callback(
    base_url: str,
    config_overrides: dict[str, Any],
    fake: FakeUpstream,
    tokens_path: Path,
    watcher: FileWatcher,
) -> None:
    fake.add_account("rt-nine", "proj-iota-0009", "iota@example.com")
    fake.add_account("rt-ten", "proj-kappa-0010", "kappa@example.com")
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        started = (await http.post("/admin/api/accounts/sign-in", json={"mode": "paste"})).json()
        assert started["redirect_uri"] == "http://localhost:51121/oauth-callback"
        assert started["consent_url"].startswith(fake.url + "/o/oauth2/v2/auth?")
        ended_on = fake.authorize(started["consent_url"], "rt-nine")
        path = f"/admin/api/accounts/sign-in/{started['id']}"
        wrong = await http.post(path, json={"url": ended_on.replace("state=", "state=x")})
        assert wrong.json()["status"] == "failed" and "state" in wrong.json()["message"]

        started = (await http.post("/admin/api/accounts/sign-in", json={"mode": "paste"})).json()
        path = f"/admin/api/accounts/sign-in/{started['id']}"
        done = await http.post(
            path, json={"url": fake.authorize(started["consent_url"], "rt-nine")}
        )
        assert done.json()["status"] == "done" and done.json()["account"] == "proj…0009"
        assert (await http.get(path)).json()["email"] == "iota@example.com"
        again = await http.post(path, json={"url": "http://localhost:51121/x?state=y&code=z"})
        assert again.status_code == 409

        origin = {"mode": "callback", "origin": base_url}
        started = (await http.post("/admin/api/accounts/sign-in", json=origin)).json()
        assert started["redirect_uri"] == base_url + "/admin/oauth/callback"
        back = fake.authorize(started["consent_url"], "rt-ten")
        async with httpx.AsyncClient(timeout=30) as browser:  # Google's redirect: no cookie
            page = await browser.get(back)
            assert page.status_code == 200 and "Added account proj…0010" in page.text
            replay = await browser.get(back)
            assert "Added account proj…0010" in replay.text  # the same outcome, no second call
            unknown = await browser.get(base_url + "/admin/oauth/callback?state=nope&code=x")
            assert unknown.status_code == 400
        bad = await http.post("/admin/api/accounts/sign-in", json={"mode": "carrier pigeon"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "mode"
    emails = {p.get("email") for p in json.loads(tokens_path.read_text())["projects"]}
    assert {"iota@example.com", "kappa@example.com"} <= emails


@WITH_ADMIN
async def test_overview(
    base_url: str, config_overrides: dict[str, Any], client: Any, watcher: FileWatcher
) -> None:
    await client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
    )
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        await http.post("/admin/api/keys", json={"label": "noted"})
        view = (await http.get("/admin/api/overview?by=model&days=7")).json()
        assert view["accounts"] == {"enabled": 3, "disabled": 0, "cooling": 0, "in_flight": 0}
        assert view["config"]["last_error"] is None and view["config"]["restart_required"] == []
        assert len(view["usage"]["days"]) == 7
        (series,) = view["usage"]["series"]
        assert series["name"] == "gemini-2.5-flash" and series["requests"][-1] == 1
        (line,) = view["recent_requests"]
        assert (line["key"], line["status"], line["path"]) == ("tests", 200, "/v1/chat/completions")
        (write,) = view["admin_writes"]
        assert (write["who"], write["action"], write["target"]) == (
            "admin key",
            "keys.create",
            "noted",
        )
        for query, param in (("by=colour", "by"), ("days=0", "days"), ("days=x", "days")):
            got = await http.get(f"/admin/api/overview?{query}")
            assert got.status_code == 400 and got.json()["error"]["param"] == param


async def test_without_an_admin_key_the_api_does_not_exist(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        for path in READS:
            assert (await http.get(path)).status_code == 404
        assert (await http.post("/admin/api/keys", json={"label": "x"})).status_code == 404
