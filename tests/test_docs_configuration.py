"""docs/configuration.md and conf/gateway.yaml against the schema: every setting of
``ag2api/config/schema.py`` has its row and its line, and no row names a setting that does not
exist."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from ag2api.config import schema
from ag2api.config.schema import Alias, Fallback, GatewayConfig, KeyPolicy

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DOC = ROOT / "docs" / "configuration.md"
SHIPPED = ROOT / "conf" / "gateway.yaml"
# Where the file is, not a setting.
NOT_SETTINGS = {"path"}


def settings(cls: type = GatewayConfig, prefix: str = "") -> set[str]:
    """Every setting a gateway.yaml can hold, dotted (``server.port``); list items as ``[]``
    (``api_keys[].label``); a key policy's fields once, as ``policy.<field>``."""
    found: set[str] = set()
    hints = typing.get_type_hints(cls, vars(schema))
    for f in dataclasses.fields(cls):
        if f.name in NOT_SETTINGS and not prefix:
            continue
        name, kind = prefix + f.name, hints[f.name]
        item = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else None
        target = next(
            (t for t in (kind, item, *typing.get_args(kind)) if dataclasses.is_dataclass(t)),
            None,
        )
        if target is KeyPolicy:
            found.add(name)
            found |= settings(KeyPolicy, "policy.")
        elif target is None or target in (Alias, Fallback):  # a mapping: name → target(s)
            found.add(name)
        elif target is item:  # a list of records
            found.add(name)
            found |= settings(target, name + "[].")
        elif name.endswith(".thinking") or f.name == "thinking":  # optional record, or null
            found.add(name)
            found |= settings(target, name + ".")
        else:  # a section
            found |= settings(target, name + ".")
    return found


def documented() -> set[str]:
    """The names in the first column of the page's tables (``a`` / ``b`` rows name two)."""
    names: set[str] = set()
    for row in re.findall(r"^\| (.+?) \|", CONFIG_DOC.read_text(encoding="utf-8"), re.M):
        names |= set(re.findall(r"`([a-z_][\w.\[\]]*)`", row))
    return names


def test_the_schema_walk_sees_every_kind_of_field() -> None:
    found = settings()
    assert {"server.port", "upstream.timeouts.idle", "tokens_file", "log_level"} <= found
    assert {"api_keys", "api_keys[].label", "api_keys[].policy", "defaults.policy"} <= found
    assert {"policy.rpm", "policy.models", "models.aliases", "models.policies[].match"} <= found
    assert "models.policies[].thinking.budget" in found and "path" not in found
    assert not any(name.startswith("models.aliases[]") for name in found)


def test_every_setting_has_a_row_in_the_configuration_doc() -> None:
    missing = sorted(settings() - documented())
    assert not missing, (
        "docs/configuration.md has no row for "
        + ", ".join(missing)
        + " — add `| `<setting>` | <default> | <meaning> |` to its table"
    )


def test_the_configuration_doc_names_no_setting_that_does_not_exist() -> None:
    unknown = sorted(documented() - settings())
    assert not unknown, f"docs/configuration.md documents settings the schema lacks: {unknown}"


def yaml_keys(node: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(prefix + str(key))
            if isinstance(value, dict) and prefix + str(key) not in ("models.aliases",):
                found |= yaml_keys(value, f"{prefix}{key}.")
    return found


def test_the_shipped_config_lists_every_setting() -> None:
    """Every section setting is a key of conf/gateway.yaml, or — when its default is nothing,
    like ``defaults.policy`` — a commented example line."""
    text = SHIPPED.read_text(encoding="utf-8")
    keys = yaml_keys(yaml.safe_load(text))
    commented = set(re.findall(r"^\s*#\s*([a-z_]+):", text, re.M))
    wanted = {s for s in settings() if "[]" not in s and not s.startswith("policy.")}
    missing = sorted(s for s in wanted if s not in keys and s.rsplit(".", 1)[-1] not in commented)
    assert not missing, f"conf/gateway.yaml does not list {missing}"
    sections = {s.rsplit(".", 1)[0] for s in wanted if "." in s}
    sections |= {s.rsplit(".", 1)[0] for s in sections if "." in s}
    unknown = sorted(keys - wanted - sections)
    assert not unknown, f"conf/gateway.yaml has keys the schema lacks: {unknown}"


def test_the_restart_list_follows_the_schema_marks() -> None:
    """Settings read only at start carry ``metadata={"restart": True}`` on their field; the
    page's list of them is exactly those."""
    marked: set[str] = set()

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls, vars(schema))
        for f in dataclasses.fields(cls):
            if f.metadata.get("restart"):
                marked.add(prefix + f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], prefix + f.name + ".")

    walk(GatewayConfig, "")
    if not marked:
        pytest.skip("the schema marks no restart-only setting yet")
    text = CONFIG_DOC.read_text(encoding="utf-8")
    section = text.split("## Settings that need a restart", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`([a-z_][\w.]*)`", section)) == marked
