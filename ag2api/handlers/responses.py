"""GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items (stored responses): side
routes of the Responses entry.

``POST /v1/responses`` is the completion handler's; these read the store it writes
(``Services.responses``). A response is only visible to the API key that created it; an unknown,
expired or foreign id is a 404 in OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest, NotFound
from ag2api.handlers.base import DialectHandler
from ag2api.state.records import owner_of

MAX_LIMIT = 100


class StoredResponseHandler(DialectHandler):
    async def _record(self, response_id: str) -> dict[str, Any]:
        record = await self.services.responses.get(response_id)
        if record is None or record.get("owner") != owner_of(self.client_key):
            raise NotFound(f"Response with id '{response_id}' not found.")
        return record

    async def get(self, response_id: str) -> None:
        record = await self._record(response_id)
        self.write_json(record["response"])

    async def delete(self, response_id: str) -> None:
        await self._record(response_id)
        await self.services.responses.delete(response_id)
        self.write_json({"id": response_id, "object": "response", "deleted": True})


class InputItemsHandler(StoredResponseHandler):
    async def get(self, response_id: str) -> None:
        record = await self._record(response_id)
        items: list[dict[str, Any]] = list(record.get("input") or [])
        order = self.get_query_argument("order", "desc")
        if order not in ("asc", "desc"):
            raise InvalidRequest("'order' must be asc or desc", param="order")
        if order == "desc":
            items.reverse()
        raw_limit = self.get_query_argument("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_LIMIT}", param="limit")
        after = self.get_query_argument("after", None)
        if after is not None:
            ids = [item.get("id") for item in items]
            if after not in ids:
                raise InvalidRequest(f"'after' names no item of {response_id}", param="after")
            items = items[ids.index(after) + 1 :]
        page = items[: int(raw_limit)]
        self.write_json(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else "",
                "last_id": page[-1]["id"] if page else "",
                "has_more": len(items) > len(page),
            }
        )
