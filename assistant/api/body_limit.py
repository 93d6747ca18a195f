"""Request bodies capped while they stream: 413 as soon as a body passes its limit.

A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked body
(or one longer than it declared) is counted as the app reads it and refused the moment it
passes the limit. The app is then told the client is gone, so it stops reading, and the
connection is closed rather than drained.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.errors import error_response

JSON_BODY_LIMIT = 2 * 1024 * 1024
"""Largest body of any request but an upload (a question is at most a few kB)."""
UPLOAD_PATH = "/v1/documents"
"""The one route whose body may be as large as ``api.max_upload_mb``."""
MULTIPART_ENVELOPE = 64 * 1024
"""Room for the multipart boundaries and part headers around an uploaded file."""


def has_body(scope: Scope) -> bool:
    """Return whether a request declares a body (a non-zero length, or a transfer coding)."""
    headers = dict(scope["headers"])
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"


def too_large(limit: int) -> JSONResponse:
    """Return the 413 for a body over ``limit`` bytes; it closes the connection."""
    return error_response(
        413,
        "too_large",
        f"the request body is over the limit of {limit / 1048576:.1f} MB",
        headers={"Connection": "close"},
    )


class BodyLimit:
    """Refuse a request body over its route's limit with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    def limit_for(self, scope: Scope) -> int:
        """Return the largest body, in bytes, the request's path accepts."""
        if scope["path"] == UPLOAD_PATH:
            return self.upload_limit + MULTIPART_ENVELOPE
        return JSON_BODY_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a declared size over the limit at once, else count the body as it is read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_large(limit)(scope, receive, send)
            return
        body = CappedBody(scope, receive, send, limit)
        await self.app(scope, body.receive, body.send)


class CappedBody:
    """One request's receive and send, counting the body and refusing it past the limit."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.refused = False
        self._answered = False
        self._started = False

    async def receive(self) -> Message:
        """Return the next message; past the limit answer 413 and tell the app the client left."""
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                if not self._started:
                    self._answered = True
                    await too_large(self.limit)(self._scope, self._receive, self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        """Pass the app's response on, unless the 413 has already answered the request."""
        if self._answered:
            return  # the app's answer to a body it never got whole
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)
