"""The live gauges, read from the services at scrape time: the model's queue, the MQTT and
telemetry counters, the alarms raised now, the sync outbox, the uploads ingested and the open
event streams."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from assistant.api.state import ApiState
from assistant.schema.status import QueueOut, SyncOut

# name: (help, label); a label of "" is a single value.
GAUGES: dict[str, tuple[str, str]] = {
    "shiftmate_inference_queue_depth": ("Model requests running or waiting", ""),
    "shiftmate_inference_jobs": ("Model requests by outcome since start", "outcome"),
    "shiftmate_mqtt_messages": ("MQTT connector counters", "counter"),
    "shiftmate_telemetry_readings": ("Telemetry store counters", "counter"),
    "shiftmate_active_alarms": ("Alarm events raised now", ""),
    "shiftmate_mqtt_connected": ("1 when connected to the broker", ""),
    "shiftmate_sync_backlog_records": ("Records waiting in the outbox", ""),
    "shiftmate_sync_backlog_bytes": ("Bytes waiting in the outbox", ""),
    "shiftmate_sync_records": (
        "Outbox records by outcome since the outbox was created",
        "outcome",
    ),
    "shiftmate_sync_offline": ("1 when the uplink is off", ""),
    "shiftmate_ingestion_files": ("Uploaded files ingested, by outcome", "outcome"),
    "shiftmate_ingestion_chunks": ("Chunks written by uploads", ""),
    "shiftmate_event_streams": ("Open /v1/events streams", ""),
}


def _gauge(name: str, value: float | Mapping[str, float]) -> GaugeMetricFamily:
    help_text, label = GAUGES[name]
    if not isinstance(value, Mapping):
        return GaugeMetricFamily(name, help_text, value=float(value))
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for key, number in sorted(value.items()):
        family.add_metric([key], float(number))
    return family


class ServiceGauges:
    """A collector of the figures the services keep, read at each scrape."""

    def __init__(self, state: ApiState) -> None:
        self._state = state

    def describe(self) -> Iterator[Metric]:
        """Return the gauges' names without reading anything (for the registry's checks)."""
        for name, (help_text, label) in GAUGES.items():
            yield GaugeMetricFamily(name, help_text, labels=[label] if label else None)

    def collect(self) -> Iterator[Metric]:
        """Return the gauges with their current values."""
        state = self._state
        queue = QueueOut.from_domain(state.queue)
        yield _gauge("shiftmate_inference_queue_depth", queue.depth)
        outcomes = ("completed", "refused", "cancelled", "failed")
        yield _gauge("shiftmate_inference_jobs", {k: getattr(queue, k) for k in outcomes})
        # Read without building: a scrape must not start the telemetry pipeline.
        live = state.services.__dict__.get("live")
        if live is not None:
            telemetry = live.status()
            yield _gauge("shiftmate_mqtt_messages", telemetry.get("mqtt", {}))
            yield _gauge("shiftmate_telemetry_readings", telemetry.get("store", {}))
            yield _gauge("shiftmate_active_alarms", telemetry.get("active_events", 0))
            connected = str(telemetry.get("broker", "")).startswith("connected")
            yield _gauge("shiftmate_mqtt_connected", 1.0 if connected else 0.0)
        sync = SyncOut.from_domain(state.services.outbox.status())
        yield _gauge("shiftmate_sync_backlog_records", sync.backlog)
        yield _gauge("shiftmate_sync_backlog_bytes", sync.bytes)
        yield _gauge("shiftmate_sync_records", {"sent": sync.sent, "dropped": sync.dropped})
        yield _gauge("shiftmate_sync_offline", float(sync.offline))
        ingest = state.ingestion.counters
        files = {k: v for k, v in ingest.items() if k != "chunks"}
        yield _gauge("shiftmate_ingestion_files", files)
        yield _gauge("shiftmate_ingestion_chunks", ingest["chunks"])
        yield _gauge("shiftmate_event_streams", state.streams.count())
