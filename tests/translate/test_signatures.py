"""Gemini signatures packed into OpenAI tool-call ids come back exactly, old ids included."""

from __future__ import annotations

import base64

import pytest

from ag2api.translate.signatures import decode_call_id, encode_call_id, thinking_key

# Raw bytes starting 0xb4 encode to base64url text starting with "t": the first id form read
# such a payload as a text signature and handed back garbage.
T_SIGNATURE = base64.b64encode(b"\xb4\x01signed-thought\xfe\xff" * 8).decode()


def _old_id(base: str, signature: str) -> str:
    """An id as the gateway issued them before the ``~~``/``~.`` markers."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raw, mark = signature.encode(), "t"
    else:
        mark = ""
    return f"{base}~{mark}{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "signature",
    [
        T_SIGNATURE,
        base64.b64encode(b"\x00\x10 plain bytes").decode(),
        "not base64: a text signature!",
        "t-starts-like-the-old-text-mark",
    ],
)
def test_signatures_round_trip(signature: str) -> None:
    call_id = encode_call_id("call_abc", signature)
    assert call_id.startswith("call_abc~")
    assert decode_call_id(call_id) == ("call_abc", signature)


def test_base64url_payload_starting_with_t_is_not_read_as_text() -> None:
    assert base64.urlsafe_b64encode(base64.b64decode(T_SIGNATURE)).startswith(b"t")
    assert decode_call_id(encode_call_id("call_1", T_SIGNATURE))[1] == T_SIGNATURE


@pytest.mark.parametrize(
    "signature",
    [
        T_SIGNATURE,  # bytes whose payload starts with "t": the ambiguous case, read as bytes
        base64.b64encode(b"\x00\x10 plain bytes").decode(),
        "not base64: a text signature!",
    ],
)
def test_ids_handed_out_before_still_decode(signature: str) -> None:
    assert decode_call_id(_old_id("call_old", signature)) == ("call_old", signature)


@pytest.mark.parametrize("call_id", ["call_x", "call_x~", "call_x~~", "call_x~.%%", "call_x~a"])
def test_ids_without_a_readable_signature_are_left_alone(call_id: str) -> None:
    assert decode_call_id(call_id) == (call_id, None)


def test_no_signature_no_suffix() -> None:
    assert encode_call_id("call_1", None) == "call_1"
    assert encode_call_id("call_1", "") == "call_1"


def test_thinking_keys_are_the_same_in_either_base64_alphabet() -> None:
    sig = base64.b64encode(b"\xfb\xff\xfe" * 20 + b"x").decode()  # with + / and padding
    assert "+" in sig and "/" in sig and sig.endswith("=")
    urlsafe = sig.replace("+", "-").replace("/", "_").rstrip("=")
    assert thinking_key(sig) == thinking_key(urlsafe) != thinking_key(sig[:-4])
    assert sig not in thinking_key(sig)  # a hash, not the signature
