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
from assistant.api.metrics import gauge
from assistant.api.state import ApiState
from assistant.errors import AuthError

router = APIRouter(tags=["system"])
KEYED = responses(400, 401, 403, 422)


class Health(BaseModel):
    """The server is up."""

    status: str
    version: str


class QueueOut(BaseModel):
    """The model's queue."""

    depth: int
    max_waiting: int
    completed: int
    refused: int
    cancelled: int
    failed: int


class SyncOut(BaseModel):
    """The cloud-sync outbox: what waits to leave the site, and how the uplink last went."""

    offline: bool
    backlog: int
    bytes: int
    oldest_at: float | None
    last_success_at: float | None
    last_error: str | None
    sent: int
    dropped: int


class StatusOut(BaseModel):
    """What a status bar shows: model, broker, alarms, documents, queue, sync backlog."""

    version: str
    model: str
    models: list[str]
    broker: str
    broker_error: str | None
    site: str | None
    assets: int
    active_alarms: int
    documents: int
    chunks: int
    queue: QueueOut
    sync: SyncOut
    uptime_s: float


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
    return PlainTextResponse(
        state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


def queue_json(state: ApiState) -> dict[str, int]:
    """Return the inference queue's figures."""
    q = state.queue
    return {
        "depth": q.depth,
        "max_waiting": q.queue_size,
        "completed": q.completed,
        "refused": q.refused,
        "cancelled": q.cancelled,
        "failed": q.failed,
    }


def sync_json(state: ApiState) -> dict[str, Any]:
    """Return the sync outbox's backlog and uplink state."""
    status = state.services.outbox.status()
    return {
        "offline": status.offline,
        "backlog": status.backlog,
        "bytes": status.bytes,
        "oldest_at": status.oldest_at,
        "last_success_at": status.last_success_at,
        "last_error": status.last_error,
        "sent": status.sent,
        "dropped": status.dropped,
    }


@router.get("/v1/status", response_model=StatusOut, responses=KEYED)
def status(state: State, key: Operator) -> dict[str, Any]:
    """Return the model, broker state, alarm count, document count and queue."""
    services = state.services
    live = services.live
    telemetry = live.status() if live is not None else {}
    plant = services.plant
    entries = services.manifest.entries()
    return {
        "version": __version__,
        "model": services.chat_model.name,
        "models": ["shiftmate", services.chat_model.name],
        "broker": telemetry.get("broker", "not configured"),
        "broker_error": telemetry.get("last_error"),
        "site": plant.site if plant is not None else None,
        "assets": len(plant.assets) if plant is not None else 0,
        "active_alarms": telemetry.get("active_events", 0),
        "documents": len(entries),
        "chunks": sum(len(e.chunk_ids) for e in entries),
        "queue": queue_json(state),
        "sync": sync_json(state),
        "uptime_s": round(time.time() - state.started, 3),
    }


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


def collect(state: ApiState) -> list[str]:
    """Return the gauges read from the services at scrape time (queue, MQTT, ingestion)."""
    lines: list[str] = []
    q = queue_json(state)
    lines += gauge(
        "shiftmate_inference_queue_depth", "Model requests running or waiting", q["depth"]
    )
    lines += gauge(
        "shiftmate_inference_jobs",
        "Model requests by outcome since start",
        {k: float(q[k]) for k in ("completed", "refused", "cancelled", "failed")},
        "outcome",
    )
    live = state.services.__dict__.get("live")
    if live is not None:
        telemetry = live.status()
        mqtt = {k: float(v) for k, v in telemetry.get("mqtt", {}).items()}
        lines += gauge("shiftmate_mqtt_messages", "MQTT connector counters", mqtt, "counter")
        store = {k: float(v) for k, v in telemetry.get("store", {}).items()}
        lines += gauge("shiftmate_telemetry_readings", "Telemetry store counters", store, "counter")
        lines += gauge(
            "shiftmate_active_alarms",
            "Alarm events raised now",
            float(telemetry.get("active_events", 0)),
        )
        connected = 1.0 if str(telemetry.get("broker", "")).startswith("connected") else 0.0
        lines += gauge("shiftmate_mqtt_connected", "1 when connected to the broker", connected)
    sync = sync_json(state)
    lines += gauge(
        "shiftmate_sync_backlog_records", "Records waiting in the outbox", sync["backlog"]
    )
    lines += gauge("shiftmate_sync_backlog_bytes", "Bytes waiting in the outbox", sync["bytes"])
    lines += gauge(
        "shiftmate_sync_records",
        "Outbox records by outcome since the outbox was created",
        {"sent": float(sync["sent"]), "dropped": float(sync["dropped"])},
        "outcome",
    )
    lines += gauge("shiftmate_sync_offline", "1 when the uplink is off", float(sync["offline"]))
    ingest = {k: float(v) for k, v in state.ingestion.counters.items()}
    lines += gauge(
        "shiftmate_ingestion_files",
        "Uploaded files ingested, by outcome",
        {k: v for k, v in ingest.items() if k != "chunks"},
        "outcome",
    )
    lines += gauge("shiftmate_ingestion_chunks", "Chunks written by uploads", ingest["chunks"])
    return lines
