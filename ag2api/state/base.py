"""The live account state's contract, and the records it speaks.

The dispatcher, the refresher, the handlers and the services ask an :class:`AccountState` —
pick an account and give it back, cool it, disable it, share an access token, take the refresh
lock, admit a client key, read a snapshot — instead of reading and mutating :class:`Account`
objects. tokens.json stays the owner of the accounts; a backend holds only runtime overlays
(cooldowns, disables, tokens, slots, records).

Writes that callers make from synchronous code (``cool``, ``disable``, ``release``) change the
local view at once; a shared backend sends them on in the background (:meth:`settle` waits).
Backends: :mod:`ag2api.state.memory` (one process) and :mod:`ag2api.state.redis` (replicas);
:func:`ag2api.state.backends.make_state` chooses.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.config.schema import KeyPolicy, ResponsesConfig
from ag2api.keys.limiter import Admission, KeyUse
from ag2api.observe.usage import SharedCounters
from ag2api.state.records import ResponseStore, SharedRecords


@functools.lru_cache(maxsize=1024)  # every pick names every account
def account_key(project_id: str) -> str:
    """The id of an account in shared keys: a hash, never a token, email or project id."""
    return "acct_" + hashlib.sha256(b"ag2api:" + project_id.encode()).hexdigest()[:16]


def conversation_key(conversation: str, model: str) -> str:
    """What a conversation's account is remembered under, per model (a hash: no secret)."""
    return hashlib.sha256(f"{conversation}\x00{model}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Routing:
    """How to choose among the accounts that can serve a model.

    ``conversation`` (:func:`conversation_key`; None: none, or affinity is off) goes back to the
    account that served its last turn while that one can serve the model, and is moved for good
    when it cannot (cooling, out of quota, disabled — also when that is why this request left
    it); a conversation that only passes elsewhere for one request (that account failed it
    and can serve again, or has no free slot) stays bound. Others go by
    ``strategy``: ``rotate`` (the rotation, ``rotation.count`` uses each), ``fill`` (the first
    account in file order that can serve) or ``balanced`` (each account in proportion to its quota
    ``remaining``, unknown counting as full: a smooth weighted round robin, so the account with
    the most left goes first and a burst never piles onto it). When no account
    can serve, one cooling for a used-up quota whose project is in ``credits`` serves on Google
    One AI credits.
    """

    strategy: str = "rotate"
    conversation: str | None = None
    fresh: bool = False  # the conversation starts here: placed by strategy, then remembered
    affinity_ttl: float = 3600.0
    remaining: Mapping[str, float] = field(default_factory=dict)  # project id → 0..1
    credits: frozenset[str] = frozenset()  # project ids


ROTATE = Routing()
# What a pick did with the conversation: first turn seen, back to its account, moved for good,
# or served elsewhere this once.
AFFINITY_OUTCOMES = ("new", "hit", "moved", "detour")


@dataclass(eq=False)
class Grant:
    """An account picked for one upstream call, holding one of its slots (and, for a probe, the
    account's one half-open probe on ``model``) until :meth:`AccountState.release`."""

    account: Account
    model: str
    probe: bool
    hold: str = ""  # the shared backend's id of the slot held; "" when held in this process only
    cooldowns_changed: bool = False  # expired cooldowns were dropped while picking
    released: bool = False
    credits: bool = False  # send with enabledCreditTypes: the free quota is used up
    affinity: str = ""  # one of AFFINITY_OUTCOMES; "" without a conversation


@dataclass(frozen=True)
class Cooling:
    model: str
    until: float  # epoch seconds
    reason: str | None
    probe: bool = False


@dataclass(frozen=True)
class AccountView:
    project_id: str
    email: str | None
    enabled: bool
    disabled_reason: str | None
    uses: int
    last_used_at: float | None
    in_flight: int
    cooling: tuple[Cooling, ...]
    proxy: str | None = None  # its own, as tokens.json says (unmasked: views mask it)


@dataclass(frozen=True)
class BackendHealth:
    backend: str
    ok: bool
    last_error: str | None = None
    last_error_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "ok": self.ok, "last_error": self.last_error}


@dataclass(frozen=True)
class HostSeen:
    """A host syncing the shared account list: when it last did, and what it had not merged."""

    host: str
    last_seen: float  # epoch seconds
    pending: int


