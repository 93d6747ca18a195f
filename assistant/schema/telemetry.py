"""Live telemetry on the wire: tag status lines, assets, and alarm, anomaly and stale events.

``telemetry --json`` prints ``TagLine`` rows and ``monitor --json`` prints ``EventOut``; the
API's asset routes and its ``/v1/events`` stream send the same. The alarm listings
(``alarms list --json``, ``GET /v1/alarms``) send ``AlarmOut``: the event with its ``AckOut``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

from pydantic import Field, field_serializer

from assistant.domain import EventKind, EventState, TelemetryEvent
from assistant.schema.base import WireModel
from assistant.telemetry.acks import AlarmAck, Via

if TYPE_CHECKING:
    from assistant.telemetry.store import TagStatus


class EventOut(WireModel):
    """An alarm, anomaly or stale event, raised or cleared, with the values behind it."""

    id: str
    asset: str
    tag: str = Field(description="Empty for an asset-level (anomaly) event")
    kind: EventKind
    level: str = Field(description="lolo, lo, hi or hihi for a limit alarm; else the kind")
    state: EventState
    ts: float
    value: float | None
    message: str
    values: dict[str, float] = Field(description="The values that caused the event, by tag")
    tags: list[str] = Field(description="The tags behind the event (its own tag at least)")

    @classmethod
    def from_domain(cls, event: TelemetryEvent) -> Self:
        """Return an event as it is sent."""
        return cls(
            id=event.id,
            asset=event.asset,
            tag=event.tag,
            kind=event.kind,
            level=event.level,
            state=event.state,
            ts=event.ts,
            value=event.value,
            message=event.message,
            values=dict(event.values),
            tags=[tag for tag, _ in event.values] or [event.tag],
        )

    def to_domain(self) -> TelemetryEvent:
        """Return the event this was sent from."""
        return TelemetryEvent(
            id=self.id,
            asset=self.asset,
            tag=self.tag,
            kind=self.kind,
            level=self.level,
            state=self.state,
            ts=self.ts,
            value=self.value,
            message=self.message,
            values=tuple(self.values.items()),
        )


class AckOut(WireModel):
    """Who acknowledged a raised event, when, and through what (with the API key, if any)."""

    event_id: str
    by: str
    at: str = Field(description="UTC, ISO 8601, to the second")
    via: Via = Field(description="Where it was acknowledged: tui, cli or api")
    key_id: str | None = Field(description="The API key it came with (via api), else null")
    key_name: str | None

    @classmethod
    def from_domain(cls, ack: AlarmAck) -> Self:
        """Return an acknowledgement as it is sent."""
        return cls(
            event_id=ack.event_id,
            by=ack.by,
            at=ack.at,
            via=ack.via,
            key_id=ack.key_id,
            key_name=ack.key_name,
        )

    def to_domain(self) -> AlarmAck:
        """Return the acknowledgement this was sent from."""
        return AlarmAck(
            event_id=self.event_id,
            by=self.by,
            at=self.at,
            via=self.via,
            key_id=self.key_id,
            key_name=self.key_name,
        )


class AckList(WireModel):
    """The acknowledgements of those of the asked events that are acknowledged."""

    acks: list[AckOut]


class AlarmOut(EventOut):
    """An event as the alarm listings show it: with its acknowledgement, or null."""

    ack: AckOut | None = Field(description="Who acknowledged it and when; null if nobody yet")

    @classmethod
    def with_ack(cls, event: TelemetryEvent, ack: AlarmAck | None) -> Self:
        """Return an event with its acknowledgement as it is listed."""
        fields = EventOut.from_domain(event).model_dump()
        return cls(**fields, ack=None if ack is None else AckOut.from_domain(ack))


class TagStatusOut(WireModel):
    """One tag's current value, its age, state and trend, and its normal range."""

    asset: str
    tag: str
    value: float | None
    unit: str
    ts: float | None
    age_s: float | None = Field(description="Seconds since the last sample")
    state: str
    trend: str
    normal: list[float] | None = Field(description="[low, high] of the normal range")

    @classmethod
    def from_domain(cls, status: TagStatus) -> Self:
        """Return a tag's status as it is sent."""
        return cls.model_validate(_status_fields(status))


def _status_fields(status: TagStatus) -> dict[str, object]:
    return {
        "asset": status.asset,
        "tag": status.tag,
        "value": status.value,
        "unit": status.unit,
        "ts": status.ts,
        "age_s": status.age_s,
        "state": status.state,
        "trend": status.trend,
        "normal": list(status.normal) if status.normal else None,
    }


class TagLine(TagStatusOut):
    """A row of ``telemetry --json``: a tag's status, its age to a tenth of a second."""

    @field_serializer("age_s")
    def _tenths(self, age_s: float | None) -> float | None:
        return None if age_s is None else round(age_s, 1)


class TagOut(TagStatusOut):
    """One tag of an asset: its status, declared name and limits, window statistics and the
    recent samples as [ts, value] pairs."""

    name: str
    limits: dict[str, float | None]
    stats: dict[str, float] | None
    window: list[list[float]]

    @classmethod
    def from_domain(cls, status: TagStatus, window: Sequence[tuple[float, float]] = ()) -> Self:
        """Return a tag's status with these recent samples as it is sent."""
        stats = status.stats
        return cls.model_validate(
            {
                **_status_fields(status),
                "name": status.name,
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
        )


class AssetSummary(WireModel):
    """An asset as listed, with its worst tag state and its active alarms."""

    id: str
    name: str
    type: str
    location: str
    tags: list[str]
    state: str
    active_events: int


class AssetList(WireModel):
    """The plant's assets (empty without a plant file)."""

    site: str | None
    assets: list[AssetSummary]


class AssetOut(WireModel):
    """One asset with every tag's current value and recent window."""

    id: str
    name: str
    type: str
    location: str
    running: bool | None
    tags: list[TagOut]
    active_events: list[EventOut]


class AlarmsOut(WireModel):
    """Alarms raised now, and the recent history (newest first), each with its ack or null."""

    active: list[AlarmOut]
    history: list[AlarmOut]
