"""Which OAuth client signs accounts in and refreshes their tokens.

With nothing configured it is the Antigravity IDE's own installed-app client, the one the IDE and
every peer gateway use. Google documents an installed application's client secret as not
confidential (it ships inside every copy of the app): what protects an account is the user's
consent and the refresh token it yields, never these values. The IDE's binary carries two clients;
a refresh token only refreshes with the client that issued it, so both are known here.

Precedence, first wins: ``--client-id/--client-secret`` (login only), ``tokens.json``
``oauth_config``, ``AG2API_OAUTH_CLIENT_ID``/``AG2API_OAUTH_CLIENT_SECRET``, the built-in client.
A project that names its own ``client_id`` is refreshed with that client.
"""

from __future__ import annotations

from collections.abc import Mapping

from ag2api.accounts.model import DEFAULT_TOKEN_URL, OAuthConfig

IDE_CLIENT = OAuthConfig(
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
    "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",
)
# The IDE's second client (its Go language server's); some peers now sign in with it.
IDE_CLIENT_2 = OAuthConfig(
    "884354919052-36trc1jjb3tguiac32ov6cod268c5blh.apps.googleusercontent.com",
    "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",
)
BUILT_IN = (IDE_CLIENT, IDE_CLIENT_2)
# Gemini CLI's client: its credentials lack the Antigravity scopes (gcli2api keeps both kinds).
GEMINI_CLI_CLIENT_ID = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"

ENV_ID = "AG2API_OAUTH_CLIENT_ID"
ENV_SECRET = "AG2API_OAUTH_CLIENT_SECRET"


class ClientSetupError(ValueError):
    """The OAuth client settings are incomplete (an id without a secret, or the reverse)."""


def is_placeholder(value: str) -> bool:
    """A value still as an old data/tokens.json.example had it (``YOUR_…``)."""
    return value.startswith("YOUR_")


def usable(oauth: OAuthConfig | None) -> OAuthConfig | None:
    """``oauth`` unless it still holds the example's placeholders."""
    if oauth is None or is_placeholder(oauth.client_id) or is_placeholder(oauth.client_secret):
        return None
    return oauth


def env_client(
    environ: Mapping[str, str], token_url: str = DEFAULT_TOKEN_URL
) -> OAuthConfig | None:
    cid, secret = environ.get(ENV_ID, "").strip(), environ.get(ENV_SECRET, "").strip()
    if not cid and not secret:
        return None
    return pair(cid, secret, f"{ENV_ID} and {ENV_SECRET}", token_url)


def pair(cid: str, secret: str, where: str, token_url: str = DEFAULT_TOKEN_URL) -> OAuthConfig:
    """A client from an id and a secret; the secret of a built-in client may be left out."""
    if cid and not secret:
        secret = known_secret(cid) or ""
    if not cid or not secret:
        raise ClientSetupError(f"{where}: give both the client id and its secret")
    return OAuthConfig(cid, secret, token_url)


def known_secret(client_id: str) -> str | None:
    return next((c.client_secret for c in BUILT_IN if c.client_id == client_id), None)


def default_client(file_oauth: OAuthConfig | None, environ: Mapping[str, str]) -> OAuthConfig:
    """The client the gateway refreshes with when a project names none."""
    return usable(file_oauth) or env_client(environ) or IDE_CLIENT


def client_for(
    client_id: str | None, default: OAuthConfig, environ: Mapping[str, str]
) -> OAuthConfig | None:
    """The client named ``client_id`` (its secret from the config, the environment or the
    built-in table), ``default`` when none is named; None: no secret is known for it."""
    if not client_id or client_id == default.client_id:
        return default
    env = env_client(environ, default.token_url)
    if env is not None and env.client_id == client_id:
        return env
    secret = known_secret(client_id)
    return OAuthConfig(client_id, secret, default.token_url) if secret else None


def alternatives(tried: OAuthConfig) -> list[OAuthConfig]:
    """Built-in clients to try when a refresh token refuses ``tried`` as not its client."""
    return [
        OAuthConfig(c.client_id, c.client_secret, tried.token_url)
        for c in BUILT_IN
        if c.client_id != tried.client_id
    ]
