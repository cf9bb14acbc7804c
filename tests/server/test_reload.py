"""gateway.yaml and tokens.json edited while the gateway runs: applied live, bad edits harmless."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
from pathlib import Path
from typing import Any

import openai
import pytest
import watchfiles
import yaml

from ag2api.server import watch
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.files import deep_merge, reload
from tests.support.helpers import chat_text
from tests.support.http import fetch, health


async def test_api_keys_change_live(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    await reload(watcher, services, config_path, config_doc, {"api_keys": ["sk-new-key-123456"]})
    with pytest.raises(openai.AuthenticationError):
        await chat_text(client)
    assert await chat_text(client.with_options(api_key="sk-new-key-123456"))


async def test_rotation_policies_hosts_and_user_agent_change_live(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    await chat_text(client)
    await reload(
        watcher,
        services,
        config_path,
        config_doc,
        {
            "rotation": {"count": 1},
            "upstream": {
                "base_urls": [fake.urls[1]],
                "user_agent": "antigravity/hub/9.9.9 linux/amd64",
            },
            "models": {
                "policies": [{"match": "gemini-*", "thinking": {"level": "high"}}],
                "aliases": {"house-model": "gemini-2.5-flash"},
            },
            "log_level": "DEBUG",
        },
    )
    assert services.pool.rotation_count == 1
    await chat_text(client, model="house-model")
    await chat_text(client)
    calls = fake.generate_requests()
    assert [(r.host, r.body["project"]) for r in calls[1:]] == [
        ("b", "proj-alpha-0001"),
        ("b", "proj-beta-0002"),
    ]
    assert calls[-1].headers["User-Agent"] == "antigravity/hub/9.9.9 linux/amd64"
    assert calls[-1].body["request"]["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingLevel": "high",
    }
    assert logging.getLogger().level == logging.DEBUG
    logging.getLogger().setLevel(logging.WARNING)


async def test_broken_yaml_keeps_the_last_good_config_until_fixed(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    base_url: str,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    good = services.config.current
    config_path.write_text(yaml.safe_dump(config_doc) + "rotation:\n  count: [oops\n")
    await watcher.wait_for(lambda: services.config.last_error is not None)
    assert services.config.current is good
    state = await health(base_url)
    assert state["status"] == "degraded"
    assert state["config"]["last_error"].startswith("gateway.yaml:")
    assert "invalid YAML" in state["config"]["last_error"] and state["config"]["last_error_at"]
    assert await chat_text(client)  # still serving on the last good config
    config_path.write_text(yaml.safe_dump(deep_merge(config_doc, {"rotation": {"count": 0}})))
    await watcher.wait_for(lambda: "rotation.count" in (services.config.last_error or ""))
    assert ":" in services.config.last_error.split("rotation.count")[0]  # file:line
    await reload(watcher, services, config_path, config_doc, {"rotation": {"count": 5}})
    state = await health(base_url)
    assert state["config"]["last_error"] is None and state["status"] == "ok"


async def test_a_stream_open_across_a_reload_finishes_on_its_config(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=2))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "long"}]
    )
    it = stream.__aiter__()
    first = await anext(it)
    await reload(
        watcher,
        services,
        config_path,
        config_doc,
        {"upstream": {"base_urls": [fake.urls[1]]}, "api_keys": ["sk-other-000000"]},
    )
    hold.set()
    rest = [c async for c in it]
    text = "".join(c.choices[0].delta.content or "" for c in [first, *rest] if c.choices)
    assert text.endswith("You said: long")
    assert rest[-1].choices[0].finish_reason == "stop"
    assert [r.host for r in fake.generate_requests()] == ["a"]


async def test_tokens_file_edits_are_picked_up(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    watcher: FileWatcher,
    services: Services,
    tokens_path: Path,
) -> None:
    fake.add_account("rt-four", "proj-delta-0004")
    doc = json.loads(tokens_path.read_text())
    doc["projects"] = [
        {**doc["projects"][0], "enabled": False, "disabled_reason": "by hand"},
        doc["projects"][2],
        {"project_id": "proj-delta-0004", "refresh_token": "rt-four", "note": "mine"},
    ]  # alpha disabled, beta removed, delta added
    tokens_path.write_text(json.dumps(doc))
    await watcher.wait_for(lambda: services.pool.get("proj-delta-0004") is not None)
    assert [(a.project_id, a.enabled) for a in services.pool.accounts] == [
        ("proj-alpha-0001", False),
        ("proj-gamma-0003", True),
        ("proj-delta-0004", True),
    ]
    services.pool.rotation_count = 1
    await chat_text(client)
    await chat_text(client)
    assert {r.body["project"] for r in fake.generate_requests()} == {
        "proj-gamma-0003",
        "proj-delta-0004",
    }
    # The gateway's own write-back keeps the person's fields and adds no project back.
    await services.writer.flush()
    written = json.loads(tokens_path.read_text())["projects"]
    assert [p["project_id"] for p in written] == [
        "proj-alpha-0001",
        "proj-gamma-0003",
        "proj-delta-0004",
    ]
    assert written[2]["note"] == "mine" and written[2]["access_token"]


async def test_invalid_tokens_file_is_refused_and_the_pool_kept(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    tokens_path: Path,
    base_url: str,
) -> None:
    good = tokens_path.read_text()
    tokens_path.write_text(good[: len(good) // 2])  # a truncated save
    await watcher.wait_for(lambda: services.tokens_error is not None)
    assert services.pool.counts() == (3, 0)
    state = await health(base_url)
    assert "invalid JSON" in state["tokens"]["last_error"] and state["status"] == "degraded"
    assert await chat_text(client)
    tokens_path.write_text(good)
    await watcher.wait_for(lambda: services.tokens_error is None)
    assert (await health(base_url))["status"] == "ok"


async def test_own_writes_cause_no_reload_loop(
    client: openai.AsyncOpenAI, watcher: FileWatcher, services: Services
) -> None:
    await chat_text(client)  # refresh + last use: one write
    await services.writer.flush()
    writes = services.writer.writes
    await watcher.wait_for(lambda: watcher.batches >= 1)
    assert services.writer.writes == writes  # reloading wrote nothing back
    assert services.writer.pending() == {}


@pytest.mark.parametrize("config_overrides", [{"watch": {"force_polling": True}}])
async def test_polling_mode_works_too(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
    config_overrides: dict[str, Any],
) -> None:
    await reload(watcher, services, config_path, config_doc, {"rotation": {"count": 9}})
    assert services.pool.rotation_count == 9


async def test_no_secret_in_the_gateway_logs_even_at_debug(
    client: openai.AsyncOpenAI, caplog: Any, request_lines: list[dict[str, Any]]
) -> None:
    with caplog.at_level(logging.DEBUG):
        await chat_text(client, stream=True)
        await chat_text(client)
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("ag2api", "tornado"))
    )
    ours += "\n".join(json.dumps(line) for line in request_lines)
    assert '"path": "/v1/chat/completions"' in ours
    assert API_KEY not in ours and "ya29." not in ours and "rt-one" not in ours


async def test_start_only_settings_edited_live_say_a_restart_is_needed(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    base_url: str,
    config_path: Path,
    config_doc: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "ag2api.reload")
    usage_db = services.usage.path
    await reload(
        watcher,
        services,
        config_path,
        config_doc,
        {
            "rotation": {"count": 7},  # live
            "server": {"port": 9},
            "watch": {"force_polling": True},
            "observability": {"request_log_file": "logs/requests.jsonl", "usage_flush_seconds": 9},
            "state": {"key_prefix": "other:"},
        },
    )
    pending = [
        "server.port",
        "watch.force_polling",
        "observability.request_log_file",
        "observability.usage_flush_seconds",
        "state.key_prefix",
    ]
    assert services.pool.rotation_count == 7
    assert (await health(base_url))["restart_required"] == pending
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "state.key_prefix changed: not applied until the gateway restarts" in warned
    assert warned[-1] == "restart required for: " + ", ".join(pending)
    assert services.usage.path == usage_db and await chat_text(client)  # still as started
    # Edited back, one by one: each leaves the list.
    await reload(watcher, services, config_path, config_doc, {"server": {"port": 9}})
    assert (await health(base_url))["restart_required"] == ["server.port"]
    await reload(watcher, services, config_path, config_doc, {"rotation": {"count": 2}})
    assert (await health(base_url))["restart_required"] == []
    assert any(
        "server.port is back to the value in force" in r.getMessage() for r in caplog.records
    )


async def test_a_key_written_twice_is_refused_on_reload_naming_both_lines(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    base_url: str,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    text = yaml.safe_dump(config_doc)
    config_path.write_text(text + "api_keys:\n  - sk-second-block-0002\n")
    await watcher.wait_for(lambda: services.config.last_error is not None)
    line = text.count("\n") + 1
    first = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("api_keys:"))
    state = await health(base_url)
    assert state["status"] == "degraded"
    assert state["config"]["last_error"].startswith(f"gateway.yaml:{line}: api_keys: ")
    assert f"on lines {first} and {line}" in state["config"]["last_error"]
    assert await chat_text(client)  # the first block's key still works
    with pytest.raises(openai.AuthenticationError):
        await chat_text(client.with_options(api_key="sk-second-block-0002"))


SECRET = "hunter2-s3cret"


async def test_health_names_field_and_line_but_no_value_and_no_folder(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    base_url: str,
    config_path: Path,
    config_doc: dict[str, Any],
    tokens_path: Path,
) -> None:
    bad = deep_merge(config_doc, {"upstream": {"base_urls": [f"ftp://user:{SECRET}@mirror/"]}})
    config_path.write_text(yaml.safe_dump(bad))
    await watcher.wait_for(lambda: services.config.last_error is not None)
    tokens_path.write_text("{")
    await watcher.wait_for(lambda: services.tokens_error is not None)
    raw = (await fetch(base_url + "/health")).body.decode()
    state = json.loads(raw)
    assert SECRET not in raw
    assert str(config_path.parent) not in raw  # neither the config's folder nor tokens'
    assert state["config"]["last_error"].startswith("gateway.yaml:")
    assert "upstream.base_urls: item 1 is not an http(s) URL" in state["config"]["last_error"]
    assert state["tokens"]["last_error"].startswith("tokens.json: invalid JSON")
    assert (state["config"]["file"], state["tokens"]["file"]) == ("gateway.yaml", "tokens.json")
    # The operator's log keeps the whole path (it is theirs), never the value.
    assert services.config.last_error and str(config_path) in services.config.last_error
    assert SECRET not in services.config.last_error
    # A file it cannot read: the system's reason, never the path an OSError's text carries.
    config_path.unlink()
    config_path.mkdir()
    await watcher.wait_for(lambda: "cannot read" in (services.config.last_error or ""))
    raw = (await fetch(base_url + "/health")).body.decode()
    assert str(config_path.parent) not in raw
    assert json.loads(raw)["config"]["last_error"] == "gateway.yaml: cannot read: Is a directory"


async def test_a_tokens_file_in_a_folder_that_cannot_exist_is_a_refused_edit(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    base_url: str,
    config_path: Path,
    config_doc: dict[str, Any],
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    good = services.config.current
    bad = deep_merge(config_doc, {"tokens_file": str(a_file / "sub" / "tokens.json")})
    text = yaml.safe_dump(bad)
    config_path.write_text(text)
    await watcher.wait_for(lambda: services.config.last_error is not None)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("tokens_file:"))
    state = await health(base_url)
    assert state["config"]["last_error"] == (
        f"gateway.yaml:{line}: tokens_file: its folder cannot be created (Not a directory)"
    )
    assert state["status"] == "degraded" and state["watch"]["running"]
    assert services.config.current is good and await chat_text(client)
    # The watcher is still there: the next edit is applied.
    await reload(watcher, services, config_path, config_doc, {"rotation": {"count": 4}})
    assert services.pool.rotation_count == 4 and (await health(base_url))["status"] == "ok"


async def test_a_watcher_that_stops_on_its_own_shows_on_health(
    watcher: FileWatcher, services: Services, base_url: str
) -> None:
    assert (await health(base_url))["watch"] == {
        "running": True,
        "last_error": None,
        "last_error_at": None,
    }
    task = watcher._task
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    state = await health(base_url)
    assert state["status"] == "degraded" and not state["watch"]["running"]
    assert state["watch"]["last_error"].startswith("the file watcher stopped (it was cancelled)")


async def test_a_watch_that_cannot_be_set_up_shows_on_health_and_is_retried(
    services: Services, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_awatch = watchfiles.awatch
    failed = asyncio.Event()

    def awatch(*folders: str, **options: Any) -> Any:
        if not failed.is_set():
            failed.set()
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real_awatch(*folders, **options)

    monkeypatch.setattr(watchfiles, "awatch", awatch)
    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.01)
    watcher = FileWatcher(services.config, Reloader(services))
    watcher.start()
    try:
        await failed.wait()
        state = await health(base_url)
        assert state["status"] == "degraded" and state["watch"]["running"]
        assert state["watch"]["last_error"] == (
            "the file watch failed (inotify watch limit reached); retrying"
        )
        await asyncio.wait_for(watcher.ready.wait(), 10)
        assert (await health(base_url))["watch"]["last_error"] is None
    finally:
        await watcher.stop()
    assert not services.watch.running and services.watch.problem is None
