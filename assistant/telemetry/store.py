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

Persistence (``persistence.py``): with a reading log attached (:meth:`attach_log`), every
batch is appended to the log before it is taken in, so the connector's acknowledgement follows
durability; :meth:`export_state` captures the whole state for a snapshot and :meth:`import_state`
and :meth:`replay` rebuild it at start-up. :meth:`reconcile` then settles the alarms the
journal still shows as raised: one the restored state still has is kept (same event id); one
it does not have is decided on the tag's first new reading (kept if the value still meets
the limit, else cleared with the reason) or, if the tag stays silent, at its stale timeout.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import numpy as np

from assistant.domain import Reading, TelemetryEvent
from assistant.errors import TelemetryError
from assistant.plant import AssetSpec, Limits, PlantSpec, TagSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.alarms import LimitAlarm, new_event_id, with_unit
from assistant.telemetry.anomaly import AnomalyDetector
from assistant.telemetry.buffer import RingBuffer
from assistant.telemetry.reading_log import ROW, ReadingLog, Rows
from assistant.telemetry.snapshot import DetectorState, SavedTag, StoreState
from assistant.telemetry.stats import Trend, WindowStats, trend, window_stats

log = logging.getLogger(__name__)
T = TypeVar("T")

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

    __slots__ = (
        "alarm",
        "asset",
        "buffer",
        "index",
        "last_arrival",
        "pending",
        "spec",
        "stale",
        "stale_after",
    )

    def __init__(self, index: int, asset: str, spec: TagSpec, settings: TelemetrySettings) -> None:
        self.index = index
        self.asset = asset
        self.spec = spec
        self.buffer = RingBuffer(settings.max_points_per_tag, settings.retention_s)
        self.alarm = LimitAlarm(asset, spec)
        self.stale_after = settings.stale_periods * spec.period_s
        self.last_arrival: float | None = None
        self.stale: TelemetryEvent | None = None
        self.pending: list[TelemetryEvent] = []
        """Events raised before a restart, to settle on the first new reading (reconcile)."""


def event_key(event: TelemetryEvent) -> EventKey:
    """Return what identifies an alarm across its raised and cleared events."""
    return (event.asset, event.tag, event.kind, event.level)


