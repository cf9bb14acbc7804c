"""One admission step for every generating route (completions of every dialect, token counts,
images): the client key, its model allow-list, its limits and settling.

Per request, in order::

    admission.authenticate(presented)   # from the headers: 401 for a missing, wrong, disabled
                                        # or expired key
    admission.allow(model)              # 403 unless every model that may serve is allowed
    async with admission:               # counted (rpm, tpm, concurrency, budgets) or 429
        ...                             # the work (settle() early: charged before the last byte)

Leaving the block settles however it is left: the tokens the request used are charged and its
concurrency lease is given back. Token limits therefore refuse the *next* request once reached.
A token count (:meth:`KeyAdmission.without_slot`) is counted like any request but takes no
concurrency slot: Claude Code counts while its own stream runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

from ag2api.config.schema import NO_POLICY, ApiKey, GatewayConfig, KeyPolicy
from ag2api.errors import AuthenticationError, GatewayError
from ag2api.keys.auth import find_key
from ag2api.keys.limiter import KeyLimits, periods
from ag2api.keys.policies import check_key, check_model, rate_headers, refusal

log = logging.getLogger("ag2api.keys")


class KeyAdmission:
    """One request's passage through its key's policy (a key without a policy passes freely).

    ``refused(label, reason)`` counts a refusal (the metrics); ``show(headers)`` puts the key's
    ``x-ratelimit-*`` headers on the answer, refused or not; ``spent()`` is the tokens the
    request used so far, charged when it settles.
    """

    def __init__(
        self,
        cfg: GatewayConfig,
        limits: KeyLimits,
        *,
        refused: Callable[[str, str], None],
        show: Callable[[dict[str, str]], None],
        spent: Callable[[], int],
    ) -> None:
        self._cfg = cfg
        self._limits = limits
        self._refused = refused
        self._show = show
        self._spent = spent
        self.key: ApiKey | None = None
        self.policy: KeyPolicy = NO_POLICY
        self._lease: str | None = None  # the concurrency lease taken, to give back
        self._charge: tuple[str, str] | None = None  # (day, month) the tokens are charged to
        self._slot = True  # whether the request takes one of the key's max_concurrent slots

    def authenticate(self, presented: str | None) -> None:
        """The configured key equal to ``presented`` (none needed when no keys are configured,
        which is allowed only on loopback); 401 otherwise, and for a disabled or expired key."""
        keys = self._cfg.api_keys
        if not keys:
            return
        key = find_key(keys, presented)
        if key is None:
            raise AuthenticationError(
                "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>' (or "
                "'x-api-key' / 'x-goog-api-key')."
            )
        self.key, self.policy = key, self._cfg.policy_of(key)
        try:
            check_key(self.policy, key.label)
        except GatewayError as exc:
            self._refused(key.label, exc.kind.removeprefix("key_"))
            raise

    def allows(self, model: str) -> bool:
        return self.policy.allows(model)

    def allow(self, *serving: str, asked: str | None = None) -> None:
        """403 unless each model that may serve the request is allowed to the key."""
        if self.key is None:
            return
        try:
            check_model(self.policy, self.key.label, *serving, asked=asked)
        except GatewayError:
            self._refused(self.key.label, "model")
            raise

    def without_slot(self) -> KeyAdmission:
        """This request is counted against the key's rates and budgets but takes none of its
        ``max_concurrent`` slots (a token count, which a client sends while it generates)."""
        self._slot = False
        return self

    async def __aenter__(self) -> KeyAdmission:
        await self.admit()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lease is not None or self._charge is not None:
            # Shielded: a cancelled request still gives its lease back.
            await asyncio.shield(self.settle())

    async def admit(self) -> None:
        """Count the request against the key's limits and take a concurrency lease, or 429."""
        key, policy = self.key, self.policy
        counted = policy if self._slot else replace(policy, max_concurrent=None)
        if key is None or not counted.has_limits:
            return
        day, month = periods()
        adm = await self._limits.key_admit(key.ident, counted, day, month)
        self._show(rate_headers(policy, adm))
        if not adm.ok:
            self._refused(key.label, adm.reason or "rpm")
            raise refusal(policy, key.label, adm)
        self._lease, self._charge = adm.lease, (day, month)

    async def settle(self) -> None:
        """Charge the tokens used and give the lease back (once; later calls do nothing)."""
        key, lease, charge = self.key, self._lease, self._charge
        self._lease = self._charge = None
        if key is None:
            return
        try:
            tokens = self._spent() if charge is not None else 0
            if charge is not None and tokens > 0:
                await self._limits.key_charge(key.ident, tokens, *charge)
            if lease is not None:
                await self._limits.key_release(key.ident, lease)
        except Exception:
            log.exception("could not settle the limits of key %s", key.label)

    async def report_use(self) -> None:
        """The key's ``x-ratelimit-*`` headers on an answer that counts nothing (a model list):
        its current use, read."""
        key, policy = self.key, self.policy
        if key is None or (policy.rpm is None and policy.tpm is None):
            return
        use = await self._limits.key_use(key.ident, *periods(), policy.tpm)
        self._show(rate_headers(policy, use.admission()))
