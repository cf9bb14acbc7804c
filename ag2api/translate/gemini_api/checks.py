"""The types of what the Gemini API body forwards nearly as it is: parts and generation fields.

The translation passes contents, tool config, safety settings and most generation fields on, so
their types are checked here before anything is sent: a wrong one is a 400 naming its field (the
backend would refuse it anyway, after the call was made and an account's turn spent). Keys the
gateway does not know are left to the backend, as are the values' ranges.
"""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest

_STRING = "a string"
_OBJECT = "an object"


def check_part(part: dict[str, Any], where: str) -> None:
    """A 400 naming the field when a part's known field has the wrong type (either spelling:
    the Gemini API takes camelCase and snake_case)."""
    for key in ("text", "thoughtSignature", "thought_signature"):
        _expect(part, key, str, _STRING, where)
    _expect(part, "thought", bool, "true or false", where)
    for key in ("functionCall", "function_call"):
        function_call = _expect(part, key, dict, _OBJECT, where)
        if function_call is not None:
            _name(function_call, f"{where}.{key}")
            _expect(function_call, "args", dict, _OBJECT, f"{where}.{key}")
            _expect(function_call, "id", str, _STRING, f"{where}.{key}")
    for key in ("functionResponse", "function_response"):
        response = _expect(part, key, dict, _OBJECT, where)
        if response is not None:
            _name(response, f"{where}.{key}")
            _expect(response, "response", dict, _OBJECT, f"{where}.{key}")
            _expect(response, "id", str, _STRING, f"{where}.{key}")
    for key in ("inlineData", "inline_data", "fileData", "file_data"):
        data = _expect(part, key, dict, _OBJECT, where)
        if data is not None:
            for field in ("mimeType", "mime_type", "data", "fileUri", "file_uri"):
                _expect(data, field, str, _STRING, f"{where}.{key}")


def check_generation(gen: dict[str, Any]) -> None:
    """The forwarded ``generationConfig`` fields the numbers check does not cover."""
    where = "generationConfig"
    _strings(gen, "stopSequences", where)
    _strings(gen, "responseModalities", where)
    for key in ("responseMimeType", "mediaResolution"):
        _expect(gen, key, str, _STRING, where)
    count = gen.get("candidateCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise _bad(f"{where}.candidateCount", "an integer")
    _expect(gen, "imageConfig", dict, _OBJECT, where)


def check_thinking(config: dict[str, Any]) -> None:
    where = "generationConfig.thinkingConfig"
    _expect(config, "includeThoughts", bool, "true or false", where)
    budget = config.get("thinkingBudget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
        raise _bad(f"{where}.thinkingBudget", "an integer")
    _expect(config, "thinkingLevel", str, _STRING, where)


def check_function_calling(config: dict[str, Any]) -> None:
    _strings(config, "allowedFunctionNames", "toolConfig.functionCallingConfig")


def check_safety(settings: list[Any]) -> None:
    for i, setting in enumerate(settings):
        where = f"safetySettings[{i}]"
        if not isinstance(setting, dict):
            raise _bad(where, _OBJECT)
        for key in ("category", "threshold", "method"):
            _expect(setting, key, str, _STRING, where)


def _expect(value: dict[str, Any], key: str, kind: type, what: str, where: str) -> Any:
    """``value[key]`` when present and of ``kind`` (None when absent or null)."""
    found = value.get(key)
    if found is not None and not isinstance(found, kind):
        raise _bad(f"{where}.{key}", what)
    return found


def _name(value: dict[str, Any], where: str) -> None:
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name", "a non-empty string")


def _strings(value: dict[str, Any], key: str, where: str) -> None:
    found = value.get(key)
    if found is not None and (
        not isinstance(found, list) or not all(isinstance(s, str) for s in found)
    ):
        raise _bad(f"{where}.{key}", "an array of strings")


def _bad(field: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"'{field}' must be {what}", param=field)
