"""Changing ``api_keys`` in gateway.yaml from the console: create, edit, delete a client key.

gateway.yaml stays the one source of truth, edited by people too, so a change here:

* rewrites only the ``api_keys`` block: the rest of the file is kept byte for byte, and inside
  the block comments, order, quoting and flow style survive (ruamel.yaml's round trip);
* goes through :func:`ag2api.files.safewrite.rewrite` — under ``gateway.yaml.lock``, replaced
  atomically, redone on what the file holds when someone saved it meanwhile, so a hand edit
  made at the same moment is never lost;
* is checked by the gateway's own loader before it is written: a file the gateway would refuse
  is never written, and an edit that would not take effect (``AG2API_API_KEYS`` in force) is
  refused with the reason. The running gateway then applies it through its normal reload.

A new key is shown once and stored only as ``sha256:<hex>``. Deleting a key pins the derived
labels (``key-N``) of the unlabelled keys after it, so usage statistics and limits keep naming
the same keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ag2api.config.errors import ConfigError
from ag2api.config.keys_reader import POLICY_FIELDS
from ag2api.config.live import exposure_problem
from ag2api.config.load import parse_config
from ag2api.config.schema import HASH_PREFIX, ApiKey, GatewayConfig
from ag2api.config.shared_keys import digest as entry_digest
from ag2api.config.shared_keys import entry_of
from ag2api.files.safewrite import Unreadable, rewrite

KEY_PREFIX = "sk-ag-"
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:+-]{0,63}$")
_SECTION = "api_keys"
Keys = tuple[ApiKey, ...]


class KeyEditError(ValueError):
    """The change cannot be made; nothing was written. ``field`` names the request field at
    fault, when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class KeyNotFound(KeyEditError):
    pass


class KeyConflict(KeyEditError):
    """The file or the environment is in the way (a refused file, AG2API_API_KEYS)."""


