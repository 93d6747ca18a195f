"""Export approved work orders: a JSON file each, a CSV row for the CMMS, optionally MQTT.

Order of work: check the work order is approved and never exported, write the JSON file
(temp file + ``os.replace``), add its CSV row (the whole CSV rewritten through a temp file;
a row already there for this id is not added twice), publish to MQTT with QoS 1 when asked
(retried until the broker acknowledges or the timeout passes), and only then record the export
and set the status to exported in one journal transaction. Any failure before that leaves the
work order approved, and a retried export rewrites the same files without duplicating rows.

The CSV is opened in spreadsheets, so a cell that would start a formula is defused there (see
:func:`csv_cell`); the JSON file keeps every field exactly as approved.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ConnectorError, WorkOrderError
from assistant.ports import PublisherFactory
from assistant.settings import MqttSettings, WorkOrderSettings
from assistant.workorders.model import WorkOrder
from assistant.workorders.store import WorkOrderStore

CSV_NAME = "workorders.csv"
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


def _atomic_write(path: Path, data: bytes) -> None:
    """Write a file through a temp file in the same folder and os.replace."""
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

    def export(self, order_id: str, *, mqtt: bool = False, by: str = "cli") -> ExportResult:
        """Export one approved work order; refuse anything else, never export twice."""
        order = self.store.check_exportable(order_id)
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
        if topic is not None:
            self._publish(topic, body.encode("utf-8"))
        exported = self.store.mark_exported(order.id, by, str(json_path), str(csv_path), topic)
        return ExportResult(exported, json_path, csv_path, topic)
