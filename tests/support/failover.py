"""What the dispatcher talks to, faked on a :class:`FakeClock`: the account state, the token
refresher, the tokens.json writer, and an upstream call that plays a script. No HTTP: the unit
tests of ``ag2api.failover`` drive :meth:`Dispatcher.call_with_failover` with these."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool, AllCooling
from ag2api.accounts.refresh import AccountRevoked, RefreshFailed
from ag2api.config.schema import GatewayConfig, RetryConfig, UpstreamConfig
from ag2api.errors import NoAvailableAccount
from ag2api.failover.dispatcher import Dispatcher
from ag2api.failover.served import Served
from ag2api.state.base import ROTATE, Grant, Routing
from ag2api.upstream.client import UpstreamHTTPError
from tests.support.accounts import accounts
from tests.support.clock import FakeClock

MODEL = "gemini-2.5-flash"
BASE_URLS = ("https://a.example", "https://b.example")


def config(base_urls: tuple[str, ...] = BASE_URLS[:1], **retry: Any) -> GatewayConfig:
    return GatewayConfig(
        path=Path("gateway.yaml"),
        upstream=UpstreamConfig(base_urls=base_urls),
        retry=replace(RetryConfig(), **retry),
    )


def http_error(status: int, body: dict[str, Any]) -> UpstreamHTTPError:
    return UpstreamHTTPError(status, json.dumps(body).encode())


class FakeState:
    """Accounts in list order (the first free one serves), cooldowns per (account, model) on the
    clock's wall time, and a probe after a capped cooldown — what ``AccountState`` promises the
    dispatcher, without the rotation."""

    def __init__(self, clock: FakeClock, members: list[Account]) -> None:
        self.clock = clock
        self.members = members
        # The gateway's wall clock is its pool's (verdicts read reset times against it).
        self.pool = AccountPool(members, 1, clock=clock.now)
        self.probing: set[tuple[str, str]] = set()
        self.held = 0  # slots held now

    def _ready(self, account: Account, model: str) -> bool:
        if self.cooling_until(account, model) is not None:
            return False
        entry = account.cooldowns.get(model)
        return not (entry and entry.get("probe") and (account.project_id, model) in self.probing)

    def accounts(self) -> tuple[Account, ...]:
        return tuple(self.members)

    async def pick(
        self,
        model: str,
        exclude: frozenset[str] | set[str] = frozenset(),
        routing: Routing = ROTATE,
    ) -> Grant:
        usable = [a for a in self.members if a.enabled and a.project_id not in exclude]
        for account in usable:
            if self._ready(account, model):
                probe = bool(account.cooldowns.get(model, {}).get("probe"))
                if probe:
                    self.probing.add((account.project_id, model))
                elif model in account.cooldowns:
                    del account.cooldowns[model]  # expired
                account.last_used_at = self.clock.now()
                self.held += 1
                return Grant(account, model, probe)
        if usable:
            raise AllCooling(self.earliest_recovery(model) or 1.0)
        raise NoAvailableAccount("no account left")

    def release(self, grant: Grant, ok: bool) -> bool:
        if grant.released:
            return False
        grant.released, self.held = True, self.held - 1
        if not grant.probe:
            return False
        self.probing.discard((grant.account.project_id, grant.model))
        if ok and self.cooling_until(grant.account, grant.model) is None:
            del grant.account.cooldowns[grant.model]
            return True
        return False

    async def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        return next((a for a in self.members if a.enabled and a.project_id not in exclude), None)

    async def wait_for_room(self, timeout: float) -> bool:
        return False

    def has_other(self, model: str, exclude: set[str]) -> bool:
        return any(
            a.enabled and a.project_id not in exclude and self._ready(a, model)
            for a in self.members
        )

    def cooling_until(self, account: Account, model: str) -> float | None:
        until = account.cooldowns.get(model, {}).get("until")
        return until if until is not None and until > self.clock.now() else None

    def earliest_recovery(self, model: str) -> float | None:
        times = [u for a in self.members if (u := self.cooling_until(a, model)) is not None]
        return min(times) - self.clock.now() if times else None

    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        until = self.clock.now() + seconds
        if (self.cooling_until(account, model) or 0.0) >= until:
            return False
        account.cooldowns[model] = {
            "until": until,
            "reason": reason,
            **({"probe": probe} if probe else {}),
        }
        self.probing.discard((account.project_id, model))
        return True

    def disable(self, account: Account, reason: str) -> bool:
        if not account.enabled:
            return False
        account.enabled, account.disabled_reason = False, reason
        return True


class FakeRefresher:
    """Access tokens ``at-<project>-<n>``; ``failing[project]`` is raised instead (a revoked or
    unreachable token endpoint)."""

    def __init__(self) -> None:
        self.failing: dict[str, RefreshFailed | AccountRevoked] = {}
        self.issued: dict[str, int] = {}
        self.refreshes: list[tuple[str, str]] = []  # (project, the stale token)

    def _issue(self, account: Account) -> str:
        if (problem := self.failing.get(account.project_id)) is not None:
            raise problem
        self.issued[account.project_id] = self.issued.get(account.project_id, 0) + 1
        return f"at-{account.project_id}-{self.issued[account.project_id]}"

    async def access_token(self, account: Account) -> str:
        if account.access_token is None:
            account.access_token = self._issue(account)
        return account.access_token

    async def refresh(self, account: Account, stale: str | None = None) -> str:
        self.refreshes.append((account.project_id, stale or ""))
        account.access_token = self._issue(account)
        return account.access_token


class FakeWriter:
    """tokens.json changes as the dispatcher records them."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def record(self, project_id: str, **fields: Any) -> None:
        self.records.append((project_id, fields))

    def fields(self, name: str) -> list[dict[str, Any]]:
        """What was recorded for ``name`` besides the last-used time, in order."""
        return [f for p, f in self.records if p == name and set(f) != {"last_used_at"}]


