"""Access tokens (``tok:<account>``), the single-flight refresh lock (``lock:refresh:<account>``)
and rotated refresh tokens (hash ``rtok``), shared through Redis. Each falls back to this
replica's own state (the memory backend) when Redis does not answer. With a key set the tokens
are stored sealed (``enc:v1:``, :mod:`ag2api.accounts.crypto`); one that this replica's key does
not open counts as absent."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from ag2api.accounts.crypto import PLAINTEXT, CannotDecrypt, TokenCipher
from ag2api.accounts.model import Account
from ag2api.state.base import account_key
from ag2api.state.memory import MemoryState
from ag2api.state.redis.client import Down, Op, RedisClient, text, token_digest

LOCK_SECONDS = 30.0  # longer than a token refresh, shorter than the access-token skew
# A local access token with more life than this is used without asking Redis (the refresher
# renews five minutes before the end; in the last minute before that, Redis may know a newer one).
LOCAL_TOKEN_SECONDS = 360.0
# Digests of replaced refresh tokens kept per rotated one (a chain of rotations between syncs).
ROTATION_HISTORY = 32


@dataclass(frozen=True)
class Rotation:
    """A rotated refresh token: ``first`` the token it replaced first (raw: the stored entry
    whose token it is gets chained), ``replaced`` the digests of all it replaced, oldest first."""

    first: str
    replaced: str
    new: str

    def then(self, previous: str, new: str) -> Rotation:
        """This rotation followed by ``previous`` → ``new`` (chained when ``previous`` is ours)."""
        if previous != self.new:
            return Rotation(previous, token_digest(previous), new)
        digests = [*self.replaced.split(","), token_digest(previous)][-ROTATION_HISTORY:]
        return Rotation(self.first, ",".join(digests), new)


class Tokens:
    def __init__(
        self,
        client: RedisClient,
        local: MemoryState,
        is_writer: Callable[[], bool],
        cipher: TokenCipher = PLAINTEXT,
    ) -> None:
        self.cipher = cipher
        self.client = client
        self.local = local
        self.is_writer = is_writer
        # Rotated refresh tokens Redis did not take (it was down): sent when it answers again.
        self.unshared: dict[str, Rotation] = {}  # by account key

    async def token(self, account: Account, cached_ok: bool) -> tuple[str, float] | None:
        now = time.time()
        if cached_ok and account.access_token and account.expires_at - now > LOCAL_TOKEN_SECONDS:
            return account.access_token, account.expires_at
        key = self.client.key("tok", account_key(account.project_id))
        script = self.client.scripts["token"]
        try:
            found = await self.client.bounded(lambda: script(keys=[key]))
        except Down:
            found = None
        shared = self._open(text(found[0]), "access_token") if found else None
        if found and shared is not None:
            expires = time.time() + int(found[1]) / 1000.0
            if shared != account.access_token or expires > account.expires_at + 5:
                account.access_token, account.expires_at = shared, expires
        return await self.local.token(account)

    async def store_token(self, account: Account, token: str, expires_at: float) -> None:
        await self.local.store_token(account, token, expires_at)
        ms = int((expires_at - time.time()) * 1000)
        if ms <= 0:
            return
        key = self.client.key("tok", account_key(account.project_id))
        sealed = self.cipher.seal(token, "access_token")
        with suppress(Down):
            await self.client.bounded(lambda: self.client.redis.set(key, sealed, px=ms))

    # -- the refresh lock ---------------------------------------------------------------
    @asynccontextmanager
    async def refresh_lock(self, account: Account) -> AsyncIterator[None]:
        async with self.local.refresh_lock(account):
            acct = account_key(account.project_id)
            key, tok = self.client.key("lock", "refresh", acct), self.client.key("tok", acct)
            me = uuid.uuid4().hex
            unlock = self.client.scripts["unlock"]
            held = await self._take_lock(key, tok, me, lambda: unlock(keys=[key], args=[me]))
            try:
                yield
            finally:
                if held:
                    op = lambda: unlock(keys=[key], args=[me])  # noqa: E731
                    self.client.send(op, if_lost=op)

    async def _take_lock(self, key: str, tok: str, me: str, unlock: Op[Any]) -> bool:
        """True when this replica holds the lock; False when another one's token ends the wait,
        the wait ends, or Redis does not answer (then the local lock is all there is)."""
        script = self.client.scripts["token"]
        deadline = time.monotonic() + LOCK_SECONDS
        redis, px = self.client.redis, int(LOCK_SECONDS * 1000)
        try:
            seen = await self.client.bounded(lambda: script(keys=[tok]))
            while time.monotonic() < deadline:
                taken = lambda: redis.set(key, me, nx=True, px=px)  # noqa: E731
                if await self.client.bounded(taken, if_lost=unlock):
                    return True
                # Another replica is refreshing: no event crosses replicas, so look again
                # shortly; its new token (read by the caller) ends the wait too.
                await asyncio.sleep(0.05)
                now = await self.client.bounded(lambda: script(keys=[tok]))
                if now and (not seen or text(now[0]) != text(seen[0])):
                    return False
        except Down:
            pass
        return False

    # -- rotated refresh tokens ---------------------------------------------------------
    async def store_refresh_token(self, account: Account, previous: str) -> None:
        """Every replica adopts the new refresh token at its next sync and the leader writes it
        to tokens.json: the replaced one may stop working, and a non-leader cannot write it.
        Only sealed: without a key it stays with this replica (whose tokens.json gets it)."""
        await self.local.store_refresh_token(account, previous)
        if not self.cipher.enabled:
            return
        acct = account_key(account.project_id)
        waiting = self.unshared.get(acct)
        rotation = (
            waiting.then(previous, account.refresh_token)
            if waiting is not None
            else Rotation(previous, token_digest(previous), account.refresh_token)
        )
        try:
            await self.share_rotation(acct, rotation)
        except Down:
            self.unshared[acct] = rotation  # chained onto one not yet shared
        else:
            self.unshared.pop(acct, None)

    async def share_rotation(self, acct: str, rotation: Rotation) -> None:
        # Digests, not tokens, chain two rotations: a sealed token differs at every seal.
        args: list[str | int] = [
            acct,
            token_digest(rotation.first),
            rotation.replaced,
            token_digest(rotation.new),
            self.cipher.seal(rotation.new, "refresh_token"),
            ROTATION_HISTORY,
        ]
        script = self.client.scripts["rotate"]
        await self.client.bounded(lambda: script(keys=[self.client.key("rtok")], args=args))

    async def share_unshared(self) -> None:
        """After an outage: the rotations Redis did not take."""
        for acct, rotation in list(self.unshared.items()):
            await self.share_rotation(acct, rotation)
            if self.unshared.get(acct) is rotation:  # none came meanwhile
                del self.unshared[acct]

    async def adopt(self, account: Account, acct: str, entry: str) -> bool:
        """A refresh token rotated on some replica replaces the one it replaced here (True:
        then the leader's writer records it for tokens.json). When the leader's account holds
        neither (a new login since: its file is the one kept up to date), the entry is void and
        removed; another replica may just be reading an older copy of the file."""
        replaced, _, rest = entry.partition("|")
        sealed = rest.rpartition("|")[2]
        new = self._open(sealed, "refresh_token") if sealed else None
        if not new or new == account.refresh_token:
            return False
        if token_digest(account.refresh_token) in replaced.split(","):
            account.refresh_token = new
            return True
        if self.is_writer():
            await self.drop_rotation(acct, entry)
        return False

    def _open(self, value: str, field: str) -> str | None:
        try:
            return self.cipher.open(value, field)
        except CannotDecrypt:
            return None

    async def drop_rotation(self, acct: str, entry: str) -> None:
        key, script = self.client.key("rtok"), self.client.scripts["hdel_if"]
        await self.client.bounded(lambda: script(keys=[key], args=[acct, entry]))
