"""YAML text → plain Python values plus the line each key and list item sits on."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]


MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlSyntaxError(ValueError):
    def __init__(self, line: int | None, reason: str, key: str = "") -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.key = key  # the dotted key it concerns, when there is one


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text`` (safe loader) into its value and a map of key path → 1-based line."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        lines: dict[Path_, int] = {}
        value = _convert(loader, root, (), lines) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return value, lines


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        _refuse_duplicates(loader, node, path)
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            out[key] = _convert(loader, value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _refuse_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, path: Path_) -> None:
    """A key written twice in one mapping is an error naming both lines: YAML would keep the
    second silently (a second ``api_keys:`` block replacing the first). Keys a ``<<:`` merge
    brings in may be overridden, as YAML intends."""
    first: dict[str, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise YamlSyntaxError(line, "a key that is not a string")
        if key in first:
            name = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in (*path, key))
            raise YamlSyntaxError(
                line,
                f"written twice, on lines {first[key]} and {line} (YAML would silently keep only "
                "the second): merge them into one",
                name.replace(".[", "["),
            )
        first[key] = line
