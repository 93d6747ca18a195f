"""What the terminal UI needs from Shiftmate, in-process or over the HTTP API.

Every method blocks (the model, the journal, the network): the app calls them from worker
threads only, never from the event loop. ``LocalBackend`` wraps the services built in this
process; ``HttpBackend`` (in ``tui.http``) is a client of a running ``shiftmate serve``. Both
return the same plain, frozen view types below or Shiftmate's own domain types, so the widgets
never know which one they talk to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.domain import Answer, TelemetryEvent
from assistant.services import Services
from assistant.telemetry.acks import AlarmAck
from assistant.workorders.model import WorkOrder

TokenSink = Callable[[str], None]
EventListener = Callable[[TelemetryEvent], None]
SPARK_POINTS = 40
"""Samples kept for the sparkline of each tag (the tag's recent window, downsampled)."""
SPARK_WINDOW_S = 120.0
TREND_WINDOW_S = 600.0


@dataclass(frozen=True, slots=True)
class TagView:
    """One tag as the plant panel shows it: live value, state and its recent values."""

    asset: str
    tag: str
    name: str
    unit: str
    value: float | None
    ts: float | None
    age_s: float | None
    state: str
    trend: str
    normal: tuple[float, float] | None
    spark: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class AssetView:
    """One asset with its tags, in plant-file order."""

    id: str
    name: str
    type: str
    location: str
    tags: tuple[TagView, ...]


@dataclass(frozen=True, slots=True)
class StatusView:
    """What the status bar shows: model, broker, alarms, sync backlog, offline state."""

    mode: str
    model: str
    model_busy: bool
    broker: str
    broker_ok: bool
    broker_error: str | None
    alarms: int
    documents: int | None
    stale_tags: int
    sync_backlog: int | None = None
    sync_state: str | None = None
    offline: bool = False
    """The cloud uplink is off (``sync.offline`` or none configured); records queue."""
    reachable: bool = True
    """Client mode: the server answered the last status request."""


@dataclass(frozen=True, slots=True)
class ExportView:
    """Where an exported work order went."""

    order: WorkOrder
    json_path: str
    csv_path: str
    mqtt_topic: str | None


class Backend(Protocol):
    """The operations behind every screen of the terminal UI (all blocking)."""

    mode: str

    def status(self) -> StatusView:
        """Return the state of the model, broker, alarms and sync backlog."""
        ...

    def assets(self) -> list[AssetView]:
        """Return every asset with its tags' live values and sparklines."""
        ...

    def tag_window(self, asset: str, tag: str, seconds: float) -> list[tuple[float, float]]:
        """Return the (ts, value) samples of one tag over the last seconds."""
        ...

    def alarms(self) -> list[TelemetryEvent]:
        """Return the alarm, stale and anomaly events currently raised, oldest first."""
        ...

    def alarm_history(self, limit: int = 50) -> list[TelemetryEvent]:
        """Return recent alarm events (raised and cleared), newest first."""
        ...

    def acks(self, event_ids: Sequence[str]) -> dict[str, AlarmAck]:
        """Return the recorded acknowledgements of those of these events that have one."""
        ...

    def acknowledge(self, event_id: str, by: str) -> AlarmAck:
        """Record that ``by`` acknowledged a raised event; return the (first) record."""
        ...

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call listener (on some thread) for every new alarm event; return an unsubscriber."""
        ...

    def ask(
        self,
        question: str,
        conversation_id: str | None,
        on_token: TokenSink,
        cancel: threading.Event,
    ) -> Answer:
        """Answer a question, streaming the checked text to on_token; stop when cancel is set."""
        ...

    def feedback(
        self,
        turn_id: int,
        rating: str,
        reason: str,
        comment: str,
        corrected_answer: str,
        by: str,
    ) -> None:
        """Record an operator's rating of an answer."""
        ...

    def draft(
        self,
        asset: str,
        *,
        alarm_id: str | None,
        question: str | None,
        conversation_id: str | None,
        by: str,
    ) -> WorkOrder:
        """Draft and store a work order; return it."""
        ...

    def workorders(self) -> list[WorkOrder]:
        """Return every work order, newest first."""
        ...

    def workorder(self, order_id: str) -> WorkOrder:
        """Return one work order."""
        ...

    def edit(self, order_id: str, field: str, value: str, by: str) -> WorkOrder:
        """Change one field of a draft (recorded with the operator's name)."""
        ...

    def approve(self, order_id: str, by: str) -> WorkOrder:
        """Approve a draft."""
        ...

    def reject(self, order_id: str, by: str, reason: str) -> WorkOrder:
        """Reject a draft with a reason."""
        ...

    def export(self, order_id: str, by: str) -> ExportView:
        """Export an approved work order."""
        ...

    def close(self) -> None:
        """Release what the backend holds."""
        ...


def downsample(values: list[float], points: int = SPARK_POINTS) -> tuple[float, ...]:
    """Return at most ``points`` values: the mean of equal slices of ``values``."""
    if len(values) <= points:
        return tuple(values)
    size = len(values) / points
    out = []
    for i in range(points):
        chunk = values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append(sum(chunk) / len(chunk))
    return tuple(out)


class LocalBackend:
    """The services of this process, called directly (the default)."""

    mode = "local"

    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self._clock = clock

    def _model_name(self) -> str:
        model = self.services.__dict__.get("chat_model")
        if model is not None:
            return str(model.name)
        return str(self.services.settings.models.llm)

    def status(self) -> StatusView:
        """Return the state of the model, broker, alarms and sync backlog."""
        services = self.services
        model = services.__dict__.get("chat_model")
        busy = bool(model is not None and model.lock.locked())
        live = services.live
        broker, ok, error, alarms, stale = "no plant configured", False, None, 0, 0
        if live is not None:
            info = live.status()
            broker = str(info["broker"])
            ok = broker.startswith("connected")
            error = info["last_error"]
            alarms = int(info["active_events"])
            now = self._clock()
            stale = sum(
                1
                for asset in live.store.plant.assets
                for tag in live.store.asset_status(asset.id, now)
                if tag.state == "stale"
            )
        backlog, sync_state, offline = self._sync()
        return StatusView(
            mode=self.mode,
            model=self._model_name(),
            model_busy=busy,
            broker=broker,
            broker_ok=ok,
            broker_error=error,
            alarms=alarms,
            documents=len(services.manifest.entries()),
            stale_tags=stale,
            sync_backlog=backlog,
            sync_state=sync_state,
            offline=offline,
        )

    def _sync(self) -> tuple[int | None, str | None, bool]:
        """Return the sync outbox's backlog, its last error and whether the uplink is offline."""
        status = self.services.outbox.status()
        error = status.last_error if status.failures else None
        return status.backlog, error, status.offline

    def assets(self) -> list[AssetView]:
        """Return every asset with its tags' live values and sparklines."""
        live = self.services.live
        if live is None:
            return []
        store = live.store
        now = self._clock()
        views = []
        for spec in store.plant.assets:
            tags = []
            for status in store.asset_status(spec.id, now):
                window = store.window(spec.id, status.tag, SPARK_WINDOW_S, now)
                tags.append(
                    TagView(
                        asset=status.asset,
                        tag=status.tag,
                        name=status.name,
                        unit=status.unit,
                        value=status.value,
                        ts=status.ts,
                        age_s=status.age_s,
                        state=status.state,
                        trend=status.trend,
                        normal=status.normal,
                        spark=downsample([v for _, v in window]),
                    )
                )
            views.append(AssetView(spec.id, spec.name, spec.type, spec.location, tuple(tags)))
        return views

    def tag_window(self, asset: str, tag: str, seconds: float) -> list[tuple[float, float]]:
        """Return the (ts, value) samples of one tag over the last seconds."""
        live = self.services.live
        if live is None:
            return []
        return live.store.window(asset, tag, seconds, self._clock())

    def alarms(self) -> list[TelemetryEvent]:
        """Return the alarm, stale and anomaly events currently raised, oldest first."""
        live = self.services.live
        return live.store.active_events() if live is not None else []

    def alarm_history(self, limit: int = 50) -> list[TelemetryEvent]:
        """Return recent alarm events (raised and cleared), newest first."""
        return self.services.alarm_history.recent(limit)

    def acks(self, event_ids: Sequence[str]) -> dict[str, AlarmAck]:
        """Return the acknowledgements the journal holds for these events."""
        return self.services.alarm_acks.for_events(event_ids)

    def acknowledge(self, event_id: str, by: str) -> AlarmAck:
        """Record the acknowledgement in the journal, as the CLI and the API do."""
        return self.services.alarm_acks.acknowledge(event_id, by, via="tui").ack

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call listener for every new alarm event (on the telemetry thread)."""
        live = self.services.live
        if live is None:
            return lambda: None
        return live.subscribe(listener)

    def ask(
        self,
        question: str,
        conversation_id: str | None,
        on_token: TokenSink,
        cancel: threading.Event,
    ) -> Answer:
        """Answer a question with the local model, streaming the checked text."""
        return self.services.chat.ask(question, conversation_id, on_token=on_token, cancel=cancel)

    def feedback(
        self,
        turn_id: int,
        rating: str,
        reason: str,
        comment: str,
        corrected_answer: str,
        by: str,
    ) -> None:
        """Record an operator's rating of an answer in the journal."""
        self.services.feedback.add(
            turn_id,
            rating,
            reason=reason,
            comment=comment,
            corrected_answer=corrected_answer,
            by=by,
        )

    def draft(
        self,
        asset: str,
        *,
        alarm_id: str | None,
        question: str | None,
        conversation_id: str | None,
        by: str,
    ) -> WorkOrder:
        """Draft and store a work order with the local model."""
        return self.services.drafter.draft(
            asset,
            alarm_id=alarm_id,
            question=question,
            conversation_id=conversation_id,
            created_by=by,
        )

    def workorders(self) -> list[WorkOrder]:
        """Return every work order, newest first."""
        return self.services.workorders.list()

    def workorder(self, order_id: str) -> WorkOrder:
        """Return one work order."""
        return self.services.workorders.get(order_id)

    def edit(self, order_id: str, field: str, value: str, by: str) -> WorkOrder:
        """Change one field of a draft."""
        return self.services.workorders.edit(order_id, field, value, by)

    def approve(self, order_id: str, by: str) -> WorkOrder:
        """Approve a draft."""
        return self.services.workorders.approve(order_id, by)

    def reject(self, order_id: str, by: str, reason: str) -> WorkOrder:
        """Reject a draft with a reason."""
        return self.services.workorders.reject(order_id, by, reason)

    def export(self, order_id: str, by: str) -> ExportView:
        """Export an approved work order to files."""
        result = self.services.exporter.export(order_id, by=by)
        return ExportView(
            result.order, str(result.json_path), str(result.csv_path), result.mqtt_topic
        )

    def close(self) -> None:
        """Leave the services to whoever built them (they close them)."""
