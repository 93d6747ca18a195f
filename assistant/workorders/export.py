"""Export approved work orders: a JSON file each, a CSV row for the CMMS, optionally MQTT.

Order of work: check the work order is approved and never exported, take its export claim (one
``BEGIN IMMEDIATE`` transaction; a second export of it, in any thread or process, is refused
meanwhile), write the JSON file (temp file, fsync, ``os.replace``, fsync of the folder), add
its CSV row under an exclusive ``fcntl.flock`` on ``workorders.csv.lock`` beside the CSV (the
whole CSV rewritten through a temp file; a row already there for this id is not added twice),
publish to MQTT with QoS 1 when asked (retried until the broker acknowledges or the timeout
passes; the acknowledgement is recorded on the claim), and only then record the export and set
the status to exported in one journal transaction. Any failure before that leaves the work
order approved; a retried export, or the next one after a crash, rewrites the same files
without duplicating rows and does not publish again what the broker already acknowledged.

The one window left: a crash after the broker's acknowledgement and before it is recorded
(milliseconds) sends the message again on the rerun; the payload carries the work order's id,
so a CMMS that files by id files it once. The file lock is Linux/POSIX ``flock``: it holds
between threads and processes on one machine, not across an NFS export folder.

The CSV is opened in spreadsheets, so a cell that would start a formula is defused there (see
:func:`csv_cell`); the JSON file keeps every field exactly as approved.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ConnectorError, ShiftmateError, WorkOrderError
from assistant.ports import PublisherFactory
from assistant.settings import MqttSettings, WorkOrderSettings
from assistant.workorders.actor import Actor, as_actor
from assistant.workorders.model import WorkOrder
from assistant.workorders.store import ExportClaim, WorkOrderStore

CSV_NAME = "workorders.csv"
LOCK_SUFFIX = ".lock"
CSV_LOCK_TIMEOUT_S = 30.0
"""How long an export waits for another one's CSV update before it gives up."""
CSV_HEADER = (
    "id",
    "asset",
    "title",
    "priority",
    "problem",
    "suspected_cause",
    "energy_isolation_required",
    "isolation_points",
    "permits",
    "steps",
    "parts",
    "tools",
    "estimated_duration_h",
    "created_by",
    "created_at",
    "approved_by",
    "approved_at",
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet reads as the start of a formula (OWASP, CSV injection)."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Where an exported work order went."""

    order: WorkOrder
    json_path: Path
    csv_path: Path
    mqtt_topic: str | None
    resumed: bool = False
    """Whether this export finished one that crashed (its claim was taken over)."""


def csv_cell(text: str) -> str:
    """Return a CSV cell a spreadsheet shows as text: a leading ``'`` before a formula start."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_row(order: WorkOrder) -> list[str]:
    """Return a work order as a CSV row in CSV_HEADER order, every cell safe to open."""
    cells = [
        order.id,
        order.asset,
        order.title,
        order.priority,
        order.problem,
        order.suspected_cause,
        "yes" if order.safety.energy_isolation_required else "no",
        "; ".join(order.safety.isolation_points),
        "; ".join(order.safety.permits),
        " | ".join(f"{n}. {s}" for n, s in enumerate(order.steps, 1)),
        "; ".join(order.parts),
        "; ".join(order.tools),
        "" if order.estimated_duration_h is None else f"{order.estimated_duration_h:g}",
        order.created_by,
        order.created_at,
        order.approved_by or "",
        order.approved_at or "",
    ]
    return [csv_cell(cell) for cell in cells]


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk, so a renamed file survives a power cut."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write a file through a temp file in the same folder, os.replace and fsync both."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


@contextmanager
def file_lock(path: Path, timeout_s: float = CSV_LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (waiting up to timeout_s); yield it.

    The lock belongs to this open file, so it excludes other threads of this process as well
    as other processes; it is released when the file is closed, also when a process dies.
    """
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WorkOrderError(
                        f"the CMMS CSV {path} stayed locked by another export for "
                        f"{timeout_s:g} s (lock file {lock_path}); try again"
                    ) from None
                time.sleep(0.02)
        yield lock_path
    finally:
        os.close(handle)


class Exporter:
    """Writes approved work orders to the export folder and, if asked, to MQTT."""

    def __init__(
        self,
        settings: WorkOrderSettings,
        mqtt: MqttSettings,
        store: WorkOrderStore,
        default_dir: Path,
        publisher: PublisherFactory,
    ) -> None:
        self.settings = settings
        self.mqtt = mqtt
        self._new_publisher = publisher
        self.store = store
        self.folder = settings.export_dir or default_dir

    def _prepare_folder(self) -> Path:
        folder = self.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkOrderError(
                f"cannot use the export folder {folder}: {exc.strerror or exc}"
            ) from exc
        if not folder.is_dir():
            raise WorkOrderError(f"the export folder is not a folder: {folder}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise WorkOrderError(f"the export folder is not writable: {folder}")
        return folder

    def _write_csv(self, path: Path, order: WorkOrder) -> None:
        with file_lock(path):
            self._add_row(path, order)

    def _add_row(self, path: Path, order: WorkOrder) -> None:
        existing = ""
        if path.exists():
            try:
                existing = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise WorkOrderError(f"cannot read the CMMS CSV {path}: {exc}") from exc
            rows = list(csv.reader(io.StringIO(existing)))
            if rows and tuple(rows[0]) != CSV_HEADER:
                raise WorkOrderError(
                    f"the CMMS CSV {path} has an unexpected header; move it away to start a new one"
                )
            if any(row and row[0] == csv_cell(order.id) for row in rows[1:]):
                return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if not existing:
            writer.writerow(CSV_HEADER)
        writer.writerow(csv_row(order))
        _atomic_write(path, (existing + buffer.getvalue()).encode("utf-8"))

    def _publish(self, topic: str, payload: bytes) -> None:
        if self.mqtt.host is None:
            raise WorkOrderError("--mqtt needs a broker: set mqtt.host (SHIFTMATE_MQTT__HOST)")
        timeout = self.settings.publish_timeout_s
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            remaining = deadline - time.monotonic()
            publisher = self._new_publisher(
                self.mqtt,
                f"shiftmate-wo-{os.getpid()}-{int(time.time() * 1000) % 100000}",
                max(remaining, 0.5),
            )
            try:
                publisher.connect(max(min(remaining, 10.0), 0.5))
                publisher.publish(topic, payload, qos=1)
                return
            except ConnectorError as exc:
                last = str(exc)
            finally:
                publisher.close()
            if time.monotonic() + 0.5 >= deadline:
                raise WorkOrderError(
                    f"the MQTT broker did not acknowledge the work order on '{topic}' within "
                    f"{timeout:g} s: {last}"
                )
            time.sleep(0.5)

    def claim_ttl_s(self) -> float:
        """Return how long an export claim lasts: the longest an export can take, and more."""
        return self.settings.publish_timeout_s + CSV_LOCK_TIMEOUT_S + 60.0

    def export(self, order_id: str, *, mqtt: bool = False, by: str | Actor = "cli") -> ExportResult:
        """Export one approved work order; refuse anything else, never export twice."""
        actor = as_actor(by)
        self.store.check_exportable(order_id)
        topic = None
        if mqtt:
            topic = self.settings.mqtt_topic
            if not topic:
                raise WorkOrderError(
                    "--mqtt needs a topic: set workorders.mqtt_topic "
                    "(SHIFTMATE_WORKORDERS__MQTT_TOPIC)"
                )
            if self.mqtt.host is None:
                raise WorkOrderError("--mqtt needs a broker: set mqtt.host (SHIFTMATE_MQTT__HOST)")
        folder = self._prepare_folder()
        claim = self.store.claim_export(order_id, actor, self.claim_ttl_s())
        try:
            return self._export_claimed(claim, folder, actor, topic)
        except BaseException:
            with suppress(ShiftmateError):  # the claim then lapses when this process ends
                self.store.release_export(claim)
            raise

    def _export_claimed(
        self, claim: ExportClaim, folder: Path, actor: Actor, topic: str | None
    ) -> ExportResult:
        order = claim.order
        json_path = folder / f"{order.id}.json"
        csv_path = folder / CSV_NAME
        body = json.dumps(order.model_dump(mode="json"), indent=2, ensure_ascii=False)
        try:
            _atomic_write(json_path, body.encode("utf-8"))
            self._write_csv(csv_path, order)
        except OSError as exc:
            raise WorkOrderError(
                f"cannot write the export of {order.id} to {folder}: {exc.strerror or exc}"
            ) from exc
        published = claim.published_topic
        if topic is not None and topic != published:
            self._publish(topic, body.encode("utf-8"))
            self.store.record_published(claim, topic)
            published = topic
        exported = self.store.mark_exported(claim, actor, str(json_path), str(csv_path), published)
        return ExportResult(exported, json_path, csv_path, published, claim.taken_over)
