"""gateway.yaml's api_keys changed by the console: only that block rewritten, comments and order
kept, checked by the gateway's loader first, and a hand save made meanwhile never lost."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from ag2api.config.keys_file import KeyConflict, KeyEditError, KeyNotFound, KeysFile
from ag2api.config.live import read_config
from ag2api.files import safewrite

ROOT = Path(__file__).resolve().parents[2]
HAND = """\
# my gateway
server:
    host: 127.0.0.1   # loopback only
    port: 8000

api_keys:
- sk-first-plain-key-000001     # the laptop
- key: sk-second-plain-key-00002
  policy: {rpm: 5}  # slow
- {key: sk-third-plain-key-000003, label: ci}
# keys above, admin below
admin_key: admin-secret-123456
models:
    policies:
        - match: "gemini-*"
          thinking: {include_thoughts: true, budget: -1}
"""


def keys_file(path: Path, env: dict[str, str] | None = None) -> KeysFile:
    return KeysFile(path, environ=lambda: env or {})


def outside_block(text: str) -> list[str]:
    """The lines before ``api_keys:`` and from the next top-level key on."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("api_keys:")))
    end = next(
        i for i in range(start + 1, len(lines)) if lines[i][:1].isalpha() or i == len(lines) - 1
    )
    return lines[:start] + lines[end:]


def test_create_on_the_shipped_config_rewrites_only_the_api_keys_block(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    shipped = (ROOT / "conf" / "gateway.yaml").read_text()
    path.write_text(shipped.replace("admin_key: null", "admin_key: admin-secret-123456"))
    before = path.read_text()
    key, expected = keys_file(path).create("ci-bot", {"models": ["gemini-*"], "rpm": 60})
    after = path.read_text()
    assert key.startswith("sk-ag-") and key not in after
    assert outside_block(after) == outside_block(before)
    assert "#  - {key: sk-another-secret, label: laptop}" in after  # the commented examples
    cfg = read_config(path, environ={})
    (made,) = cfg.api_keys
    assert expected == cfg.api_keys
    assert made.label == "ci-bot"
    assert made.key == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert made.policy is not None and made.policy.rpm == 60
    assert made.policy.models == ("gemini-*",)


def test_edits_keep_comments_order_and_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(HAND)
    keys = keys_file(path)
    keys.update("key-2", policy={"rpm": 7, "daily_tokens": 1000})
    keys.update("ci", enabled=False)
    text = path.read_text()
    assert "- sk-first-plain-key-000001     # the laptop" in text
    assert "policy: {rpm: 7, daily_tokens: 1000}" in text
    assert "- {key: sk-third-plain-key-000003, label: ci, policy: {enabled: false}}" in text
    assert text.startswith("# my gateway\nserver:\n    host: 127.0.0.1   # loopback only\n")
    assert text.endswith(HAND[HAND.index("# keys above") :])
    cfg = read_config(path, environ={})
    assert [k.label for k in cfg.api_keys] == ["key-1", "key-2", "ci"]
    assert cfg.policy_of(cfg.api_keys[2]).enabled is False
    keys.update("ci", enabled=True)  # a policy that held only `enabled` goes: defaults again
    assert read_config(path, environ={}).api_keys[2].policy is None


def test_delete_pins_the_labels_of_the_unlabelled_keys_after_it(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(HAND)
    keys_file(path).delete("key-1")
    cfg = read_config(path, environ={})
    assert [k.label for k in cfg.api_keys] == ["key-2", "ci"]
    assert cfg.api_keys[0].policy is not None and cfg.api_keys[0].policy.rpm == 5
    assert "sk-first-plain-key" not in path.read_text()


def test_a_hand_save_during_the_write_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone saves the file between the console's read and its rename: the console's change
    is redone on top of theirs."""
    path = tmp_path / "gateway.yaml"
    path.write_text(HAND)
    check = safewrite.unchanged
    saved: list[bool] = []

    def check_then_save(target: Any, seen: Any) -> bool:
        result = check(target, seen)
        if Path(target) == path and not saved:
            saved.append(True)
            path.write_text(path.read_text().replace("port: 8000", "port: 8111  # by hand"))
        return result

    monkeypatch.setattr(safewrite, "unchanged", check_then_save)
    keys_file(path).create("new-one", None)
    text = path.read_text()
    assert saved and "port: 8111  # by hand" in text and "label: new-one" in text


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda k: k.create("ci", None), KeyEditError, "label"),
        (lambda k: k.create("key-9", None), KeyEditError, "label"),
        (lambda k: k.create("ok", {"rpm": -1}), KeyEditError, "policy.rpm"),
        (lambda k: k.create("ok", {"colour": "red"}), KeyEditError, "policy.colour"),
        (lambda k: k.update("nobody", enabled=False), KeyNotFound, None),
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(
    tmp_path: Path, call: Any, error: type[Exception], field: str | None
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(HAND)
    with pytest.raises(error) as caught:
        call(keys_file(path))
    assert getattr(caught.value, "field", None) == field
    assert path.read_text() == HAND


def test_a_file_the_gateway_refuses_or_keys_from_the_environment_are_not_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.yaml"
    broken = HAND.replace("port: 8000", "port: lots")
    path.write_text(broken)
    with pytest.raises(KeyConflict, match="port"):
        keys_file(path).create("new-one", None)
    assert path.read_text() == broken
    path.write_text(HAND)
    with pytest.raises(KeyConflict, match="AG2API_API_KEYS"):
        keys_file(path, {"AG2API_API_KEYS": "sk-from-the-environment"}).create("new-one", None)
    assert path.read_text() == HAND


def test_a_file_without_api_keys_gets_the_block_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("server:\n  port: 8000\n# the end")
    keys_file(path).create("first", {"monthly_tokens": 5})
    text = path.read_text()
    assert text.startswith('server:\n  port: 8000\n# the end\n\napi_keys:\n  - key: "sha256:')
    assert read_config(path, environ={}).api_keys[0].label == "first"
