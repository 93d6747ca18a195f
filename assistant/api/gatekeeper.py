"""Authentication before the body: a request to a keyed route without a live key gets 401 unread.

FastAPI resolves a route's dependencies, the key check among them, only after it has read and
parsed the body, so a client without a key could make the server read a body of any size.
This middleware checks the key first, from the headers alone; the role is still checked by
the route's ``require(role)`` dependency. A path no route serves, or a method it does not
allow, goes on to the router's 404 or 405, which read no body either.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio.to_thread
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api.auth import bearer_token, identify
from assistant.api.body_limit import has_body
from assistant.api.errors import ApiError, error_response
from assistant.api.keys import KeyStore
from assistant.api.routes import Template, matched, templates

PUBLIC_PATHS = frozenset({"/health"})
"""Route templates served without a key."""


class Gatekeeper:
    """Answer 401 to a request for a keyed route without a live API key, before its body."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], keys: KeyStore) -> None:
        self.app = app
        self.routes = routes  # the app's own list, read at the first request: all are included
        self.keys = keys
        self._table: list[Template] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key of a request for a keyed route, then hand the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._table is None:
            self._table = templates(self.routes)
        template = matched(self._table, scope)
        if template is None or template.path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = bearer_token(_header(scope, b"authorization"))
        try:
            # the journal's lock may be held by a write; keep the event loop free meanwhile
            await anyio.to_thread.run_sync(identify, self.keys, token)
        except ApiError as exc:
            headers = dict(exc.headers or {})
            if has_body(scope):
                headers["Connection"] = "close"  # rather than read the unwanted body to its end
            scope["route"] = template.route  # for the metrics label (it has the .path)
            response = error_response(exc.status, exc.code, exc.message, headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None
