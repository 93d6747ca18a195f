"""Server-sent events: the wire format and a response that always closes its stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str | None, data: Any, event_id: str | None = None) -> str:
    """Return one SSE event; data is sent as compact JSON (a wire model as its JSON shape, a
    string as is)."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if name is not None:
        lines.append(f"event: {name}")
    lines += [f"data: {line}" for line in text.split("\n")]
    return "\n".join(lines) + "\n\n"


def comment(text: str) -> str:
    """Return an SSE comment line (a keep-alive)."""
    return f": {text}\n\n"


class EventStreamResponse(StreamingResponse):
    """A text/event-stream response whose generator is closed however the stream ends.

    Closing runs the generator's ``finally`` (which cancels a running generation) also when the
    client disconnects and the server stops sending mid-stream. A generator that never started
    has no ``finally`` to run, so ``on_close`` is called last in every case.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[str],
        status_code: int = 200,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=SSE_HEADERS)
        self._source = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream, then close the generator whatever happened."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                close = getattr(self._source, "aclose", None)
                if close is not None:
                    await close()
            finally:
                if self._on_close is not None:
                    self._on_close()
