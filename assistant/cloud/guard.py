"""A pure-ASGI guard in front of the receiver: the token first, then a body capped as it streams.

Every HTTP request must carry ``Authorization: Bearer <token>`` that ``authenticate`` knows,
or it is answered 401 before a byte of its body is read. The body, chunked or not, is then
read up to ``max_body_bytes``: a declared ``Content-Length`` over the limit, or a stream that
passes it, is answered 413 at once and the connection closed, so the rest is never read nor
held. The app gets the whole body in one message and the principal (what ``authenticate``
returned) in ``scope["shiftmate.principal"]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRINCIPAL = "shiftmate.principal"
"""The scope key holding who the request's token belongs to."""

Authenticate = Callable[[str], str | None]
"""Returns who a bearer token belongs to, or None for an unknown token."""


def bearer_token(scope: Scope) -> str:
    """Return the bearer token of a request's ``Authorization`` header ("" when none)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def declared_length(scope: Scope) -> int | None:
    """Return the request's ``Content-Length`` (None when absent or not a number)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def refuse(send: Send, status: int, reason: str, message: str) -> None:
    """Answer a request with ``{"error", "reason"}`` and close the connection after it."""
    body = json.dumps({"error": message, "reason": reason}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class RequestGuard:
    """Authenticates every HTTP request before reading it, and caps its body while it streams."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        max_body_bytes: int,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self._authenticate = authenticate
        self._limit = max_body_bytes
        self._on_refused = on_refused

    def _count(self, reason: str) -> None:
        if self._on_refused is not None:
            self._on_refused(reason)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        principal = self._authenticate(token) if token else None
        if principal is None:
            self._count("unauthorized")
            await refuse(send, 401, "unauthorized", "a valid bearer token is required")
            return
        limit = self._limit
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            self._count("too_large")
            await refuse(send, 413, "too_large", f"body over {limit} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                self._count("too_large")
                await refuse(send, 413, "too_large", f"body over {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app({**scope, PRINCIPAL: principal}, replay, send)
