"""The recheck's one cheap call (:mod:`ag2api.accounts.recheck`): loadCodeAssist for one account,
through its own proxy, with a fresh token — no model call, no quota used."""

from __future__ import annotations

from ag2api.accounts.google_calls import LOAD_BODY, verification_needed
from ag2api.accounts.model import Account
from ag2api.accounts.proxies import curl_proxy, effective_proxy, mask_proxy, routed
from ag2api.accounts.recheck import Verdict
from ag2api.accounts.refresh import AccountRevoked, RefreshFailed
from ag2api.accounts.standing import PROXY_UNREACHABLE, VERIFY
from ag2api.config.schema import GatewayConfig
from ag2api.failover.dispatcher import Dispatcher, settings_for
from ag2api.failover.verdicts import no_connection
from ag2api.upstream.client import LOAD_CODE_ASSIST_PATH, UpstreamHTTPError, UpstreamProblem


async def load_code_assist(dispatcher: Dispatcher, cfg: GatewayConfig, account: Account) -> Verdict:
    """Whether ``account`` can be used again, and if not, why (None: the same cause as before)."""
    proxy = effective_proxy(account.proxy, cfg.upstream.proxy)
    settings = routed(settings_for(cfg), account)
    try:
        token = await dispatcher.refresher.access_token(account)
    except AccountRevoked as exc:
        return Verdict(False, exc.reason)  # a dead refresh token: out until a new login
    except RefreshFailed as exc:
        return Verdict(False, _proxy_reason(proxy, exc))
    last: BaseException | None = None
    for base in cfg.upstream.base_urls:
        try:
            body = await dispatcher.client.post_json(
                base, LOAD_CODE_ASSIST_PATH, token, dict(LOAD_BODY), settings
            )
        except UpstreamHTTPError as exc:
            if exc.status in (401, 403):
                return Verdict(False, exc.error.account_cause())
            last = exc
            continue
        except UpstreamProblem as exc:
            last = exc
            continue
        url = verification_needed(body)
        if url is not None:
            return Verdict(False, f"{VERIFY}: verify the account — verify at {url}")
        return Verdict(True)
    return Verdict(False, _proxy_reason(proxy, last) if last is not None else None)


def _proxy_reason(proxy: str | None, exc: BaseException) -> str | None:
    """A proxy fault's reason (the proxy still fails), else None (the cause stays as it was)."""
    if curl_proxy(proxy) and no_connection(exc):
        return f"{PROXY_UNREACHABLE}: proxy {mask_proxy(proxy)} failed: {exc}"[:300]
    return None
