"""The full lifecycle: draft, edit, approve, export (file, CSV, MQTT to a real Mosquitto),
reject, and every refused transition with a clear error."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from assistant.errors import WorkOrderError
from assistant.services import Services
from assistant.workorders.model import validate
from tests.assistant.workorders.helpers import plant_services, raise_alarm
from tests.brokers import Mosquitto, collect_messages
from tests.conftest import ServicesFactory

TOPIC = "riverbend/workorders"


@pytest.fixture
def wo(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path, mosquitto: Mosquitto
) -> Services:
    return plant_services(
        make_services,
        plant_template,
        tmp_path,
        "lifecycle",
        mqtt={"host": "127.0.0.1", "port": mosquitto.port},
        workorders={"mqtt_topic": TOPIC, "publish_timeout_s": 20},
    )


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _subscriber(port: int) -> tuple[paho.Client, list[bytes], threading.Event]:
    return collect_messages(port, TOPIC)


def test_draft_edit_approve_export_reject(wo: Services, mosquitto: Mosquitto) -> None:
    event = raise_alarm(wo, "P-101", "vibration", 2.0, 5.0, "mm/s RMS")
    order = wo.drafter.draft("P-101", alarm_id=event.id, created_by="ann")

    edited = wo.workorders.edit(order.id, "title", "Check P-101 bearing vibration", "bob")
    edited = wo.workorders.edit(order.id, "parts", "bearing 6312; grease", "bob")
    assert edited.title == "Check P-101 bearing vibration"
    assert edited.parts == ("bearing 6312", "grease")
    assert edited.edited_by == "bob" and edited.edited_at
    history = wo.workorders.edits(order.id)
    assert [(e.field, e.by, e.new) for e in history] == [
        ("title", "bob", "Check P-101 bearing vibration"),
        ("parts", "bob", "bearing 6312; grease"),
    ]
    assert history[0].old == order.title

    with pytest.raises(WorkOrderError, match="only an approved work order can be exported"):
        wo.exporter.export(order.id)
    approved = wo.workorders.approve(order.id, "carol")
    assert (approved.status, approved.approved_by) == ("approved", "carol")
    with pytest.raises(WorkOrderError, match=r"cannot approve .* it is approved \(by carol"):
        wo.workorders.approve(order.id, "dave")
    with pytest.raises(WorkOrderError, match="only drafts can be edited"):
        wo.workorders.edit(order.id, "title", "Sneaky change", "dave")

    client, got, arrived = _subscriber(mosquitto.port)
    try:
        result = wo.exporter.export(order.id, mqtt=True, by="carol")
        assert arrived.wait(10), "the work order was not delivered over MQTT"
    finally:
        client.loop_stop()
        client.disconnect()
    assert result.order.status == "exported"
    published = json.loads(got[0])
    assert published["id"] == order.id and published["status"] == "approved"
    on_disk = json.loads(result.json_path.read_text(encoding="utf-8"))
    assert on_disk["title"] == "Check P-101 bearing vibration"
    assert on_disk["evidence"]["telemetry"][0]["event_id"] == event.id
    rows = _rows(result.csv_path)
    assert rows[0][0] == "id" and [r[0] for r in rows[1:]] == [order.id]
    assert not list(result.json_path.parent.glob(".*"))  # no temp files left
    record = wo.workorders.export_record(order.id)
    assert record is not None and record["mqtt_topic"] == TOPIC

    with pytest.raises(WorkOrderError, match=r"already exported at .*never exported twice"):
        wo.exporter.export(order.id)
    assert wo.workorders.get(order.id).status == "exported"

    second = wo.drafter.draft("P-101", question="Replace the P-101 seal", created_by="ann")
    rejected = wo.workorders.reject(second.id, "carol", "duplicate of the vibration job")
    assert rejected.status == "rejected" and rejected.rejection_reason
    with pytest.raises(WorkOrderError, match=r"cannot approve .* it is rejected"):
        wo.workorders.approve(second.id, "carol")
    with pytest.raises(WorkOrderError, match="it is rejected; only an approved"):
        wo.exporter.export(second.id)
    statuses = {o.id: o.status for o in wo.workorders.list()}
    assert statuses == {order.id: "exported", second.id: "rejected"}

    third = wo.drafter.draft("C-3", question="Change the C-3 oil", created_by="ann")
    # a duration the documents do not state is cleared, not guessed
    cleared = wo.workorders.edit(third.id, "estimated_duration_h", "", "bob")
    assert cleared.estimated_duration_h is None
    wo.workorders.approve(third.id, "carol")
    again = wo.exporter.export(third.id)
    rows = _rows(again.csv_path)
    assert [r[0] for r in rows] == ["id", order.id, third.id]  # header once
    assert rows[2][rows[0].index("estimated_duration_h")] == ""
    assert json.loads(again.json_path.read_text(encoding="utf-8"))["estimated_duration_h"] is None


def test_corrupt_export_folder_keeps_the_order_approved(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("I am a file", encoding="utf-8")
    services = plant_services(
        make_services, plant_template, tmp_path, "corrupt", workorders={"export_dir": blocker}
    )
    order = services.drafter.draft("C-3", question="Check C-3 oil level", created_by="ann")
    services.workorders.approve(order.id, "carol")
    with pytest.raises(WorkOrderError, match="export folder"):
        services.exporter.export(order.id)
    assert services.workorders.get(order.id).status == "approved"
    assert services.workorders.export_record(order.id) is None


def test_oversized_fields_name_the_field(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    services = plant_services(make_services, plant_template, tmp_path, "sizes")
    order = services.drafter.draft("HX-12", question="Clean HX-12 plates", created_by="ann")
    with pytest.raises(WorkOrderError, match="title: String should have at most 120 characters"):
        services.workorders.edit(order.id, "title", "x" * 121, "bob")
    with pytest.raises(WorkOrderError, match=r"steps\[1\]: String should have at most 300"):
        services.workorders.edit(order.id, "steps", "ok step;" + "y" * 301, "bob")
    with pytest.raises(WorkOrderError, match="steps: Tuple should have at most 20 items"):
        services.workorders.edit(order.id, "steps", ";".join(f"s{n}" for n in range(21)), "bob")
    with pytest.raises(WorkOrderError, match="cannot be edited"):
        services.workorders.edit(order.id, "status", "approved", "bob")
    with pytest.raises(WorkOrderError, match="priority"):
        services.workorders.edit(order.id, "priority", "whenever", "bob")
    assert services.workorders.get(order.id) == order  # nothing changed
    data = order.model_dump(mode="json")
    data["problem"] = "p" * 1001
    with pytest.raises(WorkOrderError, match="problem: String should have at most 1000"):
        validate(data)
    with pytest.raises(WorkOrderError, match="no work order 'WO-missing'"):
        services.workorders.approve("WO-missing", "bob")
