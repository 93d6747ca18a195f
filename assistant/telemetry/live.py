"""The running telemetry pipeline: broker connector -> store -> alarm history, plus housekeeping.

One object to start and stop: it owns the MQTT connector (when a broker is configured) and a
housekeeping thread that checks for stale tags once a second. Events from the store are written
to the journal's alarm history and fanned out to listeners (the monitor command, the API's
event stream, the TUI).

With a :class:`~assistant.telemetry.persistence.TelemetryPersistence`, ``start`` restores the
store before the connector starts (so redelivered messages meet the restored buffers), the
housekeeping thread snapshots every ``telemetry.snapshot_interval_s``, and ``stop`` stops the
connector (its last batch acknowledged) before the last snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from assistant.domain import TelemetryEvent
from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.persistence import FolderBusy, RestoreReport, TelemetryPersistence
from assistant.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

Listener = Callable[[TelemetryEvent], None]


class Connector(Protocol):
    """What the pipeline needs from a broker connector (connectors.mqtt.telemetry.MqttConnector)."""

    @property
    def state(self) -> str:
        """Return the connection state in words."""
        ...

    @property
    def last_error(self) -> str | None:
        """Return the last connection error, if any."""
        ...

    def start(self) -> None:
        """Start receiving in the background."""
        ...

    def stop(self) -> None:
        """Stop receiving."""
        ...

    def counters(self) -> dict[str, int]:
        """Return the receive counters."""
        ...


class LiveTelemetry:
    """Starts, stops and reports on the live telemetry pipeline."""

    def __init__(self, store: TelemetryStore, history: AlarmHistory, period_s: float = 1.0) -> None:
        self.store = store
        self.history = history
        self.connector: Connector | None = None
        self.persistence: TelemetryPersistence | None = None
        self.restored: RestoreReport | None = None
        """What the last start restored (None without persistence)."""
        self._period_s = period_s
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle_event(self, event: TelemetryEvent) -> None:
        """Record an event in the alarm history and pass it to every listener."""
        self.history.record(event)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not stop alarm handling
                log.exception("telemetry event listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call listener for every event from now on; return a function that unsubscribes."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def listener_count(self) -> int:
        """Return how many listeners are subscribed now."""
        with self._listeners_lock:
            return len(self._listeners)

    def start(
        self,
        connector: Connector | None = None,
        persistence: TelemetryPersistence | None = None,
    ) -> None:
        """Restore from ``persistence`` (if any), start the connector and the housekeeping.

        A persistence folder another process holds is logged, and telemetry then runs in
        memory only.
        """
        if persistence is not None and self.persistence is None:
            try:
                self.restored = persistence.open(self.store, self.history)
                self.persistence = persistence
            except FolderBusy as exc:
                log.warning("%s; this process keeps telemetry in memory only", exc)
                persistence.close()
            except BaseException:
                persistence.close()
                raise
        self.connector = connector
        if connector is not None:
            connector.start()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._housekeeping, name="telemetry-housekeeping", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the connector and the housekeeping thread, then take the last snapshot."""
        self._stop.set()
        if self.connector is not None:
            self.connector.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        persistence, self.persistence = self.persistence, None
        if persistence is not None:
            persistence.close()

    def _housekeeping(self) -> None:
        while not self._stop.wait(self._period_s):
            self.store.check_stale()
            persistence = self.persistence
            if persistence is not None and persistence.due():
                try:
                    persistence.snapshot()
                except OSError as exc:  # the reading log still holds everything
                    log.warning("telemetry snapshot failed: %s; retrying next interval", exc)

    def status(self) -> dict[str, Any]:
        """Return the connection state and counters, for status bars and metrics."""
        connector = self.connector
        return {
            "broker": connector.state if connector is not None else "not configured",
            "last_error": connector.last_error if connector is not None else None,
            "mqtt": connector.counters() if connector is not None else {},
            "store": self.store.counters(),
            "active_events": len(self.store.active_events()),
            "snapshot": self._snapshot_status(),
        }

    def _snapshot_status(self) -> dict[str, Any] | None:
        persistence = self.persistence
        if persistence is None:
            return None
        last = persistence.last
        return {
            "folder": str(persistence.folder),
            "interval_s": persistence.interval_s,
            "last_bytes": last.bytes if last else None,
            "last_seconds": round(last.seconds, 4) if last else None,
        }
