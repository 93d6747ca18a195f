"""Live telemetry on the wire: tag status lines, assets, and alarm, anomaly and stale events.

``telemetry --json`` prints ``TagLine`` rows and ``monitor``/``alarms --json`` print
``EventOut``; the API's asset and alarm routes and its ``/v1/events`` stream send the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

from pydantic import Field, field_serializer

from assistant.domain import EventKind, EventState, TelemetryEvent
from assistant.schema.base import WireModel

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
    """Alarms raised now, and the recent history (newest first)."""

    active: list[EventOut]
    history: list[EventOut]
