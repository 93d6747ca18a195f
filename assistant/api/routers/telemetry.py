"""Live telemetry: assets, an asset's current values and recent window, alarms, and the
``/v1/events`` stream of alarm, anomaly and stale events (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from assistant.api import sse
from assistant.api.auth import Operator, State
from assistant.api.errors import ApiError, responses
from assistant.api.routers.chat import SSE_EVENT_SCHEMA
from assistant.api.state import ApiState
from assistant.domain import TelemetryEvent
from assistant.plant import AssetSpec
from assistant.telemetry.store import TagStatus

router = APIRouter(tags=["telemetry"], responses=responses(400, 401, 403, 422, 500))

EVENT_BUFFER = 1000
OK_STATES = ("normal", "no data")


class TagOut(BaseModel):
    """One tag of an asset: declared unit and ranges, current value, state and window."""

    tag: str
    name: str
    unit: str
    value: float | None
    ts: float | None
    age_s: float | None
    state: str
    trend: str
    normal: list[float] | None
    limits: dict[str, float | None]
    stats: dict[str, float] | None
    window: list[list[float]]


class AssetSummary(BaseModel):
    """An asset as listed, with its worst tag state and its active alarms."""

    id: str
    name: str
    type: str
    location: str
    tags: list[str]
    state: str
    active_events: int


class AssetList(BaseModel):
    """The plant's assets (empty without a plant file)."""

    site: str | None
    assets: list[AssetSummary]


class AssetOut(BaseModel):
    """One asset with every tag's current value and recent window."""

    id: str
    name: str
    type: str
    location: str
    running: bool | None
    tags: list[TagOut]
    active_events: list[dict[str, Any]]


class EventOut(BaseModel):
    """An alarm, anomaly or stale event, raised or cleared."""

    id: str
    asset: str
    tag: str
    kind: str
    level: str
    state: str
    ts: float
    value: float | None
    message: str
    values: dict[str, float]


class AlarmsOut(BaseModel):
    """Alarms raised now, and the recent history (newest first)."""

    active: list[EventOut]
    history: list[EventOut]


def event_json(event: TelemetryEvent) -> dict[str, Any]:
    """Return an event as the API shows it."""
    return {
        "id": event.id,
        "asset": event.asset,
        "tag": event.tag,
        "kind": event.kind,
        "level": event.level,
        "state": event.state,
        "ts": event.ts,
        "value": event.value,
        "message": event.message,
        "values": dict(event.values),
    }


SEVERITY = ("normal", "no data", "stopped", "outside normal", "stale", "lo", "hi", "lolo", "hihi")


def _worst(states: list[str]) -> str:
    return max(states, key=lambda s: SEVERITY.index(s) if s in SEVERITY else 0, default="normal")


def _tag_json(status: TagStatus, window: list[tuple[float, float]]) -> dict[str, Any]:
    stats = status.stats
    return {
        "tag": status.tag,
        "name": status.name,
        "unit": status.unit,
        "value": status.value,
        "ts": status.ts,
        "age_s": status.age_s,
        "state": status.state,
        "trend": status.trend,
        "normal": list(status.normal) if status.normal is not None else None,
        "limits": dict(status.limits.as_pairs()),
        "stats": None
        if stats is None
        else {
            "n": float(stats.n),
            "min": stats.min,
            "max": stats.max,
            "mean": stats.mean,
            "slope_per_min": stats.slope_per_min,
        },
        "window": [[ts, value] for ts, value in window],
    }


def _asset(state: ApiState, asset_id: str) -> AssetSpec:
    plant = state.services.plant
    spec = plant.asset(asset_id) if plant is not None else None
    if spec is None:
        raise ApiError(404, "unknown_asset", f"unknown asset {asset_id!r}; see GET /v1/assets")
    return spec


