"""The base of every route that calls the upstream for a client: the key's admission, the body's
translation off the loop when it is large, and the upstream work cancelled when the client leaves
or the shutdown grace ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ag2api.errors import GatewayError
from ag2api.handlers.base import DialectHandler
from ag2api.keys.admission import KeyAdmission

T = TypeVar("T")

# Larger bodies are translated on a worker thread: translation is plain Python whose work grows
# with the body (a million small parts take seconds), and the event loop keeps serving meanwhile.
TRANSLATE_ON_LOOP_BYTES = 256 * 1024


class GeneratingHandler(DialectHandler):
    """A route that calls the upstream for a client: the call stops (its transfer aborted, its
    account slot given back) as soon as the client leaves, and ends with a 503 at shutdown."""

    # The request's own task while it awaits upstream work (until_client_leaves), and whether
    # this handler cancelled it (a cancellation it then takes back once handled).
    _work: asyncio.Task[Any] | None = None
    _cancelled_work = False
    _client_gone = False
    _shutting_down = False

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._client_gone = True
        self._cancel_work()

    def abort_for_shutdown(self) -> None:
        self._shutting_down = True
        self._cancel_work()

    def _cancel_work(self) -> None:
        if self._work is not None and not self._cancelled_work:
            self._cancelled_work = True
            self._work.cancel()

    def admitted(self, *serving: str, asked: str | None = None) -> KeyAdmission:
        """The key's admission for a request these models may serve: 403 now when the key may
        not use one of them; entered (``async with``) it counts the request or refuses it (429),
        and leaving it settles (the tokens used charged, the concurrency lease given back)."""
        self.key_admission.allow(*serving, asked=asked)
        return self.key_admission

    async def translated(self, work: Callable[[], T]) -> T:
        """``work()`` (a pure translation of this request's body): on the loop for a small body,
        on a worker thread for a large one."""
        if len(self.request.body) <= TRANSLATE_ON_LOOP_BYTES:
            return work()
        return await asyncio.get_running_loop().run_in_executor(None, work)

    async def until_client_leaves(self, work: Awaitable[T]) -> T | None:
        """Await ``work``; when the client disconnects it is cancelled (None is returned), which
        aborts its upstream transfer and gives its account slot back.

        The request's own task is what gets cancelled (a task of its own for ``work`` cost two
        more turns of the event loop per request); the cancellation is taken back
        (``uncancel``) once handled here, so nothing after this sees it."""
        task = asyncio.current_task()
        assert task is not None
        self._work = task
        try:
            return await work
        except asyncio.CancelledError:
            if self._client_gone:
                return None
            if self._shutting_down:
                raise GatewayError(
                    "The gateway is shutting down; retry shortly.",
                    kind="server_busy",
                    retry_after=1.0,
                ) from None
            raise
        finally:
            self._work = None
            if self._cancelled_work:
                self._cancelled_work = False
                task.uncancel()
