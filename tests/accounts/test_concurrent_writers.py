"""Two processes writing tokens.json at once lose nothing: the gateway's field updates in this
process, the OAuth script's appends in another, 200 rounds each."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

from ag2api.accounts.store import apply_gateway_changes, update_tokens

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 200

SCRIPT = ROOT / "scripts" / "oauth_server.py"
SCRIPT_WRITER = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("oauth_server", {str(SCRIPT)!r})
oauth = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oauth)
path = __import__("pathlib").Path(sys.argv[1])
for i in range({ROUNDS}):
    oauth.save_account(path, client_id="cid", client_secret="sec", token_url="http://t",
                       project=f"script-proj-{{i}}", email=f"user{{i}}@example.com",
                       tokens={{"refresh_token": f"rt-{{i}}", "access_token": f"at-{{i}}",
                                "expires_in": 3599}})
"""


def test_gateway_and_script_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(
        json.dumps(
            {
                "oauth_config": {"client_id": "cid", "client_secret": "sec"},
                "projects": [
                    {"project_id": "gw-proj", "refresh_token": "r", "note": "a person's field"}
                ],
            }
        )
    )
    script = subprocess.Popen([sys.executable, "-c", SCRIPT_WRITER, str(path)], cwd=ROOT)
    errors: list[BaseException] = []

    def gateway_writes() -> None:
        try:
            for i in range(ROUNDS):
                changes = {
                    "gw-proj": {
                        "access_token": f"tok-{i}",
                        "last_used_at": i,
                        "expires_at": 1_800_000_000 + i,
                    }
                }
                update_tokens(path, lambda doc, c=changes: apply_gateway_changes(doc, c))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    worker = threading.Thread(target=gateway_writes)
    worker.start()
    worker.join(timeout=120)
    assert script.wait(timeout=120) == 0
    assert not errors and not worker.is_alive()
    doc = json.loads(path.read_text())
    projects = {p["project_id"]: p for p in doc["projects"]}
    assert len(projects) == ROUNDS + 1
    assert all(projects[f"script-proj-{i}"]["refresh_token"] == f"rt-{i}" for i in range(ROUNDS))
    gateway = projects["gw-proj"]
    assert (gateway["access_token"], gateway["last_used_at"], gateway["note"]) == (
        f"tok-{ROUNDS - 1}",
        ROUNDS - 1,
        "a person's field",
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.lock"]