@dataclass(frozen=True)
class SharingStatus:
    """Where the account list shared between hosts stands (the Redis backend)."""

    host: str
    tokens_shared: bool  # a key is set: refresh tokens (so new accounts) travel too
    last_sync: float | None  # epoch seconds of the last round with Redis
    pending: int  # changes not yet published here, or not yet merged into tokens.json
    hosts: tuple[HostSeen, ...] = ()
    last_error: str | None = None
    # Shared client keys not written here, and why (a hand edit of that label meanwhile).
    keys_held: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As /health and /admin show it (times in ISO 8601, UTC)."""
        return {
            "host": self.host,
            "tokens_shared": self.tokens_shared,
            "last_sync": _iso(self.last_sync),
            "pending": self.pending,
            "hosts": [
                {"host": h.host, "last_seen": _iso(h.last_seen), "pending": h.pending}
                for h in self.hosts
            ],
            "last_error": self.last_error,
            "keys_held": [{"label": label, "why": why} for label, why in self.keys_held],
        }


def _iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StateSnapshot:
    """What /health, /admin and the metrics show, read in one go."""

    accounts: tuple[AccountView, ...]
    in_flight: int
    health: BackendHealth
    sharing: SharingStatus | None = None  # None: one host (no shared account list)

    @property
    def enabled(self) -> int:
        return sum(1 for a in self.accounts if a.enabled)

    @property
    def disabled(self) -> int:
        return len(self.accounts) - self.enabled


class SharedKeys(Protocol):
    """Client keys shared between hosts (the Redis backend): the console says what it changed."""

    # Re-reads gateway.yaml after a key shared by another host was written into it.
    reload: Callable[[], Any]

    def changed(self, label: str) -> None:
        """The key labelled ``label`` was created, edited or deleted in this host's gateway.yaml
        through the console: every host gets it."""


class AccountState(Protocol):
    """What every backend offers; no behaviour of its own."""

    @property
    def pool(self) -> AccountPool: ...

    @property
    def slots(self) -> SlotLimiter: ...

    @property
    def records(self) -> SharedRecords:
        """Claude thinking blocks one replica leaves for the others (a lone process has no one
        to leave them for)."""

    @property
    def shared_keys(self) -> SharedKeys | None:
        """Where console-made keys are published for the other hosts; None: one host."""

    @property
    def usage_counters(self) -> SharedCounters | None:
        """The replicas' usage statistics, drained into the leader's usage_db; None: each
        process writes its own."""

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None: ...

    async def settle(self) -> None:
        """Wait until background writes to the shared backend are done."""

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background (awaited by :meth:`settle` and on close)."""

    async def aclose(self) -> None: ...

    def health(self) -> BackendHealth: ...

    def snapshot(self) -> StateSnapshot: ...

    # -- accounts -----------------------------------------------------------------------
    def accounts(self) -> tuple[Account, ...]: ...

    def get(self, project_id: str) -> Account | None: ...

    async def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        """An enabled account for housekeeping calls (model list), without taking a turn."""

    def enabled_projects(self) -> list[str]: ...

    # -- picking and slots --------------------------------------------------------------
    async def pick(
        self,
        model: str,
        exclude: frozenset[str] | set[str] = frozenset(),
        routing: Routing = ROTATE,
    ) -> Grant:
        """The account that should serve ``model`` (see :class:`Routing`), with a slot held;
        raises NoAvailableAccount, AllCooling or NoRoom as :meth:`AccountPool.acquire` does."""

    def release(self, grant: Grant, ok: bool) -> bool:
        """Give the slot back and end a probe (once; again is a no-op); True when the
        account's cooldowns changed (a successful probe ends its cooldown)."""

    async def wait_for_room(self, timeout: float) -> bool: ...

    def in_use(self) -> int: ...

    def has_other(self, model: str, exclude: set[str]) -> bool: ...

    def earliest_recovery(self, model: str) -> float | None: ...

    # -- cooldowns and disables ---------------------------------------------------------
    def cooling_until(self, account: Account, model: str) -> float | None: ...

    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        """Keep ``account`` off ``model`` for ``seconds``; a cooldown is only ever extended.
        True when it changed."""

    def disable(self, account: Account, reason: str) -> bool:
        """Take ``account`` out of rotation with ``reason``; False when it already was."""

    def enable(self, account: Account) -> bool:
        """Put ``account`` back into rotation (its cause has passed); False when it was in."""

    def change_reason(self, account: Account, reason: str) -> bool:
        """A disabled account stays out for another ``reason``; False when enabled or the
        same."""

    # -- access tokens and the refresh lock ---------------------------------------------
    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        """The current access token and its expiry (epoch seconds), if one is known; with
        ``cached_ok`` false a shared backend is asked even when the local copy looks fresh."""

    async def store_token(self, account: Account, token: str, expires_at: float) -> None: ...

    async def store_refresh_token(self, account: Account, previous: str) -> None:
        """A refresh answered with a new refresh token (``account`` holds it; ``previous`` was
        replaced)."""

    def refresh_lock(self, account: Account) -> AbstractAsyncContextManager[None]:
        """Held around one token refresh of ``account``; others wait, then re-read
        :meth:`token`."""

    # -- stored responses ---------------------------------------------------------------
    def response_store(self, settings: Callable[[], ResponsesConfig]) -> ResponseStore:
        """Where stored Responses API answers live (``settings`` is read on each use)."""

    # -- per-key limits (ag2api.keys) ---------------------------------------------------
    async def key_admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        """Check a key's limits and, when they allow it, count the request and take a
        concurrency lease (``Admission.lease``) — one atomic step."""

    async def key_release(self, ident: str, lease: str) -> None:
        """Give back a lease taken by :meth:`key_admit`."""

    async def key_charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        """Add an answer's tokens to the key's minute window and day and month budgets."""

    async def key_use(self, ident: str, day: str, month: str, tpm: int | None = None) -> KeyUse:
        """A key's current use, without counting anything (``tpm``: for the tokens' reset)."""
