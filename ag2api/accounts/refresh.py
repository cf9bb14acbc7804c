"""OAuth access-token refresh against the Google token endpoint, one in flight per account."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from urllib.parse import urlencode

from tornado.httpclient import HTTPRequest

from ag2api import jsoncodec
from ag2api.accounts.model import Account, OAuthConfig
from ag2api.accounts.oauth_client import alternatives, client_for, default_client
from ag2api.accounts.proxies import curl_proxy, effective_proxy, mask_proxy
from ag2api.redact import mask
from ag2api.upstream.transport import AbortableCurlClient, curl_preparer

log = logging.getLogger("ag2api.accounts")

# Refresh when less than this is left (the original design's 5 minutes).
EXPIRY_SKEW = 300.0


class RefreshFailed(Exception):
    """The token endpoint could not be used right now; the account stays enabled."""


class TokenEndpointUnreachable(RefreshFailed):
    """No answer from the token endpoint (through the account's proxy, if it has one)."""


# Refresh answers that mean "this refresh token was issued to another OAuth client".
WRONG_CLIENT = ("unauthorized_client", "invalid_client")


class AccountRevoked(Exception):
    """The refresh token is dead (``invalid_grant``); the account must be disabled."""

    def __init__(self, reason: str, error: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error  # the token endpoint's "error" field


class SharedTokens(Protocol):
    """Where access tokens live beside the account (the live state: one process, or every
    replica): what a refresh reads, takes and stores."""

    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        """The current access token and its expiry, if one is known."""

    async def store_token(self, account: Account, token: str, expires_at: float) -> None: ...

    async def store_refresh_token(self, account: Account, previous: str) -> None: ...

    def refresh_lock(self, account: Account) -> AbstractAsyncContextManager[None]:
        """Held around one refresh of ``account``: one at a time wherever the tokens live."""


class TokenRefresher:
    def __init__(
        self,
        http: AbortableCurlClient,
        oauth: Callable[[], OAuthConfig | None],
        on_refreshed: Callable[[Account], None],
        *,
        proxy: Callable[[], str | None] = lambda: None,
        ca_file: Callable[[], str | None] = lambda: None,
        timeout: float = 30.0,
        observe: Callable[[str], None] = lambda result: None,
        tokens: SharedTokens | None = None,
        environ: Mapping[str, str] = os.environ,
        connect_timeout: Callable[[], float] | None = None,
    ) -> None:
        self._environ = environ
        # Seconds to reach the token endpoint (or the account's proxy): upstream.timeouts.connect.
        self._connect_timeout = connect_timeout or (lambda: timeout)
        self._tokens = tokens
        self._observe = observe
        self._ca_file = ca_file
        self._http = http
        self._oauth = oauth
        self._on_refreshed = on_refreshed
        self._proxy = proxy
        self._timeout = timeout
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self.refresh_count = 0

    async def access_token(self, account: Account) -> str:
        """A token valid for at least five more minutes, refreshing first if needed."""
        if self._tokens is not None:
            current = await self._tokens.token(account)
            if current is not None and current[1] - time.time() > EXPIRY_SKEW:
                return current[0]
        elif account.token_is_fresh(EXPIRY_SKEW) and account.access_token:
            return account.access_token
        return await self.refresh(account)

    async def refresh(self, account: Account, stale: str | None = None) -> str:
        """Refresh ``account``; concurrent callers share one request.

        With ``stale`` (the token upstream just refused), a token that another request has
        already replaced is returned without a second refresh.
        """
        if (
            stale is not None
            and account.access_token
            and account.access_token != stale
            and (account.token_is_fresh(0))
        ):
            return account.access_token
        pending = self._inflight.get(account.project_id)
        if pending is None:
            pending = asyncio.ensure_future(self._observed(account, stale))
            self._inflight[account.project_id] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(account.project_id, None))
        return await asyncio.shield(pending)

    async def _observed(self, account: Account, stale: str | None = None) -> str:
        try:
            token = await self._single_flight(account, stale)
        except AccountRevoked:
            self._observe("revoked")
            raise
        except RefreshFailed:
            self._observe("failed")
            raise
        self._observe("ok")
        return token

    async def _single_flight(self, account: Account, stale: str | None) -> str:
        """One refresh per account in the whole pool: under the shared refresh lock, a token
        someone else stored meanwhile (not the ``stale`` one) is reused instead."""
        shared = self._tokens
        if shared is None:
            return await self._refresh(account)
        async with shared.refresh_lock(account):
            current = await shared.token(account, cached_ok=False)
            need = EXPIRY_SKEW if stale is None else 0.0
            if current is not None and current[0] != stale and current[1] - time.time() > need:
                return current[0]
            previous = account.refresh_token
            token = await self._refresh(account)
            await shared.store_token(account, token, account.expires_at)
            if account.refresh_token != previous:  # Google rotated it (rare): share the new one
                await shared.store_refresh_token(account, previous)
            return token

    async def _refresh(self, account: Account) -> str:
        default = default_client(self._oauth(), self._environ)
        client = client_for(account.client_id, default, self._environ)
        if client is None:
            raise RefreshFailed(f"no secret is known for the OAuth client {account.client_id}")
        # A token issued to the IDE's other client: found once, then kept (``client_id``).
        candidates = [client, *([] if account.client_id else alternatives(client))]
        for i, candidate in enumerate(candidates, 1):
            try:
                return await self._refresh_with(account, candidate)
            except AccountRevoked as exc:
                if exc.error not in WRONG_CLIENT or i == len(candidates):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh_with(self, account: Account, oauth: OAuthConfig) -> str:
        form = urlencode(
            {
                "client_id": oauth.client_id,
                "client_secret": oauth.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": account.refresh_token,
            }
        )
        proxy = effective_proxy(account.proxy, self._proxy())
        request = HTTPRequest(
            oauth.token_url,
            method="POST",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            connect_timeout=min(self._timeout, self._connect_timeout()),
            request_timeout=self._timeout,
            prepare_curl_callback=curl_preparer(curl_proxy(proxy)),
            ca_certs=self._ca_file(),
        )
        self.refresh_count += 1
        try:
            response = await self._http.fetch(request, raise_error=False)
        except Exception as exc:  # 599: no HTTP answer (raise_error=False does not cover it)
            raise _unreachable(exc, proxy) from None
        if response.code == 599:
            raise _unreachable(response.error, proxy)
        try:
            data = jsoncodec.loads(response.body or b"{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.code != 200:
            error = str(data.get("error", ""))
            description = str(data.get("error_description", ""))
            if error in ("invalid_grant", *WRONG_CLIENT) or (response.code in (400, 401) and error):
                reason = f"token refresh failed: {error}: {description}".rstrip(": ")
                raise AccountRevoked(reason, error)
            raise RefreshFailed(f"token endpoint answered HTTP {response.code}: {error}")
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise RefreshFailed("token endpoint answered without an access_token")
        expires_in = data.get("expires_in", 3599)
        account.access_token = token
        account.expires_at = time.time() + float(
            expires_in if isinstance(expires_in, int | float) else 3599
        )
        new_refresh = data.get("refresh_token")
        if isinstance(new_refresh, str) and new_refresh:
            account.refresh_token = new_refresh
        if oauth.client_id != default_client(self._oauth(), self._environ).client_id:
            account.client_id = oauth.client_id
        log.info(
            "project %s access token refreshed (valid %ss)", mask(account.project_id), expires_in
        )
        self._on_refreshed(account)
        return token


def _unreachable(error: BaseException | None, proxy: str | None) -> TokenEndpointUnreachable:
    via = f" through proxy {mask_proxy(proxy)}" if curl_proxy(proxy) else ""
    return TokenEndpointUnreachable(f"token endpoint unreachable{via}: {error}")