def _after_restart(
    event: TelemetryEvent, ts: float, value: float | None, why: str
) -> TelemetryEvent:
    """Return the event clearing ``event`` (raised before a restart) with the reason."""
    what = {"limit": f"{event.level} alarm", "stale": "no-data alarm"}.get(event.kind, event.kind)
    subject = f"{event.asset} {event.tag}" if event.tag else event.asset
    return replace(
        event,
        id=new_event_id(),
        state="cleared",
        ts=ts,
        value=value,
        values=((event.tag, value),) if event.tag and value is not None else (),
        message=f"{subject} {what} cleared after restart: {why}",
    )


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
        # Held from a batch's log append to its ingestion, and by export_state, so a snapshot
        # never falls between the two (the log is rotated at the snapshot).
        self._ingest_lock = threading.Lock()
        self._log: ReadingLog | None = None
        self._restored_at: float | None = None
        self._pending = 0
        """Tags with events pending since the restart (see reconcile)."""
        self._assets: dict[str, AssetSpec] = {a.id.upper(): a for a in plant.assets}
        self._tags: dict[tuple[str, str], _Tag] = {
            (asset.id, tag.id): _Tag(index, asset.id, tag, settings)
            for index, (asset, tag) in enumerate(
                (asset, tag) for asset in plant.assets for tag in asset.tags
            )
        }
        self.keys: list[tuple[str, str]] = list(self._tags)
        """Every tag as (asset, tag), in the order reading logs number them."""
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
        self.add_many([reading])

    def add_many(self, readings: Iterable[Reading]) -> None:
        """Store readings in order, taking the lock once per batch of a few hundred.

        With a reading log attached, the readings are in the log when this returns (an
        OSError from the log passes up, and nothing of the call is taken in).
        """
        if self._log is None:
            self._add_batches(readings)
            return
        readings = list(readings)
        with self._ingest_lock:
            log_ = self._log
            if log_ is not None:
                log_.append(self._rows(readings))
            events = self._ingest_batches(readings)
        if events:
            self._emit(events)

    def _add_batches(self, readings: Iterable[Reading]) -> None:
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

    def _ingest_batches(self, readings: list[Reading]) -> list[TelemetryEvent]:
        events: list[TelemetryEvent] = []
        for start in range(0, len(readings), BATCH):
            with self._lock:
                for reading in readings[start : start + BATCH]:
                    events.extend(self._ingest(reading))
        return events

    def _rows(self, readings: list[Reading]) -> Rows:
        """Return the log rows of the readings the store knows (finite values only)."""
        rows = [
            (state.index, reading.ts, float(reading.value))
            for reading in readings
            if (state := self._resolve(reading)) is not None
            and math.isfinite(reading.value)
            and math.isfinite(reading.ts)
        ]
        return np.array(rows, dtype=ROW)

    def _resolve(self, reading: Reading) -> _Tag | None:
        state = self._tags.get((reading.asset, reading.tag))
        if state is None:
            asset = self._assets.get(reading.asset.upper())
            state = self._tags.get((asset.id, reading.tag)) if asset else None
        return state

    def _ingest(self, reading: Reading) -> list[TelemetryEvent]:
        """Apply one reading; the caller holds the lock."""
        state = self._resolve(reading)
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
        if state.pending:
            events.extend(self._settle(state, value, reading.ts, watched))
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
                if state.pending and now - (self._restored_at or now) > state.stale_after:
                    settled = self._settle_silent(state, now)
                    events.extend(settled)
                    for event in settled:
                        self._track(event)
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
        key = event_key(event)
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

    # ---- persistence -----------------------------------------------------------------------

    def attach_log(self, log_: ReadingLog | None) -> None:
        """Append every batch to this reading log before taking it in (None: stop logging)."""
        with self._ingest_lock:
            self._log = log_

    def export_state(self, then: Callable[[], T]) -> tuple[StoreState, T]:
        """Capture the whole state for a snapshot, call ``then`` (log rotation) before
        ingestion resumes, and return both. Only copies are made under the lock."""
        with self._ingest_lock, self._lock:
            tags = []
            for (asset, tag), state in self._tags.items():
                ts, values = state.buffer.samples()
                tags.append(
                    SavedTag(
                        asset=asset,
                        tag=tag,
                        ts=ts,
                        values=values,
                        last_arrival=state.last_arrival,
                        alarm=sorted(state.alarm.active),
                        stale=state.stale,
                    )
                )
            detectors = {
                asset: DetectorState(*detector.export())
                for asset, detector in self._detectors.items()
            }
            captured = StoreState(
                saved_at=self._clock(),
                tags=tags,
                running=dict(self._running),
                active=list(self._active.values()),
                counters=dict(self._counters),
                detectors=detectors,
            )
            result = then()
        return captured, result

    def import_state(self, saved: StoreState) -> int:
        """Continue from a snapshot's state; return the samples restored.

        Tags and assets no longer in the plant file are skipped; a detector saved for other
        tags starts learning again. Every restored tag's arrival clock restarts now, so a tag
        turns stale only if it stays silent for its stale timeout after the restart. A
        ValueError (samples out of order) leaves the store as it was.
        """
        now = self._clock()
        buffers: dict[tuple[str, str], RingBuffer] = {}
        for tag in saved.tags:
            state = self._tags.get((tag.asset, tag.tag))
            if state is None:
                continue
            buffer = RingBuffer(state.buffer.capacity, state.buffer.retention_s)
            buffer.load(tag.ts, tag.values)
            buffers[(tag.asset, tag.tag)] = buffer
        raised = {event_key(e): e for e in saved.active}
        detectors: dict[str, AnomalyDetector] = {}
        for asset, detector_state in saved.detectors.items():
            spec = self._assets.get(asset.upper())
            if spec is None or asset not in self._detectors:
                continue
            detector = AnomalyDetector(spec, self.settings)
            try:
                detector.load(
                    detector_state.scalars,
                    detector_state.arrays,
                    raised.get((asset, "", "anomaly", "anomaly")),
                )
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("anomaly detector of %s starts learning again: %s", asset, exc)
                continue
            detectors[asset] = detector
        with self._lock:
            for tag in saved.tags:
                key = (tag.asset, tag.tag)
                state = self._tags.get(key)
                if state is None:
                    continue
                state.buffer = buffers[key]
                state.last_arrival = now if tag.last_arrival is not None else None
                state.alarm.active = {level for level in tag.alarm if level in LIMIT_STATES}
                state.stale = tag.stale
            self._detectors.update(detectors)
            self._running.update({a: r for a, r in saved.running.items() if a in self._assets})
            self._active = {}
            for event_id_key, event in raised.items():
                if self._still_raised(event):
                    self._active[event_id_key] = event
        return sum(len(buffer) for buffer in buffers.values())

    def _still_raised(self, event: TelemetryEvent) -> bool:
        """Return whether the restored state holds an event as raised; caller holds the lock."""
        if event.kind == "anomaly":
            detector = self._detectors.get(event.asset)
            return detector is not None and getattr(detector.active, "id", None) == event.id
        state = self._tags.get((event.asset, event.tag))
        if state is None:
            return False
        if event.kind == "stale":
            return state.stale is not None and state.stale.id == event.id
        return event.level in state.alarm.active

    def replay(self, keys: Sequence[tuple[str, str]], rows: Rows) -> int:
        """Take in readings from a reading log without emitting events; return those accepted.

        Events are not emitted because they were emitted (and recorded) when the readings
        first arrived; the counters are left as they were.
        """
        with self._lock:
            counters = dict(self._counters)
            before = counters["accepted"]
            tags = rows["tag"].tolist()
            stamps = rows["ts"].tolist()
            values = rows["value"].tolist()
            for index, ts, value in zip(tags, stamps, values, strict=True):
                asset, tag = keys[index]
                self._ingest(Reading(asset, tag, value, ts))
            accepted = self._counters["accepted"] - before
            self._counters = counters
        return accepted

    def reconcile(self, open_events: Iterable[TelemetryEvent]) -> list[TelemetryEvent]:
        """Settle the events the journal shows as raised with the restored state.

        Still raised here: kept under the journal's event (same id). Otherwise a limit or
        stale event waits for its tag's first reading or stale timeout; an anomaly, or an
        event of a tag no longer in the plant file, is cleared now with the reason. Events
        raised here but missing from the journal (a crash before they were recorded) are
        emitted. Return the events emitted now.
        """
        now = self._clock()
        journal = {event_key(e): e for e in open_events}
        emitted: list[TelemetryEvent] = []
        with self._lock:
            self._restored_at = now
            for key, event in journal.items():
                state = self._tags.get((event.asset, event.tag))
                if key in self._active:
                    self._adopt(event)
                elif event.kind in ("limit", "stale") and state is not None:
                    if not state.pending:
                        self._pending += 1
                    state.pending.append(event)
                else:
                    emitted.append(_after_restart(event, now, None, self._gone(event)))
            emitted.extend(e for key, e in self._active.items() if key not in journal)
        if emitted:
            self._emit(emitted)
        return emitted

    def _gone(self, event: TelemetryEvent) -> str:
        """Return why the restored state no longer raises an event; caller holds the lock."""
        if event.kind != "anomaly" or event.asset not in self._detectors:
            return "no longer in the plant file or no longer monitored"
        if self._detectors[event.asset].phase == "learning":
            return "the anomaly detector is learning again"
        return "the restored anomaly detector no longer finds it"

    def _adopt(self, event: TelemetryEvent) -> None:
        """Make the journal's event the raised one of its alarm; the caller holds the lock."""
        self._active[event_key(event)] = event
        if event.kind == "anomaly":
            detector = self._detectors.get(event.asset)
            if detector is not None:
                detector.active = event
        elif event.kind == "stale":
            state = self._tags.get((event.asset, event.tag))
            if state is not None:
                state.stale = event

    def _settle(self, state: _Tag, value: float, ts: float, watched: bool) -> list[TelemetryEvent]:
        """Decide the tag's events pending since the restart on its first reading."""
        shown = with_unit(value, state.spec.unit)
        cleared: list[TelemetryEvent] = []
        for event in state.pending:
            if event.kind == "stale":
                why = f"data back, {shown}"
            elif not watched:
                why = f"{state.asset} stopped"
            elif state.alarm.adopt(event.level, value):
                self._active[event_key(event)] = event
                continue
            else:
                why = f"value back within limits, {shown}"
            cleared.append(_after_restart(event, ts, value, why))
        state.pending = []
        self._pending -= 1
        return cleared

    def _settle_silent(self, state: _Tag, now: float) -> list[TelemetryEvent]:
        """Decide the pending events of a tag silent for its stale timeout since the restart."""
        cleared: list[TelemetryEvent] = []
        for event in state.pending:
            if event.kind == "stale":
                self._adopt(event)  # still no data: it stays raised
            else:
                cleared.append(_after_restart(event, now, None, "no data since the restart"))
        state.pending = []
        self._pending -= 1
        return cleared

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
        """Return the limit, stale and anomaly events currently raised, oldest first.

        Events raised before a restart and not yet decided (see :meth:`reconcile`) count as
        raised until their tag's first reading, so an alarm does not blink off at start-up.
        """
        wanted = self._asset(asset).id if asset is not None else None
        with self._lock:
            events = [e for e in self._active.values() if wanted is None or e.asset == wanted]
            if self._pending:
                events += [
                    e
                    for state in self._tags.values()
                    for e in state.pending
                    if wanted is None or e.asset == wanted
                ]
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
