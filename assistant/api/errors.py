"""Every failure becomes a JSON body ``{"error": {"code", "message", "type"}}``; never a trace.

The body has the OpenAI error shape, so the official ``openai`` client and OpenAI-compatible
UIs read our messages too. Shiftmate's error tree is mapped here, at the edge.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.api.routes import templates
from assistant.errors import (
    AuthError,
    ChatError,
    ConfigError,
    ConnectorError,
    DocumentError,
    FeedbackError,
    JournalError,
    KnowledgeError,
    ModelError,
    ShiftmateError,
    SyncError,
    TelemetryError,
    WorkOrderError,
)

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong, for a person (message) and for a program (code)."""

    code: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error raised by a route with its HTTP status, code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


# The most specific class first: DocumentError before KnowledgeError.
_STATUS: tuple[tuple[type[ShiftmateError], int, str], ...] = (
    (AuthError, 403, "forbidden"),
    (DocumentError, 422, "document_error"),
    (KnowledgeError, 400, "knowledge_error"),
    (ChatError, 400, "invalid_question"),
    (FeedbackError, 400, "invalid_feedback"),
    (WorkOrderError, 409, "workorder_conflict"),
    (TelemetryError, 404, "telemetry_not_found"),
    (ConfigError, 409, "not_configured"),
    (ModelError, 503, "model_unavailable"),
    (ConnectorError, 502, "broker_unavailable"),
    (JournalError, 500, "journal_error"),
    (SyncError, 500, "sync_error"),
)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return the JSON error response for a status, code and message."""
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"code": code, "message": message, "type": kind}}
    return JSONResponse(body, status_code=status, headers=headers)


def map_error(exc: ShiftmateError) -> tuple[int, str, str]:
    """Return (status, code, message) for one of Shiftmate's errors."""
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            if status >= 500 and not isinstance(exc, ModelError | ConnectorError):
                log.error("internal error: %s", exc)
                return status, code, "internal error; see the server log"
            return status, code, str(exc)
    return 500, "internal", "internal error; see the server log"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def allowed_methods(request: Request) -> list[str]:
    """Return the documented methods some route serves at the request's path (for Allow)."""
    path = request.scope["path"]
    found = [t for t in templates(request.app.router.routes) if t.pattern.match(path)]
    # "/v1/documents/jobs" also matches "/v1/documents/{document_id}": the documented path is
    # the one with the fewest parameters, as in the OpenAPI schema a client reads
    fewest = min((t.path.count("{") for t in found), default=0)
    methods = {m for t in found if t.path.count("{") == fewest for m in t.methods}
    return sorted(methods - {"HEAD"})


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every failure into a JSON error body."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    async def on_shiftmate(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ShiftmateError)
        status, code, message = map_error(exc)
        return error_response(status, code, message)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_request", _validation_message(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        headers: Any = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), headers
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; see the server log")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(ShiftmateError, on_shiftmate)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` entries documenting these error statuses."""
    described = {
        400: "The request cannot be carried out as asked",
        401: "No API key, or an unknown or revoked one",
        403: "The key's role does not allow this",
        404: "Not found",
        409: "Conflicts with the current state or configuration",
        413: "Too large",
        415: "Unsupported file type",
        422: "The request does not validate",
        429: "The model's queue is full; retry after Retry-After seconds",
        500: "Internal error",
        502: "The MQTT broker cannot be reached",
        503: "The model is unavailable",
    }
    return {s: {"model": ErrorBody, "description": described[s]} for s in statuses}
