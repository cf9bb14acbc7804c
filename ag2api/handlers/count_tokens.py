"""Every dialect's token-count route (its entry's ``count``): the body translated exactly as for
generation, counted by the upstream ``countTokens``, through the key's admission like any request
(a count counts against ``rpm`` but takes none of the key's ``max_concurrent`` slots — Claude
Code counts while its own stream runs; it charges no tokens).

Always 200 once the body is valid and the key admitted: when no account can count, a local
estimate answers; a failure here never cools or disables an account.
"""

from __future__ import annotations

from ag2api.handlers.generating import GeneratingHandler
from ag2api.translate.dialect import Dialect, TokenCount


class CountTokensHandler(GeneratingHandler):
    large_bodies = True  # what generation takes, counting takes (Claude Code counts long contexts)

    def initialize(self, dialect: Dialect | None = None) -> None:
        super().initialize(dialect)
        assert dialect is not None and dialect.count is not None
        self.count: TokenCount = dialect.count

    async def post(self, *path_args: str) -> None:
        body = self.parse_json_body(self.request.body)
        cfg, services, count = self.cfg, self.services, self.count
        asked = count.model(body, path_args)
        model = await services.catalog.resolve(cfg, asked)
        if self.trace is not None:
            self.trace.model = model
        async with self.admitted(model, asked=asked).without_slot():
            request = await self.translated(lambda: count.request(body, model))
            total = await services.token_counter.count(cfg, request)
        self.write_json(count.answer(total))
