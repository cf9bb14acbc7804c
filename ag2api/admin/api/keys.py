"""/admin/api/keys: the client keys by label — policy, use against each limit, use today and this
month — and creating, editing, disabling and deleting them in gateway.yaml."""

from __future__ import annotations

import datetime
from typing import Any

from ag2api.admin.api.common import AdminApiHandler
from ag2api.admin.base import APPLY_WAIT
from ag2api.admin.views import console_keys, keys_view, policy_json, usage_by
from ag2api.config.keys_file import KeyConflict, KeyEditError, KeyNotFound, Keys, KeysFile
from ag2api.errors import GatewayError, InvalidRequest, NotFound
from ag2api.observe.usage import today


class _KeysHandler(AdminApiHandler):
    def keys_file(self) -> KeysFile:
        live = self.services.config
        return KeysFile(live.current.path, listening=lambda: live.listening)

    def share(self, label: str) -> None:
        """Hosts sharing the pool get the change too (written into their own gateway.yaml)."""
        shared = self.services.state.shared_keys
        if shared is not None:
            shared.changed(label)

    async def applied(self, keys: Keys) -> bool:
        """Whether the running gateway reloaded the written file (the reply says so)."""
        if not self.cfg.watch.enabled:
            return False  # applied at the next SIGHUP
        return await self.access.applied(
            self.services.config, lambda cfg: cfg.api_keys == keys, APPLY_WAIT
        )


class KeysApiHandler(_KeysHandler):
    async def get(self) -> None:
        cfg = self.cfg
        day = today()
        rows = await self.usage(day[:8] + "01", ("day", "key"))
        self.write_json(
            {
                "keys": console_keys(
                    cfg,
                    await keys_view(cfg, self.services.state),
                    usage_by([r for r in rows if r["day"] == day], "key"),
                    usage_by(rows, "key"),
                ),
                "defaults": policy_json(cfg.defaults.policy),
                "config_path": str(cfg.path),
                "day": day,
                "month": day[:7],
                "utc_now": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
        )

    async def post(self) -> None:
        body = self.json_body()
        label = body.get("label")
        policy = body.get("policy")
        shown = label if isinstance(label, str) else "-"
        try:
            key, keys = await self.blocking(self.keys_file().create, label, policy)
        except KeyEditError as exc:
            raise self.refused("keys.create", shown, as_gateway_error(exc)) from None
        self.log_write("keys.create", shown)
        self.share(shown.strip())
        applied = await self.applied(keys)
        self.write_json({"label": label, "key": key, "applied": applied}, status=201)


class KeyApiHandler(_KeysHandler):
    """One key, by its label."""

    async def patch(self, label: str) -> None:
        body = self.json_body()
        unknown = set(body) - {"enabled", "policy"}
        if unknown:
            raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}", param=sorted(unknown)[0])
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidRequest("'enabled' must be true or false", param="enabled")
        change: dict[str, Any] = {"enabled": enabled}
        if "policy" in body:  # null: the key's own policy goes, defaults.policy applies
            change.update(policy=body["policy"], clear_policy=body["policy"] is None)
        action = "keys.disable" if enabled is False else "keys.enable" if enabled else "keys.edit"
        try:
            keys = await self.blocking(lambda: self.keys_file().update(label, **change))
        except KeyEditError as exc:
            raise self.refused(action, label, as_gateway_error(exc)) from None
        self.log_write(action, label)
        self.share(label)
        self.write_json({"label": label, "applied": await self.applied(keys)})

    async def delete(self, label: str) -> None:
        try:
            keys = await self.blocking(self.keys_file().delete, label)
        except KeyEditError as exc:
            raise self.refused("keys.delete", label, as_gateway_error(exc)) from None
        self.log_write("keys.delete", label)
        self.share(label)
        self.write_json({"deleted": label, "applied": await self.applied(keys)})


def as_gateway_error(exc: KeyEditError) -> GatewayError:
    if isinstance(exc, KeyNotFound):
        return NotFound(str(exc))
    if isinstance(exc, KeyConflict):
        return GatewayError(str(exc), kind="conflict")
    return InvalidRequest(str(exc), param=exc.field)