@router.get("/v1/assets", response_model=AssetList)
def assets(state: State, key: Operator) -> dict[str, Any]:
    """List the plant's assets with their worst current state."""
    plant = state.services.plant
    live = state.services.live
    if plant is None or live is None:
        return {"site": None, "assets": []}
    out = []
    for spec in plant.assets:
        statuses = live.store.asset_status(spec.id)
        out.append(
            {
                "id": spec.id,
                "name": spec.name,
                "type": spec.type,
                "location": spec.location,
                "tags": [t.id for t in spec.tags],
                "state": _worst([s.state for s in statuses]),
                "active_events": len(live.store.active_events(spec.id)),
            }
        )
    return {"site": plant.site, "assets": out}


@router.get("/v1/assets/{asset_id}", response_model=AssetOut, responses=responses(404))
def asset(
    asset_id: str,
    state: State,
    key: Operator,
    window_s: float = Query(300.0, gt=0, le=86400, description="Seconds of recent samples"),
    max_points: int = Query(300, ge=0, le=10000, description="Most samples per tag"),
) -> dict[str, Any]:
    """Return an asset's current values per tag (unit, state, ts) and a recent window."""
    spec = _asset(state, asset_id)
    live = state.services.live
    assert live is not None  # a plant means a pipeline
    now = time.time()
    tags = []
    for status in live.store.asset_status(spec.id, now):
        window = live.store.window(spec.id, status.tag, window_s, now)
        if max_points == 0:
            window = []
        elif len(window) > max_points:
            stride = -(-len(window) // max_points)
            window = window[::-1][::stride][::-1]
        tags.append(_tag_json(status, window))
    return {
        "id": spec.id,
        "name": spec.name,
        "type": spec.type,
        "location": spec.location,
        "running": live.store.running(spec.id),
        "tags": tags,
        "active_events": [event_json(e) for e in live.store.active_events(spec.id)],
    }


@router.get("/v1/alarms", response_model=AlarmsOut, responses=responses(404))
def alarms(
    state: State,
    key: Operator,
    asset: str | None = Query(None, min_length=1, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Return the active alarms and the recent alarm history (newest first)."""
    live = state.services.live
    active: list[TelemetryEvent] = []
    if live is not None:
        if asset is not None:
            active = live.store.active_events(_asset(state, asset).id)
        else:
            active = live.store.active_events()
    history = state.services.alarm_history.recent(limit, asset)
    return {
        "active": [event_json(e) for e in reversed(active)],
        "history": [event_json(e) for e in history],
    }


def _replay(state: ApiState, last_id: str | None) -> list[TelemetryEvent]:
    if not last_id:
        return []
    recent = state.services.alarm_history.recent(500)
    ids = [e.id for e in recent]
    if last_id not in ids:
        return []
    return list(reversed(recent[: ids.index(last_id)]))


@router.get(
    "/v1/events",
    responses={
        200: {
            "description": "Server-sent events: 'alarm' for every alarm, anomaly or stale "
            "event (raised or cleared), keep-alive comments; the stream ends after "
            "api.events_max_s and the client reconnects with Last-Event-ID",
            "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        }
    },
)
async def events(
    state: State,
    key: Operator,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
) -> sse.EventStreamResponse:
    """Stream live alarm events as server-sent events."""
    api = state.services.settings.api
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[TelemetryEvent] = asyncio.Queue(EVENT_BUFFER)

    def put(event: TelemetryEvent) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(event)

    def listener(event: TelemetryEvent) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
            loop.call_soon_threadsafe(put, event)

    live = state.services.live
    unsubscribe = live.subscribe(listener) if live is not None else None
    missed = _replay(state, last_event_id)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            for event in missed:
                yield sse.event("alarm", event_json(event), event.id)
            deadline = time.monotonic() + api.events_max_s
            while not state.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), min(api.heartbeat_s, left))
                except TimeoutError:
                    yield sse.comment("keep-alive")
                    continue
                yield sse.event("alarm", event_json(event), event.id)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    return sse.EventStreamResponse(stream())
