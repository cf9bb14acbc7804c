"""Every dialect's token-count route (its entry's ``count``): the body translated exactly as for
generation, counted by the upstream ``countTokens``.

Always 200 once the body is valid and the key admitted: when no account can count, a local
estimate answers; a failure here never cools or disables an account.
"""

from __future__ import annotations

from ag2api.handlers.base import DialectHandler
from ag2api.translate.dialect import Dialect, TokenCount


class CountTokensHandler(DialectHandler):
    @property
    def count(self) -> TokenCount:
        assert self.dialect is not None and self.dialect.count is not None
        return self.dialect.count

    def initialize(self, dialect: Dialect | None = None) -> None:
        super().initialize(dialect)
        assert self.dialect is not None and self.dialect.count is not None

    async def post(self, *path_args: str) -> None:
        body = self.parse_json_body(self.request.body)
        cfg, services, count = self.cfg, self.services, self.count
        asked = count.model(body, path_args)
        model = await services.catalog.resolve(cfg, asked)
        if self.trace is not None:
            self.trace.model = model
        self.allow_model(model, asked if isinstance(asked, str) else None)
        await self.add_limit_headers()
        request = count.request(body, model)
        self.write_json(count.answer(await services.token_counter.count(cfg, request)))