def new_client_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hashed(key: str) -> str:
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeysFile:
    """gateway.yaml's ``api_keys``, changed the way the running gateway will read them."""

    path: Path
    # The environment the gateway reads the file with (AG2API_* overrides); os.environ by default.
    environ: Callable[[], Mapping[str, str]] = lambda: os.environ
    # The addresses the running gateway listens on: a change that would leave one of them open
    # without a key is refused, as the reload would refuse it.
    listening: Callable[[], Iterable[str]] = lambda: ()

    def create(self, label: str, policy: dict[str, Any] | None) -> tuple[str, Keys]:
        """Add a key; returns it (the only time it is seen: the file holds its hash) and the
        keys as the gateway will read them."""
        label = check_label(label)
        entry = CommentedMap()
        key = new_client_key()
        entry["key"] = DoubleQuotedScalarString(hashed(key))
        entry["label"] = label
        if policy is not None:
            entry["policy"] = yaml_policy(check_policy(policy))

        def change(keys: CommentedSeq) -> None:
            if label in labels_of(keys):
                raise KeyEditError(f"a key labelled {label!r} exists already", "label")
            keys.append(entry)

        def took(cfg: GatewayConfig) -> bool:
            return any(k.label == label and k.key == entry["key"] for k in cfg.api_keys)

        return key, self._edit(change, took)

    def update(
        self,
        label: str,
        *,
        enabled: bool | None = None,
        policy: dict[str, Any] | None = None,
        clear_policy: bool = False,
    ) -> Keys:
        """Replace the key's own policy (``clear_policy``: drop it, so ``defaults.policy``
        applies), and/or set whether it may be used."""
        if policy is not None:
            policy = check_policy(policy)

        def change(keys: CommentedSeq) -> None:
            i = index_of(keys, label)
            entry = as_mapping(keys, i, label)
            own = yaml_policy(policy) if policy is not None else entry.get("policy")
            if clear_policy:
                own = None
            if enabled is not None:
                own = with_enabled(own, enabled)
            if own is None:
                entry.pop("policy", None)
            else:
                entry["policy"] = own

        def took(cfg: GatewayConfig) -> bool:
            key = next((k for k in cfg.api_keys if k.label == label), None)
            if key is None:
                return False
            return enabled is None or cfg.policy_of(key).enabled == enabled

        return self._edit(change, took)

    def put_shared(self, label: str, entry: dict[str, Any] | None, expect: str | None) -> Keys:
        """Write a key another host shared: ``entry`` (``{"key": "sha256:…", "policy"}``) under
        ``label``, added or replacing the one there; None deletes it. Refused (KeyConflict)
        when the file's entry for ``label`` is not the one hashed ``expect`` (None: none):
        an edit made here meanwhile is never overwritten."""
        label = check_label(label)
        policy = entry.get("policy") if entry is not None else None
        if policy is not None:
            policy = check_policy(policy)

        def change(keys: CommentedSeq) -> None:
            labels = labels_of(keys)
            here = entry_of(keys[labels.index(label)]) if label in labels else None
            if entry_digest(here[1] if here else None) != expect:
                raise KeyConflict(f"the key labelled {label!r} changed here meanwhile")
            if entry is None:
                if label in labels:
                    i = labels.index(label)
                    for j in range(i + 1, len(keys)):  # their derived labels would shift
                        as_mapping(keys, j, derived_label(keys, j))
                    del keys[i]
                return
            if label in labels:
                item = as_mapping(keys, labels.index(label), label)
            else:
                item = CommentedMap()
                keys.append(item)
            item["key"] = DoubleQuotedScalarString(entry["key"])
            item["label"] = label
            if policy is None:
                item.pop("policy", None)
            else:
                item["policy"] = yaml_policy(policy)

        def took(cfg: GatewayConfig) -> bool:
            there = [k for k in cfg.api_keys if k.label == label]
            return (entry is None and not there) or any(
                entry is not None and k.key == entry["key"] for k in there
            )

        return self._edit(change, took)

    def delete(self, label: str) -> Keys:
        def change(keys: CommentedSeq) -> None:
            i = index_of(keys, label)
            for j in range(i + 1, len(keys)):  # their derived labels would shift: pin them
                as_mapping(keys, j, derived_label(keys, j))
            del keys[i]

        return self._edit(change, lambda cfg: all(k.label != label for k in cfg.api_keys))

    # -- the file ------------------------------------------------------------------------
    def _edit(
        self, change: Callable[[CommentedSeq], None], took: Callable[[GatewayConfig], bool]
    ) -> Keys:
        """Apply ``change``; ``took`` says whether the gateway would see it. Returns the keys
        the written file gives (what the running gateway has once it reloaded)."""
        written: list[Keys] = []

        def edit(data: bytes | None) -> str:
            if data is None:
                raise KeyConflict(f"{self.path} does not exist")
            text = _decode(data, self.path)
            self._loaded(text, "the gateway refuses it as it is")
            new = edit_api_keys(text, change, str(self.path))
            cfg = self._loaded(new, "the change would make it invalid")
            exposed = exposure_problem(cfg, self.listening()) or exposure_problem(cfg)
            if exposed is not None:
                raise KeyConflict(f"{self.path.name}: the change would be refused: {exposed}")
            if not took(cfg):
                raise KeyConflict(
                    "api_keys are set by AG2API_API_KEYS (or API_KEYS in .env), which win over "
                    "the file: change them there"
                )
            written[:] = [cfg.api_keys]
            return new

        try:
            rewrite(self.path, edit)
        except Unreadable as exc:
            raise KeyConflict(str(exc)) from None
        except OSError as exc:
            raise KeyConflict(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return written[0]

    def _loaded(self, text: str, why: str) -> GatewayConfig:
        dotenv = self.path.parent / ".env"
        try:
            return parse_config(
                text,
                path=self.path,
                dotenv_text=dotenv.read_text(encoding="utf-8") if dotenv.is_file() else None,
                environ=self.environ(),
            )
        except ConfigError as exc:
            raise KeyConflict(f"{self.path.name}: {why}: {exc}") from None


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{path}: not UTF-8 text") from exc


# -- the api_keys block ------------------------------------------------------------------
def _yaml(offset: int) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a line
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def edit_api_keys(text: str, change: Callable[[CommentedSeq], None], name: str) -> str:
    """``text`` with its ``api_keys`` list changed by ``change``; only that block is rewritten."""
    try:
        doc = _yaml(2).load(text)
    except YAMLError as exc:
        raise Unreadable(f"{name}: invalid YAML: {exc}") from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise KeyConflict(f"{name}: the top level must be a mapping of keys")
    lines = text.splitlines(keepends=True)
    start, end = _block(doc, len(lines))
    offset = _item_offset(lines[start:end]) if start < end else 2
    keys = doc.get(_SECTION)
    if keys is None:
        keys = CommentedSeq()
        doc[_SECTION] = keys
    if not isinstance(keys, CommentedSeq):
        raise KeyConflict(f"{name}: api_keys must be a list of keys")
    change(keys)
    keys.fa.set_block_style()
    out = io.StringIO()
    _yaml(offset).dump(doc, out)
    dumped = out.getvalue()
    new_lines = dumped.splitlines(keepends=True)
    n_start, n_end = _block(_yaml(offset).load(dumped), len(new_lines))
    if start == end:  # no api_keys yet: the block goes at the end
        tail = [] if not lines or lines[-1].endswith("\n") else ["\n"]
        return "".join([*lines, *tail, "\n", *new_lines[n_start:n_end]])
    return "".join([*lines[:start], *new_lines[n_start:n_end], *lines[end:]])


def _block(doc: CommentedMap, total: int) -> tuple[int, int]:
    """The lines of the api_keys block: from its key to the next top-level key (comments in
    between go with it). (total, total) when there is none."""
    names = list(doc.keys())
    if _SECTION not in names:
        return total, total
    i = names.index(_SECTION)
    start = doc.lc.key(_SECTION)[0]
    end = doc.lc.key(names[i + 1])[0] if i + 1 < len(names) else total
    return start, end


def _item_offset(block: list[str]) -> int:
    """How far the list's dashes are indented in the file (kept for the rewritten block)."""
    for line in block[1:]:
        match = re.match(r"^( *)- ", line)
        if match:
            return len(match.group(1))
    return 2


def derived_label(keys: CommentedSeq, i: int) -> str:
    """The label the loader gives entry ``i``."""
    item = keys[i]
    if isinstance(item, Mapping) and isinstance(item.get("label"), str) and item["label"].strip():
        return str(item["label"]).strip()
    return f"key-{i + 1}"


def labels_of(keys: CommentedSeq) -> list[str]:
    return [derived_label(keys, i) for i in range(len(keys))]


def index_of(keys: CommentedSeq, label: str) -> int:
    try:
        return labels_of(keys).index(label)
    except ValueError:
        raise KeyNotFound(f"no key labelled {label!r} in api_keys") from None


def as_mapping(keys: CommentedSeq, i: int, label: str) -> CommentedMap:
    """Entry ``i`` as a mapping that names its label (a bare key string becomes
    ``{key: …, label: …}``, in flow style like the documented one-line form)."""
    item = keys[i]
    if isinstance(item, CommentedMap):
        if "label" not in item:
            item.insert(list(item.keys()).index("key") + 1 if "key" in item else 0, "label", label)
        return item
    entry = CommentedMap()
    entry["key"] = item
    entry["label"] = label
    entry.fa.set_flow_style()
    keys[i] = entry
    return entry


def with_enabled(policy: Any, enabled: bool) -> CommentedMap | None:
    """``policy`` with ``enabled`` set. A key without a policy of its own gets ``{enabled:
    false}``; enabling it again drops a policy that held nothing else (back to the defaults)."""
    if enabled:
        if not isinstance(policy, CommentedMap):
            return None
        policy.pop("enabled", None)
        return policy if len(policy) else None
    if isinstance(policy, CommentedMap):
        policy["enabled"] = False
        return policy
    own = CommentedMap(enabled=False)
    own.fa.set_flow_style()
    return own


# -- requests ----------------------------------------------------------------------------
def check_label(label: Any) -> str:
    if not isinstance(label, str) or not LABEL.match(label.strip()):
        raise KeyEditError(
            "'label' must be 1-64 letters, digits, spaces or . _ @ : + - (starting with a letter "
            "or digit)",
            "label",
        )
    if re.fullmatch(r"key-\d+", label.strip()):
        raise KeyEditError("'label' key-N is what unlabelled keys are called", "label")
    return label.strip()


def check_policy(policy: Any) -> dict[str, Any]:
    """The policy as the gateway's loader reads it, or a KeyEditError naming the field."""
    if not isinstance(policy, dict):
        raise KeyEditError("'policy' must be an object", "policy")
    clean = {k: v for k, v in policy.items() if v is not None}
    probe = {"api_keys": [{"key": HASH_PREFIX + "0" * 64, "label": "probe", "policy": clean}]}
    try:  # the probe is JSON, which is YAML
        parse_config(json.dumps(probe, default=str), path=Path("policy"))
    except ConfigError as exc:
        field = exc.key.replace("api_keys[0].", "", 1) or "policy"
        raise KeyEditError(f"'{field}' {exc.reason}", field) from None
    return clean


def yaml_policy(policy: dict[str, Any]) -> CommentedMap:
    """A policy in flow style, in the documented field order."""
    out = CommentedMap()
    for name in POLICY_FIELDS:
        if name not in policy:
            continue
        value = policy[name]
        if name == "models":
            models = CommentedSeq(DoubleQuotedScalarString(m) for m in value)
            models.fa.set_flow_style()
            value = models
        elif name == "expires" and isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        out[name] = value
    out.fa.set_flow_style()
    return out
