"""``ag2api --demo``: the real gateway in front of the built-in fake upstream, no account needed."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ag2api.accounts.store import write_atomic
from ag2api.config.schema import ApiKey, GatewayConfig, is_loopback
from ag2api.services import Services
from ag2api.testing.fake_filter import KNOWN_TRIGGERS
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from ag2api.testing.fake_upstream import FakeUpstream

__all__ = ["DEMO_KEY", "is_loopback", "print_banner", "start_demo_upstream"]

# The README's examples use this key, so they work as pasted against `ag2api --demo`.
DEMO_KEY = "sk-change-me"


async def start_demo_upstream(
    cfg: GatewayConfig, folder: Path
) -> tuple[GatewayConfig, FakeUpstream, str]:
    """Start the fake, write a throwaway tokens.json for it in ``folder`` (the caller removes
    it), and point ``cfg`` at both."""
    # It refuses the system prompts the real backend refuses (sensitive_words: [] shows it).
    fake = FakeUpstream(content_filter=KNOWN_TRIGGERS)
    await fake.start()
    projects = []
    for i in (1, 2):
        refresh = f"demo-refresh-token-{i}"
        fake.add_account(refresh, f"demo-project-{i}", f"demo{i}@example.com")
        projects.append(
            {
                "project_id": f"demo-project-{i}",
                "refresh_token": refresh,
                "access_token": None,
                "expires_at": 0,
                "enabled": True,
                "disabled_reason": None,
            }
        )
    tokens = {
        "oauth_config": {
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "token_url": fake.token_url,
        },
        "projects": projects,
    }
    tokens_file = folder / "tokens.json"
    write_atomic(tokens_file, json.dumps(tokens, indent=2))
    # The well-known key only where nobody else can reach the demo.
    key = (
        DEMO_KEY if is_loopback(cfg.server.host) else "sk-ag2api-demo-" + secrets.token_urlsafe(12)
    )
    admin_key = "admin-demo-" + secrets.token_urlsafe(12)
    # The console edits keys in the config file: the demo's copy, never the person's own.
    copy = folder / "gateway.yaml"
    write_atomic(copy, cfg.path.read_text(encoding="utf-8") if cfg.path.is_file() else "{}\n")
    demo_cfg = replace(
        cfg,
        path=copy,
        api_keys=(ApiKey(key, "demo"),),
        admin_key=admin_key,
        tokens_file=tokens_file,
        upstream=replace(cfg.upstream, base_urls=(fake.url,), proxy=None),
        # The demo's settings live in memory: re-reading the files would undo them.
        watch=replace(cfg.watch, enabled=False),
    )
    return demo_cfg, fake, key


def banner(key: str, admin_key: str, port: int, host: str, config: Path) -> str:
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    return f"""
  ag2api demo is running on {base}, served by the built-in fake upstream (no Google account).

  API key:  {key}

  curl {base}/v1/chat/completions \\
    -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
    -d '{{"model": "gemini-2.5-flash", "stream": true,
         "messages": [{{"role": "user", "content": "Hello!"}}]}}'

  Python:  OpenAI(base_url="{base}/v1", api_key="{key}")

  Console: {base}/admin/  (admin key: {admin_key})

  Config: {config} (read once: the demo does not watch it; restart to apply an edit)

  Press Ctrl+C to stop. To use real accounts, run without --demo (see README, "Add an account").
"""


def print_banner(
    key: str, admin_key: str, host: str, config: Path
) -> Callable[[Services, int], None]:
    def ready(services: Services, port: int) -> None:
        print(banner(key, admin_key, port, host, config), flush=True)

    return ready
