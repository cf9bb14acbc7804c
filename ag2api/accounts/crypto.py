"""Refresh and access tokens encrypted at rest: AES-256-GCM, ``"enc:v1:<base64>"`` in the field.

The key comes from ``AG2API_SECRET_KEY`` or the file ``secrets.key_file`` names (the environment
wins); any text of 16 characters or more, stretched to 256 bits with HKDF-SHA256. Each value gets
a fresh 96-bit nonce, and the field's name is authenticated with it, so a refresh token cannot be
passed off as an access token. A value without the prefix is plaintext and read as it is: files
written before a key was set, and entries added by hand, keep working and are encrypted at the
next write.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"
ENV_KEY = "AG2API_SECRET_KEY"
SECRET_FIELDS = ("refresh_token", "access_token")
MIN_KEY_CHARS = 16
_NONCE = 12
_INFO = b"ag2api token encryption v1"
KEY_HELP = (
    f"set {ENV_KEY} (or secrets.key_file in the config) to the key the tokens were encrypted with"
)


class BadKey(ValueError):
    """The key is unusable (too short, unreadable file)."""


class CannotDecrypt(ValueError):
    """A value is encrypted and there is no key, or not this key."""

    def __init__(self, missing_key: bool) -> None:
        super().__init__("no key is set" if missing_key else "the key does not open it")
        self.missing_key = missing_key


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


class TokenCipher:
    """Seals and opens token values; without a key it reads plaintext and seals nothing."""

    def __init__(self, material: bytes | None, source: str = "no key") -> None:
        self.source = source
        self._aead: AESGCM | None = None
        if material is not None:
            if len(material.strip()) < MIN_KEY_CHARS:
                raise BadKey(f"{source}: the key must be at least {MIN_KEY_CHARS} characters")
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
            self._aead = AESGCM(hkdf.derive(material.strip()))

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def seal(self, value: str, field: str) -> str:
        """``value`` encrypted (unchanged when already sealed, empty, or without a key)."""
        if self._aead is None or not value or is_sealed(value):
            return value
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, value.encode(), field.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, value: str, field: str) -> str:
        """The plaintext of ``value`` (plaintext is returned as it is); raises CannotDecrypt."""
        if not is_sealed(value):
            return value
        if self._aead is None:
            raise CannotDecrypt(missing_key=True)
        try:
            raw = base64.b64decode(value[len(PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], field.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError):
            raise CannotDecrypt(missing_key=False) from None


PLAINTEXT = TokenCipher(None)


def load_cipher(environ: Mapping[str, str], key_file: Path | None) -> TokenCipher:
    """The cipher the environment or the config's ``secrets.key_file`` sets up (PLAINTEXT if
    neither); raises BadKey when the key is too short or its file cannot be read."""
    if environ.get(ENV_KEY):
        return TokenCipher(environ[ENV_KEY].encode(), ENV_KEY)
    if key_file is None:
        return PLAINTEXT
    try:
        material = key_file.read_bytes()
    except OSError as exc:
        raise BadKey(f"secrets.key_file {key_file}: {exc.strerror or exc}") from None
    return TokenCipher(material, f"secrets.key_file {key_file}")


def unreadable_message(
    name: str, who: list[str], missing_key: bool, outcome: str = "they are left as they are, unused"
) -> str:
    """One line naming the accounts whose tokens cannot be read, and what to do."""
    cause = "they are encrypted and no key is set" if missing_key else "the key does not open them"
    return (
        f"{name}: cannot read the tokens of {len(who)} account(s) ({', '.join(who)}): {cause}; "
        f"{KEY_HELP} ({outcome})"
    )