@dataclass
class Sent:
    base: str
    token: str
    project: str
    at: float  # the clock's monotonic time of the call


@dataclass
class Upstream:
    """The call the dispatcher fails over: each call takes the next outcome of ``script`` (an
    exception to raise, a function run with the call — it may move the clock, or raise — or
    "ok"); once the script is used up, every call answers. ``calls`` is what was sent."""

    clock: FakeClock
    script: list[Any] = field(default_factory=list)
    calls: list[Sent] = field(default_factory=list)

    async def __call__(self, base: str, token: str, account: Account) -> str:
        self.calls.append(Sent(base, token, account.project_id, self.clock.monotonic()))
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            outcome(self.calls[-1])
        return f"answer from {account.project_id}"

    @property
    def projects(self) -> list[str]:
        return [c.project for c in self.calls]


class Rig:
    """A dispatcher on fakes: ``await rig.serve()`` is one client request."""

    def __init__(self, clock: FakeClock, names: tuple[str, ...], cfg: GatewayConfig) -> None:
        self.clock, self.cfg = clock, cfg
        self.accounts = accounts(projects=names)
        self.state = FakeState(clock, self.accounts)
        self.refresher = FakeRefresher()
        self.writer = FakeWriter()
        self.upstream = Upstream(clock)
        self.dispatcher = Dispatcher(
            self.state,  # type: ignore[arg-type]
            self.refresher,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]  # no HTTP: serve() is given the call
            self.writer,  # type: ignore[arg-type]
            clock=clock,
        )

    def account(self, name: str) -> Account:
        return next(a for a in self.accounts if a.project_id == name)

    async def serve(
        self, model: str = MODEL, committed: Callable[[], bool] = lambda: False
    ) -> tuple[str, Grant]:
        served = Served(model, {})
        answer, grant = await self.dispatcher.call_with_failover(
            self.cfg, served, self.upstream, committed
        )
        self.dispatcher.picker.release(grant, ok=True)
        return answer, grant
