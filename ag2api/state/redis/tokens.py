"""Access tokens, the single-flight refresh lock and rotated refresh tokens, shared through
Redis (keys ``tok:<account>``, ``lock:refresh:<account>``, hash ``rtok``; see ``state_redis``).
Each falls back to this replica's own state when Redis does not answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from ag2api.accounts.model import Account
from ag2api.state.base import account_key
from ag2api.state.redis.client import ROTATION_HISTORY, Rotation, _Down, _text, token_digest
from ag2api.state.redis.data import RedisSharedData

LOCK_SECONDS = 30.0  # longer than a token refresh, shorter than the access-token skew
# A local access token with more life than this is used without asking Redis (the refresher
# renews five minutes before the end; in the last minute before that, Redis may know a newer one).
LOCAL_TOKEN_SECONDS = 360.0


class RedisTokens(RedisSharedData):
    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        now = time.time()
        if cached_ok and account.access_token and account.expires_at - now > LOCAL_TOKEN_SECONDS:
            return account.access_token, account.expires_at
        key = self.k("tok", account_key(account.project_id))
        try:
            found = await self._call(lambda: self._scripts["token"](keys=[key]))
        except _Down:
            found = None
        if found:
            shared, pttl = _text(found[0]), int(found[1])
            expires = time.time() + pttl / 1000.0
            if shared != account.access_token or expires > account.expires_at + 5:
                account.access_token, account.expires_at = shared, expires
        if account.access_token:
            return account.access_token, account.expires_at
        return None

    async def store_refresh_token(self, account: Account, previous: str) -> None:
        """Every replica adopts the new refresh token at its next sync and the leader writes it
        to tokens.json: the replaced one may stop working, and a non-leader cannot write it."""
        await super().store_refresh_token(account, previous)
        acct = account_key(account.project_id)
        waiting = self._unshared_rotations.get(acct)
        rotation = (
            waiting.then(previous, account.refresh_token)
            if waiting is not None
            else Rotation(previous, token_digest(previous), account.refresh_token)
        )
        try:
            await self._share_rotation(acct, rotation)
        except _Down:
            self._unshared_rotations[acct] = rotation  # chained onto one not yet shared
        else:
            self._unshared_rotations.pop(acct, None)

    async def _share_rotation(self, acct: str, rotation: Rotation) -> None:
        args: list[str | int] = [
            acct,
            rotation.first,
            rotation.replaced,
            rotation.new,
            ROTATION_HISTORY,
        ]
        await self._call(lambda: self._scripts["rotate"](keys=[self.k("rtok")], args=args))

    async def store_token(self, account: Account, token: str, expires_at: float) -> None:
        await super().store_token(account, token, expires_at)
        ms = int((expires_at - time.time()) * 1000)
        if ms <= 0:
            return
        key = self.k("tok", account_key(account.project_id))
        with suppress(_Down):
            await self._call(lambda: self.redis.set(key, token, px=ms))

    @asynccontextmanager
    async def refresh_lock(self, account: Account) -> AsyncIterator[None]:
        async with super().refresh_lock(account):
            key = self.k("lock", "refresh", account_key(account.project_id))
            me = uuid.uuid4().hex
            held = False
            deadline = time.monotonic() + LOCK_SECONDS
            tok = self.k("tok", account_key(account.project_id))
            try:
                seen = await self._call(lambda: self._scripts["token"](keys=[tok]))
                while time.monotonic() < deadline:
                    held = bool(
                        await self._call(
                            lambda: self.redis.set(key, me, nx=True, px=int(LOCK_SECONDS * 1000))
                        )
                    )
                    if held:
                        break
                    # Another replica is refreshing: no event crosses replicas, so look again
                    # shortly; its new token (read by the caller) ends the wait too.
                    await asyncio.sleep(0.05)
                    now = await self._call(lambda: self._scripts["token"](keys=[tok]))
                    if now and (not seen or _text(now[0]) != _text(seen[0])):
                        break
            except _Down:
                pass
            try:
                yield
            finally:
                if held:
                    self._spawn(self._call(lambda: self._scripts["unlock"](keys=[key], args=[me])))

    async def _drop_rotation(self, acct: str, entry: str) -> None:
        key = self.k("rtok")
        await self._call(lambda: self._scripts["hdel_if"](keys=[key], args=[acct, entry]))
