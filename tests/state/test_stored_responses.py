"""A stored response belongs to the key that made it, wherever the key moves in the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from ag2api.server.watch import FileWatcher
from ag2api.services import Services

FIRST, SECOND = "sk-first-0123456789abcdef", "sk-second-0123456789abcdef"
MODEL = "gemini-2.5-flash"


async def set_keys(
    keys: list[str], watcher: FileWatcher, services: Services, path: Path, doc: dict[str, Any]
) -> None:
    version = services.config.version
    path.write_text(yaml.safe_dump({**doc, "api_keys": keys}))
    await watcher.wait_for(lambda: services.config.version > version)


@pytest.mark.parametrize("config_overrides", [{"api_keys": [FIRST, SECOND]}])  # unlabelled
async def test_a_stored_response_stays_with_its_key_when_the_list_changes(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
    config_overrides: Any,
) -> None:
    first, second = client.with_options(api_key=FIRST), client.with_options(api_key=SECOND)
    stored = await first.responses.create(model=MODEL, input="my name is Ada")
    with pytest.raises(openai.NotFoundError):
        await second.responses.retrieve(stored.id)
    # The first key goes: the second is now the list's first ("key-1" when unlabelled).
    await set_keys([SECOND], watcher, services, config_path, config_doc)
    with pytest.raises(openai.NotFoundError):
        await second.responses.retrieve(stored.id)
    with pytest.raises(openai.BadRequestError):
        await second.responses.create(model=MODEL, input="who?", previous_response_id=stored.id)
    # The first key comes back in another place: its response is still its own.
    await set_keys([SECOND, FIRST], watcher, services, config_path, config_doc)
    assert (await first.responses.retrieve(stored.id)).id == stored.id
