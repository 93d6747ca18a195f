"""The telemetry store: every tag's ring buffer, limit alarms, staleness and per-asset anomaly
detection behind one lock.

Readings arrive from the connector's thread (``add``/``add_many``); the API, the TUI and the
chat read from theirs (``status``, ``window``, ``active_events``). Everything shared sits
behind a single ``threading.Lock``; the events a call produces are handed to ``on_event``
after the lock is released (serialised by a second lock so the sink sees them in order), so a
slow sink cannot stall ingestion, and an exception from the sink is logged and counted, never
propagated into the connector.

Staleness is judged on arrival time (``clock()`` when a reading was added), not on the
reading's own timestamp, so a publisher whose clock is off does not look dead and a replay of
old data does not look stale. A tag raises one ``stale`` event when nothing arrived for
``stale_periods`` x ``period_s`` and clears it when data returns; a tag that never reported is
in state ``no data`` and raises nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from assistant.domain import Reading, TelemetryEvent
from assistant.errors import TelemetryError
from assistant.plant import AssetSpec, Limits, PlantSpec, TagSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.alarms import LimitAlarm, new_event_id, with_unit
from assistant.telemetry.anomaly import AnomalyDetector
from assistant.telemetry.buffer import RingBuffer
from assistant.telemetry.stats import Trend, WindowStats, trend, window_stats

log = logging.getLogger(__name__)

TagState = Literal[
    "normal", "outside normal", "lo", "hi", "lolo", "hihi", "stale", "no data", "stopped"
]
EventKey = tuple[str, str, str, str]
LIMIT_STATES: dict[str, TagState] = {"lolo": "lolo", "lo": "lo", "hi": "hi", "hihi": "hihi"}
BATCH = 512
"""Readings ingested per lock acquisition in ``add_many``."""

COUNTERS = (
    "accepted",
    "unknown",
    "out_of_order",
    "duplicate",
    "non_finite",
    "events",
    "sink_errors",
)


@dataclass(frozen=True, slots=True)
class TagStatus:
    """What is known about one tag right now: value, age, state, ranges and recent trend."""

    asset: str
    tag: str
    name: str
    unit: str
    value: float | None
    ts: float | None
    age_s: float | None
    state: TagState
    normal: tuple[float, float] | None
    limits: Limits
    stats: WindowStats | None
    trend: Trend


class _Tag:
    """The mutable state of one tag (only touched under the store's lock)."""

    __slots__ = ("alarm", "asset", "buffer", "last_arrival", "spec", "stale", "stale_after")

    def __init__(self, asset: str, spec: TagSpec, settings: TelemetrySettings) -> None:
        self.asset = asset
        self.spec = spec
        self.buffer = RingBuffer(settings.max_points_per_tag, settings.retention_s)
        self.alarm = LimitAlarm(asset, spec)
        self.stale_after = settings.stale_periods * spec.period_s
        self.last_arrival: float | None = None
        self.stale: TelemetryEvent | None = None


class TelemetryStore:
    """Thread-safe home of the plant's live telemetry and of the events it raises."""

    def __init__(
        self,
        plant: PlantSpec,
        settings: TelemetrySettings,
        on_event: Callable[[TelemetryEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plant = plant
        self.settings = settings
        self._on_event = on_event
        self._clock = clock
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._assets: dict[str, AssetSpec] = {a.id.upper(): a for a in plant.assets}
        self._tags: dict[tuple[str, str], _Tag] = {
            (asset.id, tag.id): _Tag(asset.id, tag, settings)
            for asset in plant.assets
            for tag in asset.tags
        }
        self._detectors: dict[str, AnomalyDetector] = (
            {asset.id: AnomalyDetector(asset, settings) for asset in plant.assets}
            if settings.anomaly
            else {}
        )
        self._active: dict[EventKey, TelemetryEvent] = {}
        self._running: dict[str, bool] = {}
        self._counters = dict.fromkeys(COUNTERS, 0)

    # ---- ingestion -------------------------------------------------------------------------

    def add(self, reading: Reading) -> None:
        """Store one reading, update its alarms and its asset's detector, emit any events."""
        with self._lock:
            events = self._ingest(reading)
        if events:
            self._emit(events)

    def add_many(self, readings: Iterable[Reading]) -> None:
        """Store readings in order, taking the lock once per batch of a few hundred."""
        batch: list[Reading] = []
        for reading in readings:
            batch.append(reading)
            if len(batch) >= BATCH:
                self._add_batch(batch)
                batch = []
        if batch:
            self._add_batch(batch)

    def _add_batch(self, batch: list[Reading]) -> None:
        events: list[TelemetryEvent] = []
        with self._lock:
            for reading in batch:
                events.extend(self._ingest(reading))
        if events:
            self._emit(events)

    def _ingest(self, reading: Reading) -> list[TelemetryEvent]:
        """Apply one reading; the caller holds the lock."""
        state = self._tags.get((reading.asset, reading.tag))
        if state is None:
            asset = self._assets.get(reading.asset.upper())
            state = self._tags.get((asset.id, reading.tag)) if asset else None
            if state is None:
                self._counters["unknown"] += 1
                return []
        value = float(reading.value)
        if not math.isfinite(value) or not math.isfinite(reading.ts):
            self._counters["non_finite"] += 1
            return []
        buffer = state.buffer
        before = buffer.duplicates
        if not buffer.append(reading.ts, value):
            key = "duplicate" if buffer.duplicates != before else "out_of_order"
            self._counters[key] += 1
            return []
        self._counters["accepted"] += 1
        arrival = self._clock()
        events: list[TelemetryEvent] = []
        if state.stale is not None:
            gap = arrival - (state.last_arrival or arrival)
            events.append(self._stale_event(state, "cleared", arrival, value, gap))
            state.stale = None
        state.last_arrival = arrival
        events.extend(self._update_running(state, value, reading.ts))
        watched = self._watched(state.asset)
        if watched:
            events.extend(state.alarm.update(value, reading.ts))
        detector = self._detectors.get(state.asset) if watched else None
        if detector is not None:
            anomaly = detector.observe(state.spec.id, value, reading.ts)
            if anomaly is not None:
                events.append(anomaly)
        for event in events:
            self._track(event)
        return events

    def _watched(self, asset: str) -> bool:
        """Return whether alarms and anomaly detection apply (while running, if it can stop)."""
        if self._assets[asset.upper()].running_when is None:
            return True
        return self._running.get(asset) is True

    def _update_running(self, state: _Tag, value: float, ts: float) -> list[TelemetryEvent]:
        """Track whether the asset runs; on stopping, clear its limit alarms (suppressed)."""
        condition = self._assets[state.asset.upper()].running_when
        if condition is None or condition.tag != state.spec.id:
            return []
        running = value > condition.above
        was = self._running.get(state.asset)
        self._running[state.asset] = running
        if running or was is False:
            return []
        cleared: list[TelemetryEvent] = []
        for (asset, _tag), tag_state in self._tags.items():
            if asset != state.asset:
                continue
            for event in tag_state.alarm.suppress(ts):
                cleared.append(event)
        return cleared

    def running(self, asset: str) -> bool | None:
        """Return whether an asset runs (None when it has no running condition or no data)."""
        spec = self._assets.get(asset.upper())
        if spec is None or spec.running_when is None:
            return None
        with self._lock:
            return self._running.get(spec.id)

    def check_stale(self, now: float | None = None) -> list[TelemetryEvent]:
        """Raise a stale event for each tag silent too long; return the events raised."""
        now = self._clock() if now is None else now
        events: list[TelemetryEvent] = []
        with self._lock:
            for state in self._tags.values():
                state.buffer.prune(now)
                if state.stale is not None or state.last_arrival is None:
                    continue
                silent = now - state.last_arrival
                if silent > state.stale_after:
                    last = state.buffer.last()
                    value = last[1] if last else None
                    state.stale = self._stale_event(state, "raised", now, value, silent)
                    events.append(state.stale)
                    self._track(state.stale)
        if events:
            self._emit(events)
        return events

    def _stale_event(
        self,
        state: _Tag,
        kind: Literal["raised", "cleared"],
        ts: float,
        value: float | None,
        silent: float,
    ) -> TelemetryEvent:
        spec = state.spec
        if kind == "raised":
            last = f"; last value {with_unit(value, spec.unit)}" if value is not None else ""
            message = (
                f"{state.asset} {spec.id}: no data for {silent:.0f} s "
                f"(expected every {spec.period_s:g} s){last}"
            )
        else:
            shown = with_unit(value, spec.unit) if value is not None else "no value"
            message = f"{state.asset} {spec.id}: data back after {silent:.0f} s, {shown}"
        return TelemetryEvent(
            id=new_event_id(),
            asset=state.asset,
            tag=spec.id,
            kind="stale",
            level="stale",
            state=kind,
            ts=ts,
            value=value,
            message=message,
            values=((spec.id, value),) if value is not None else (),
        )

    def _track(self, event: TelemetryEvent) -> None:
        """Keep the set of currently raised events up to date; the caller holds the lock."""
        key = (event.asset, event.tag, event.kind, event.level)
        if event.state == "raised":
            self._active[key] = event
        else:
            self._active.pop(key, None)

    def _emit(self, events: list[TelemetryEvent]) -> None:
        """Hand events to the sink outside the data lock; log and count what it raises."""
        failures = 0
        with self._emit_lock:
            for event in events:
                if self._on_event is None:
                    continue
                try:
                    self._on_event(event)
                except Exception:
                    failures += 1
                    log.exception("telemetry event sink failed on event %s", event.id)
        with self._lock:
            self._counters["events"] += len(events)
            self._counters["sink_errors"] += failures

    # ---- queries ---------------------------------------------------------------------------

    def status(self, asset: str, tag: str, now: float | None = None) -> TagStatus:
        """Return the status of one tag; raise TelemetryError for an unknown asset or tag."""
        now = self._clock() if now is None else now
        with self._lock:
            return self._status(self._lookup(asset, tag), now)

    def asset_status(self, asset: str, now: float | None = None) -> list[TagStatus]:
        """Return the status of every tag of an asset, in plant-file order."""
        now = self._clock() if now is None else now
        spec = self._asset(asset)
        with self._lock:
            return [self._status(self._tags[(spec.id, tag.id)], now) for tag in spec.tags]

    def window(
        self, asset: str, tag: str, seconds: float, now: float | None = None
    ) -> list[tuple[float, float]]:
        """Return the (ts, value) samples of a tag from ``now - seconds`` to ``now``."""
        now = self._clock() if now is None else now
        with self._lock:
            ts, values = self._lookup(asset, tag).buffer.window(now - seconds, now)
        return list(zip(ts.tolist(), values.tolist(), strict=True))

    def active_events(self, asset: str | None = None) -> list[TelemetryEvent]:
        """Return the limit, stale and anomaly events currently raised, oldest first."""
        wanted = self._asset(asset).id if asset is not None else None
        with self._lock:
            events = [e for e in self._active.values() if wanted is None or e.asset == wanted]
        return sorted(events, key=lambda e: e.ts)

    def counters(self) -> dict[str, int]:
        """Return ingestion counters: accepted, unknown, out_of_order, duplicate, ..."""
        with self._lock:
            return dict(self._counters)

    def memory_bytes(self) -> int:
        """Return the approximate bytes held by the sample buffers."""
        with self._lock:
            return sum(state.buffer.nbytes for state in self._tags.values())

    def _asset(self, asset: str) -> AssetSpec:
        spec = self._assets.get(asset.upper())
        if spec is None:
            raise TelemetryError(f"unknown asset '{asset}' (not in the plant file)")
        return spec

    def _lookup(self, asset: str, tag: str) -> _Tag:
        spec = self._asset(asset)
        state = self._tags.get((spec.id, tag))
        if state is None:
            known = ", ".join(t.id for t in spec.tags)
            raise TelemetryError(f"asset {spec.id} has no tag '{tag}' (it has: {known})")
        return state

    def _status(self, state: _Tag, now: float) -> TagStatus:
        """Build a tag's status; the caller holds the lock."""
        spec = state.spec
        last = state.buffer.last()
        ts_values = state.buffer.window(now - self.settings.trend_window_s, now)
        stats = window_stats(*ts_values)
        value = ts = age = None
        if last is not None:
            ts, value = last
            age = max(0.0, now - ts)
        return TagStatus(
            asset=state.asset,
            tag=spec.id,
            name=spec.name or spec.id,
            unit=spec.unit,
            value=value,
            ts=ts,
            age_s=age,
            state=self._state(state, value, now, self._running.get(state.asset) is not False),
            normal=spec.normal,
            limits=spec.limits,
            stats=stats,
            trend=trend(stats, spec),
        )

    @staticmethod
    def _state(state: _Tag, value: float | None, now: float, running: bool) -> TagState:
        if value is None:
            return "no data"
        if state.stale is not None or (
            state.last_arrival is not None and now - state.last_arrival > state.stale_after
        ):
            return "stale"
        if not running:
            return "stopped"
        worst = state.alarm.worst
        if worst is not None:
            return LIMIT_STATES[worst]
        normal = state.spec.normal
        if normal is not None and not normal[0] <= value <= normal[1]:
            return "outside normal"
        return "normal"
