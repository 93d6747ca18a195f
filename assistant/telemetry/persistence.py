"""Telemetry that survives a restart: snapshot + reading log in one folder, restored at start.

Folder layout (one per MQTT client id, since each has its own broker session)::

    <data_dir>/telemetry/<client id>/snapshot.npz        the last snapshot (snapshot.py)
    <data_dir>/telemetry/<client id>/readings-N.log      readings since (reading_log.py)
    <data_dir>/telemetry/<client id>/lock                held while a process owns the folder

Why both: the connector acknowledges a message to the broker only after the store has taken
its readings, and the store takes a batch only after appending it to the reading log (fsync'd
with ``telemetry.fsync``). So every acknowledged reading is durable, whatever kills the
process; the snapshot only bounds how much log a restart replays and keeps the ring buffers
(up to a day per tag) without logging them twice.

:meth:`TelemetryPersistence.open`: lock the folder, load the snapshot (a missing, corrupt or
other-version snapshot is logged and ignored; start-up never fails on it), replay the log
segments from the snapshot's on (events not re-emitted: they were recorded when the readings
arrived), attach a new log segment to the store, and reconcile the alarms the journal still
shows as raised (:meth:`TelemetryStore.reconcile`). :meth:`snapshot` runs every
``telemetry.snapshot_interval_s`` from the housekeeping thread and once more at
:meth:`close`: capture under the store's lock and rotate the log, serialise and write
atomically outside it, then delete the log segments the snapshot covers.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.reading_log import ReadingLog, read_segments
from assistant.telemetry.snapshot import SnapshotError, read_snapshot, write_snapshot
from assistant.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "snapshot.npz"


def state_folder(data_dir: Path, client_id: str) -> Path:
    """Return the folder that keeps the telemetry of one MQTT client id."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", client_id) or "default"
    return data_dir / "telemetry" / safe


class FolderBusy(RuntimeError):
    """Another process holds the telemetry folder."""


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a start-up restored: samples from the snapshot, readings replayed, events settled."""

    samples: int
    replayed: int
    snapshot_age_s: float | None
    reconciled: int
    seconds: float
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    """One snapshot: samples, bytes, seconds under the store's lock and in all."""

    samples: int
    bytes: int
    capture_s: float
    seconds: float


class TelemetryPersistence:
    """Owns one telemetry folder: restores the store from it and snapshots into it."""

    def __init__(
        self,
        folder: Path,
        *,
        interval_s: float,
        fsync: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self.fsync = fsync
        self._clock = clock
        self._lock_fd = -1
        self._log: ReadingLog | None = None
        self._store: TelemetryStore | None = None
        self._last_snapshot = clock()
        self.last: SnapshotReport | None = None
        """The last snapshot taken, for status reports."""

    @property
    def snapshot_path(self) -> Path:
        """Return the snapshot file's path."""
        return self.folder / SNAPSHOT_NAME

    def open(self, store: TelemetryStore, history: AlarmHistory | None) -> RestoreReport:
        """Restore the store from the folder, start logging into it, reconcile the alarms.

        Raise FolderBusy when another process owns the folder (the store is left as it is).
        """
        started = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        problem = None
        samples = 0
        age = None
        first_segment = 1
        try:
            loaded = read_snapshot(self.snapshot_path)
            if loaded is not None:
                saved, first_segment = loaded
                samples = store.import_state(saved)
                age = max(0.0, time.time() - saved.saved_at)
        except (SnapshotError, ValueError) as exc:
            problem = f"telemetry snapshot {self.snapshot_path} ignored: {exc}"
            log.warning("%s", problem)
            first_segment = 1
        replayed = 0
        for keys, rows in read_segments(self.folder, first_segment):
            replayed += store.replay(keys, rows)
        self._log = ReadingLog(self.folder, store.keys, fsync=self.fsync)
        store.attach_log(self._log)
        self._store = store
        reconciled = store.reconcile(history.open_events() if history is not None else [])
        report = RestoreReport(
            samples=samples,
            replayed=replayed,
            snapshot_age_s=age,
            reconciled=len(reconciled),
            seconds=time.perf_counter() - started,
            problem=problem,
        )
        log.info(
            "telemetry restored from %s: %d samples from the snapshot, %d readings replayed "
            "from the log, %d alarm events reconciled, in %.2f s",
            self.folder,
            samples,
            replayed,
            len(reconciled),
            report.seconds,
        )
        return report

    def due(self) -> bool:
        """Return whether the next periodic snapshot is due."""
        return self._clock() - self._last_snapshot >= self.interval_s

    def snapshot(self) -> SnapshotReport:
        """Snapshot the store now (atomically), then drop the log segments it covers."""
        store, reading_log = self._store, self._log
        if store is None or reading_log is None:
            raise RuntimeError("snapshot before open")
        started = time.perf_counter()
        state, first_segment = store.export_state(reading_log.rotate)
        captured = time.perf_counter()
        size = write_snapshot(self.snapshot_path, state, first_segment)
        reading_log.drop_before(first_segment)
        self._last_snapshot = self._clock()
        self.last = SnapshotReport(
            samples=state.samples,
            bytes=size,
            capture_s=captured - started,
            seconds=time.perf_counter() - started,
        )
        return self.last

    def close(self, *, snapshot: bool = True) -> None:
        """Take a last snapshot, stop logging and release the folder (safe to call twice).

        Without ``snapshot`` the reading log keeps what arrived since the last one (what a
        crash leaves; the benchmark measures restarts from it).
        """
        store, reading_log = self._store, self._log
        if store is not None and reading_log is not None:
            try:
                if snapshot:
                    self.snapshot()
            except OSError as exc:  # the log still holds everything: nothing is lost
                log.warning("last telemetry snapshot failed (%s); the reading log keeps it", exc)
            store.attach_log(None)
            reading_log.close()
        self._store = self._log = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _take_lock(self) -> None:
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderBusy(
                f"telemetry folder {self.folder} is in use by another Shiftmate process "
                f"(pid {owner}) with the same MQTT client id"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
