"""Health (no key), Prometheus metrics, the status summary, and API key administration."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant import __version__
from assistant.api.auth import Admin, Operator, State
from assistant.api.errors import ApiError, responses
from assistant.api.keys import MAX_NAME, ApiKey, Role
from assistant.api.metrics import CONTENT_TYPE
from assistant.errors import AuthError
from assistant.schema.status import StatusOut

router = APIRouter(tags=["system"])
KEYED = responses(400, 401, 403, 422)


class Health(BaseModel):
    """The server is up."""

    status: str
    version: str


class KeyOut(BaseModel):
    """An API key as listed (never the key itself)."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: str
    revoked_at: str | None


class KeyList(BaseModel):
    """Every API key."""

    keys: list[KeyOut]


class NewKey(KeyOut):
    """A new key: the secret is shown here once and never again."""

    key: str


class KeyRequest(BaseModel):
    """A new key's role and name."""

    model_config = ConfigDict(extra="forbid")
    role: Role
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"\S")


@router.get("/health", response_model=Health)
def health() -> dict[str, Any]:
    """Say the server is up (no key needed; does not touch the model)."""
    return {"status": "ok", "version": __version__}


@router.get(
    "/metrics",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **KEYED,
    },
)
def metrics(state: State, key: Operator) -> PlainTextResponse:
    """Return the metrics in the Prometheus text format."""
    return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/status", response_model=StatusOut, responses=KEYED)
def status(state: State, key: Operator) -> StatusOut:
    """Return the model, broker state, alarm count, document count and queue."""
    services = state.services
    live = services.live
    return StatusOut.from_domain(
        version=__version__,
        model=services.chat_model.name,
        telemetry=live.status() if live is not None else None,
        plant=services.plant,
        documents=services.manifest.entries(),
        queue=state.queue,
        sync=services.outbox.status(),
        uptime_s=time.time() - state.started,
    )


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@router.get("/v1/keys", response_model=KeyList, responses=KEYED)
def keys(state: State, key: Admin) -> dict[str, Any]:
    """List the API keys (admin)."""
    return {"keys": [_key_json(k) for k in state.keys.list()]}


@router.post("/v1/keys", response_model=NewKey, status_code=201, responses=KEYED)
def create_key(body: KeyRequest, state: State, key: Admin) -> dict[str, Any]:
    """Create an API key (admin); the secret is in this response only."""
    created, secret = state.keys.create(body.role, body.name)
    return {**_key_json(created), "key": secret}


@router.delete("/v1/keys/{key_id}", response_model=KeyOut, responses={**KEYED, **responses(404)})
def revoke_key(key_id: str, state: State, key: Admin) -> dict[str, Any]:
    """Revoke an API key (admin)."""
    found = state.keys.get(key_id)
    if found is None or found.revoked_at is not None:
        raise ApiError(404, "unknown_key", f"no live API key {key_id!r}")
    try:
        return _key_json(state.keys.revoke(key_id))
    except AuthError as exc:
        raise ApiError(404, "unknown_key", str(exc)) from exc
