"""ag2api.files.safewrite: a file replaced atomically, never over a save made since it was read,
not even one landing between the last check and the rename; a half-written save waited for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ag2api.files import safewrite
from tests.support.files import HAND_SAVES


def exchange_supported(tmp_path: Path) -> bool:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    swapped = safewrite.exchange(a, b) and a.read_text() == "b"
    a.unlink()
    b.unlink()
    return swapped


@pytest.mark.parametrize("save", HAND_SAVES)
def test_a_save_right_after_the_last_check_is_swapped_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, save: Any
) -> None:
    """The narrowest window: the file is checked unchanged, then saved before the rename."""
    if not exchange_supported(tmp_path):
        pytest.skip("this file system cannot swap two names atomically")
    path = tmp_path / "gateway.yaml"
    path.write_text("port: 8000\n")
    seen, _ = safewrite.read_state(path)
    check = safewrite.unchanged
    saves = []

    def check_then_save(target: Any, seen: Any) -> bool:
        result = check(target, seen)
        if Path(target) == path and not saves:
            save(path, "port: 8111  # by hand\n")
            saves.append(path.read_text())
        return result

    monkeypatch.setattr(safewrite, "unchanged", check_then_save)
    assert not safewrite.write_atomic(path, "port: 9000\n", unless_changed_from=seen)
    assert saves and path.read_text() == "port: 8111  # by hand\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gateway.yaml"]


def test_a_half_written_save_is_waited_for_then_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gateway.yaml"
    whole = "port: 8111  # by hand\n"
    path.write_text(whole[:6])  # the editor has written part of its save...

    class Meanwhile:
        @staticmethod
        def sleep(_seconds: float) -> None:
            path.write_text(whole)  # ...and finishes it while the writer waits

    def edit(data: bytes | None) -> str:
        text = (data or b"").decode()
        if not text.endswith("\n"):
            raise safewrite.Unreadable("half a line")
        return text + "host: 127.0.0.1\n"

    monkeypatch.setattr(safewrite, "time", Meanwhile)
    assert safewrite.rewrite(path, edit) == whole + "host: 127.0.0.1\n"
    assert path.read_text() == whole + "host: 127.0.0.1\n"
