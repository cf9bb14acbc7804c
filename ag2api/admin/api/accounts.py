"""/admin/api/accounts: every account with its state, quota and use today; enable, disable,
remove, recheck; import and export.

``{id}`` is the masked project id the page shows (``proj…0001``). Every change goes through
tokens.json under its lock with ``ag2api accounts``' own code (:mod:`ag2api.accounts.cli`,
:mod:`ag2api.accounts.commands`); the running gateway follows through its file watcher.
"""

from __future__ import annotations

import json
from typing import Any

from ag2api.accounts.cli import AccountNotFound, remove_account, set_enabled
from ag2api.accounts.model import Account
from ag2api.admin.api.common import AdminApiHandler
from ag2api.admin.api.transfer import ImportFile, export_tokens, import_files
from ag2api.admin.views import accounts_view, console_accounts, usage_by
from ag2api.errors import GatewayError, InvalidRequest, NotFound
from ag2api.observe.usage import today
from ag2api.redact import mask

IMPORT_LIMIT = 16 * 1024 * 1024


class _AccountsHandler(AdminApiHandler):
    async def rows(self) -> list[dict[str, Any]]:
        s = self.services
        used = usage_by(await self.usage(today(), ("project",)), "project")
        return console_accounts(
            accounts_view(s.state.snapshot(), s.quota.book, s.uses_credits), used
        )

    def account(self, shown_id: str) -> Account:
        """The account the page calls ``shown_id`` (its masked project id)."""
        found = [a for a in self.services.pool.accounts if mask(a.project_id) == shown_id]
        if not found:
            raise NotFound(f"No account {shown_id!r} (ids are as GET /admin/api/accounts shows)")
        if len(found) > 1:
            raise GatewayError(
                f"{shown_id!r} names {len(found)} accounts; use `ag2api accounts`",
                kind="conflict",
            )
        return found[0]

    async def row(self, shown_id: str) -> dict[str, Any] | None:
        return next((r for r in await self.rows() if r["id"] == shown_id), None)


class AccountsApiHandler(_AccountsHandler):
    async def get(self) -> None:
        if self.get_argument("refresh", "") in ("1", "true"):
            await self.services.quota.refresh()
        self.write_json({"accounts": await self.rows()})


class AccountActionHandler(_AccountsHandler):
    """POST /admin/api/accounts/{id}/enable|disable|recheck."""

    async def post(self, shown_id: str, action: str) -> None:
        account = self.account(shown_id)
        if action == "recheck":
            await self.recheck(shown_id, account)
            return
        enable = action == "enable"
        reason = None
        if not enable and self.request.body.strip():
            reason = self.json_body().get("reason")
            if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
                raise InvalidRequest(
                    "'reason' must be a text of at most 200 characters", param="reason"
                )
        path = self.cfg.tokens_file
        try:
            await self.blocking(set_enabled, path, account.project_id, enable, reason)
        except (AccountNotFound, ValueError, OSError) as exc:
            raise self.refused(
                f"accounts.{action}", shown_id, GatewayError(str(exc), kind="conflict")
            ) from None
        self.log_write(f"accounts.{action}", shown_id)
        applied = await self.settled(
            lambda: any(
                v.project_id == account.project_id and v.enabled == enable
                for v in self.services.state.snapshot().accounts
            )
        )
        self.write_json({"account": await self.row(shown_id), "applied": applied})

    async def recheck(self, shown_id: str, account: Account) -> None:
        """Check the account against Google now: one out for a cause that passes (needs
        verification, proxy unreachable, …) gets its recheck at once and comes back if the
        cause has passed; one in service gets its quota checked."""
        came_back = await self.services.recheck.check_now(account)
        if came_back is not None:
            outcome = "back in service" if came_back else "still out"
        elif not account.enabled:
            outcome = "not rechecked: disabled until enabled or signed in again"
        else:
            try:
                await self.services.quota.check(account.project_id)
                outcome = "quota checked"
            except Exception as exc:  # the answer says why; the account is left as it is
                outcome = f"quota check failed: {exc}"
        self.log_write("accounts.recheck", shown_id, outcome)
        self.write_json({"account": await self.row(shown_id), "outcome": outcome})


class AccountHandler(_AccountsHandler):
    """DELETE /admin/api/accounts/{id}: the project leaves tokens.json, tokens and all."""

    async def get(self, shown_id: str) -> None:
        self.account(shown_id)
        self.write_json({"account": await self.row(shown_id)})

    async def delete(self, shown_id: str) -> None:
        account = self.account(shown_id)
        try:
            await self.blocking(remove_account, self.cfg.tokens_file, account.project_id)
        except (AccountNotFound, ValueError, OSError) as exc:
            raise self.refused(
                "accounts.remove", shown_id, GatewayError(str(exc), kind="conflict")
            ) from None
        self.log_write("accounts.remove", shown_id)
        applied = await self.settled(lambda: self.services.pool.get(account.project_id) is None)
        self.write_json({"removed": shown_id, "applied": applied})


class ImportHandler(_AccountsHandler):
    """POST /admin/api/accounts/import: files as multipart/form-data (any field name), or JSON
    ``{"files": [{"name", "content"}]}``, or one account file's JSON as the body."""

    max_body = IMPORT_LIMIT

    async def post(self) -> None:
        files = self.uploaded()
        if not files:
            raise InvalidRequest("Send at least one account file to import.", param="files")
        names = ", ".join(f.name for f in files)[:200]
        onboarding = (
            self.access.sign_ins.endpoints.onboard_polls,
            self.access.sign_ins.endpoints.onboard_interval,
        )
        try:
            report = await self.blocking(
                import_files, self.cfg, self.services.cipher, files, onboarding
            )
        except (ValueError, OSError) as exc:
            raise self.refused(
                "accounts.import", names, GatewayError(str(exc), kind="conflict")
            ) from None
        self.log_write(
            "accounts.import",
            names,
            f"added {report['added']}, updated {report['updated']}, "
            f"skipped {len(report['skipped'])}",
        )
        wanted = set(report["accounts"])  # as the import names them: email, else masked id

        def served() -> set[str]:
            pool = self.services.pool.accounts
            return {mask(a.project_id) for a in pool} | {a.email for a in pool if a.email}

        report["applied"] = await self.settled(lambda: wanted <= served())
        self.write_json(report)

    def uploaded(self) -> list[ImportFile]:
        if self.request.files:
            return [
                ImportFile(f.filename or "upload", f.body)
                for field in self.request.files.values()
                for f in field
            ]
        body = self.json_body()
        listed = body.get("files")
        if not isinstance(listed, list):
            return [ImportFile("upload.json", self.request.body)]
        out = []
        for i, item in enumerate(listed):
            if not isinstance(item, dict) or not isinstance(item.get("content"), str | dict | list):
                raise InvalidRequest("each file is {name, content}", param=f"files[{i}].content")
            content = item["content"]
            raw = content if isinstance(content, str) else json.dumps(content)
            out.append(ImportFile(str(item.get("name") or f"file-{i + 1}"), raw.encode()))
        return out


class ExportHandler(_AccountsHandler):
    """GET /admin/api/accounts/export?format=…: a download of every account (with its tokens)."""

    async def get(self) -> None:
        fmt = self.get_argument("format", "ag2api")
        plaintext = self.get_argument("plaintext", "") in ("1", "true")
        try:
            name, kind, data = await self.blocking(
                export_tokens, self.cfg, self.services.cipher, fmt, plaintext
            )
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="format") from None
        self.log_write("accounts.export", fmt + (" (plaintext)" if plaintext else ""))
        self.set_header("Content-Type", kind)
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(data)
