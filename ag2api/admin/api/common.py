"""The base of the /admin/api/ handlers: every request authenticated (session cookie or Bearer
admin key), every write CSRF-checked when it comes with the cookie, and logged with who and what."""

from __future__ import annotations

from typing import Any

from ag2api.admin.base import AdminHandler, Caller
from ag2api.errors import GatewayError
from ag2api.observe.usage import query_usage


class AdminApiHandler(AdminHandler):
    caller_now: Caller

    def authorize(self) -> None:
        """Before the body is read: 404 with no admin key, 401 without the admin's session or
        key, 403 for a cookie write without its CSRF token."""
        super().authorize()
        if not self.cfg.admin_key:
            return  # AdminHandler.prepare answers 404
        self.caller_now = self.require_admin()
        self.set_header("Cache-Control", "no-store")

    def json_body(self) -> dict[str, Any]:
        return self.parse_json_body(self.request.body)

    def log_write(self, action: str, target: str, outcome: str = "ok") -> None:
        self.access.audit.record(
            self.caller_now.name, self.client_address(), action, target, outcome
        )

    def refused(self, action: str, target: str, error: GatewayError) -> GatewayError:
        """Log a refused write and give back the error to raise."""
        self.log_write(action, target, f"refused ({error.status}): {error.message}")
        return error

    async def usage(self, since: str, group_by: tuple[str, ...]) -> list[dict[str, Any]]:
        """The usage statistics since ``since`` (a UTC day), pending counts included."""
        usage = self.services.usage
        await usage.flush()
        rows: list[dict[str, Any]] = await usage.run(
            lambda db: query_usage(db, since=since, group_by=group_by)
        )
        return rows
