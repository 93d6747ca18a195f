"""Live telemetry: assets, an asset's current values and recent window, alarms and their
acknowledgements, and the ``/v1/events`` stream of alarm, anomaly and stale events
(server-sent events)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from assistant.api import sse
from assistant.api.auth import Operator, State
from assistant.api.errors import ApiError, ErrorBody, responses
from assistant.api.event_streams import EventBuffer
from assistant.api.routers.chat import SSE_EVENT_SCHEMA
from assistant.api.state import ApiState
from assistant.domain import TelemetryEvent
from assistant.plant import AssetSpec
from assistant.schema.telemetry import (
    AckList,
    AckOut,
    AlarmOut,
    AlarmsOut,
    AssetList,
    AssetOut,
    AssetSummary,
    EventOut,
    TagOut,
)
from assistant.telemetry.acks import MAX_NAME, AckError, UnknownAlarmError

router = APIRouter(tags=["telemetry"], responses=responses(400, 401, 403, 422, 500))

OK_STATES = ("normal", "no data")
MAX_LOOKUP = 500
"""The most event ids one ``/v1/alarms/acks`` request looks up."""


SEVERITY = ("normal", "no data", "stopped", "outside normal", "stale", "lo", "hi", "lolo", "hihi")


def _worst(states: list[str]) -> str:
    return max(states, key=lambda s: SEVERITY.index(s) if s in SEVERITY else 0, default="normal")


def _asset(state: ApiState, asset_id: str) -> AssetSpec:
    plant = state.services.plant
    spec = plant.asset(asset_id) if plant is not None else None
    if spec is None:
        raise ApiError(404, "unknown_asset", f"unknown asset {asset_id!r}; see GET /v1/assets")
    return spec


@router.get("/v1/assets", response_model=AssetList)
def assets(state: State, key: Operator) -> AssetList:
    """List the plant's assets with their worst current state."""
    plant = state.services.plant
    live = state.services.live
    if plant is None or live is None:
        return AssetList(site=None, assets=[])
    out = []
    for spec in plant.assets:
        statuses = live.store.asset_status(spec.id)
        out.append(
            AssetSummary(
                id=spec.id,
                name=spec.name,
                type=spec.type,
                location=spec.location,
                tags=[t.id for t in spec.tags],
                state=_worst([s.state for s in statuses]),
                active_events=len(live.store.active_events(spec.id)),
            )
        )
    return AssetList(site=plant.site, assets=out)


@router.get("/v1/assets/{asset_id}", response_model=AssetOut, responses=responses(404))
def asset(
    asset_id: str,
    state: State,
    key: Operator,
    window_s: float = Query(300.0, gt=0, le=86400, description="Seconds of recent samples"),
    max_points: int = Query(300, ge=0, le=10000, description="Most samples per tag"),
) -> AssetOut:
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
        tags.append(TagOut.from_domain(status, window))
    return AssetOut(
        id=spec.id,
        name=spec.name,
        type=spec.type,
        location=spec.location,
        running=live.store.running(spec.id),
        tags=tags,
        active_events=[EventOut.from_domain(e) for e in live.store.active_events(spec.id)],
    )


@router.get("/v1/alarms", response_model=AlarmsOut, responses=responses(404))
def alarms(
    state: State,
    key: Operator,
    asset: str | None = Query(None, min_length=1, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
) -> AlarmsOut:
    """Return the active alarms and the recent alarm history (newest first)."""
    live = state.services.live
    active: list[TelemetryEvent] = []
    if live is not None:
        if asset is not None:
            active = live.store.active_events(_asset(state, asset).id)
        else:
            active = live.store.active_events()
    history = state.services.alarm_history.recent(limit, asset)
    acks = state.services.alarm_acks.for_events([e.id for e in (*active, *history)])
    return AlarmsOut(
        active=[AlarmOut.with_ack(e, acks.get(e.id)) for e in reversed(active)],
        history=[AlarmOut.with_ack(e, acks.get(e.id)) for e in history],
    )


class AckRequest(BaseModel):
    """Who acknowledges (default: the API key's name)."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(
        None, max_length=MAX_NAME, pattern=r"\S", description="Default: the key's name"
    )


@router.post(
    "/v1/alarms/{event_id}/ack",
    response_model=AckOut,
    status_code=201,
    responses={
        200: {"model": AckOut, "description": "Already acknowledged: the first record"},
        **responses(404, 409),
    },
)
def acknowledge(
    event_id: Annotated[str, Path(max_length=200)],
    state: State,
    key: Operator,
    response: Response,
    body: Annotated[AckRequest | None, Body()] = None,
) -> AckOut:
    """Acknowledge a raised alarm event (recorded with who, when and the key); idempotent."""
    by = body.by if body is not None and body.by is not None else key.name
    try:
        result = state.services.alarm_acks.acknowledge(
            event_id, by, via="api", key_id=key.id, key_name=key.name
        )
    except UnknownAlarmError as exc:
        raise ApiError(404, "unknown_alarm", str(exc)) from exc
    except AckError as exc:
        raise ApiError(409, "not_acknowledgeable", str(exc)) from exc
    if not result.created:
        response.status_code = 200
    return AckOut.from_domain(result.ack)


@router.get("/v1/alarms/acks", response_model=AckList)
def acknowledgements(
    state: State,
    key: Operator,
    event_ids: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_LOOKUP * 16,
            description=f"Comma-separated event ids, at most {MAX_LOOKUP}",
        ),
    ],
) -> AckList:
    """Return the acknowledgements of those of these events that are acknowledged."""
    ids = list(dict.fromkeys(i.strip() for i in event_ids.split(",") if i.strip()))
    if len(ids) > MAX_LOOKUP:
        raise ApiError(
            422, "invalid_request", f"{len(ids)} event ids asked for; at most {MAX_LOOKUP}"
        )
    acks = state.services.alarm_acks.for_events(ids)
    return AckList(acks=[AckOut.from_domain(acks[i]) for i in ids if i in acks])


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
        },
        429: {
            "model": ErrorBody,
            "description": "The key (api.events_per_key) or the server (api.events_total) has "
            "as many event streams open as allowed; retry after Retry-After seconds",
        },
    },
)
async def events(
    state: State,
    key: Operator,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
) -> sse.EventStreamResponse:
    """Stream live alarm events as server-sent events."""
    api = state.services.settings.api
    slot = state.streams.open(key.id)
    buffer = EventBuffer(
        asyncio.get_running_loop(), api.events_queue, state.metrics.events_dropped.inc
    )
    live = state.services.live

    async def stream() -> AsyncIterator[str]:
        # Subscribed here, not in the handler: a stream that never starts holds no listener.
        unsubscribe = live.subscribe(buffer.put) if live is not None else None
        try:
            missed = _replay(state, last_event_id)  # after subscribing: no gap between the two
            yield "retry: 2000\n\n"
            for event in missed:
                yield sse.event("alarm", EventOut.from_domain(event), event.id)
            deadline = time.monotonic() + api.events_max_s
            while not state.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    event = await asyncio.wait_for(buffer.get(), min(api.heartbeat_s, left))
                except TimeoutError:
                    yield sse.comment("keep-alive")
                    continue
                yield sse.event("alarm", EventOut.from_domain(event), event.id)
        finally:
            if unsubscribe is not None:
                unsubscribe()
            slot.release()

    return sse.EventStreamResponse(stream(), on_close=slot.release)
