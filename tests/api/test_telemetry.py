"""Live telemetry over HTTP: readings published to a real Mosquitto reach the asset routes,
raise an alarm that ``/v1/alarms`` lists and ``/v1/events`` streams, and show in /metrics."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from assistant.api import create_app
from assistant.api.keys import KeyStore
from assistant.domain import Reading, TelemetryEvent
from assistant.schema.telemetry import AckOut
from assistant.services import Services, build_services
from assistant.settings import load_settings
from connectors.mqtt.publisher import MqttPublisher
from tests.api.conftest import LiveServer, error_of, start_server, stop_server
from tests.cli.test_cli import run
from tests.conftest import SAMPLE_PLANT
from tui.backend import LocalBackend
from tui.http import HttpBackend


def publish(server: LiveServer, asset: str, tag: str, values: list[float]) -> None:
    """Publish JSON readings of one tag to the server's broker, one second apart in ts."""
    plant = server.services.require_plant()
    spec = plant.asset(asset)
    assert spec is not None and server.broker is not None
    tag_spec = spec.tag(tag)
    assert tag_spec is not None
    topic = plant.topic_for(spec, tag_spec)
    start = time.time() - len(values)
    with MqttPublisher(server.broker.mqtt_settings()) as publisher:
        for n, value in enumerate(values):
            payload = json.dumps({"value": value, "ts": start + n}).encode()
            publisher.publish(topic, payload, qos=1)


def wait_until(check: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll check() until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_assets_values_alarms_and_the_event_stream(server: LiveServer) -> None:
    received: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:
        with server.client() as client, client.stream("GET", "/v1/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            name = ""
            for line in response.iter_lines():
                listening.set()
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "alarm":
                    received.append(json.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert listening.wait(10), "the event stream sent nothing"
    publish(server, "ST-102", "differential_pressure", [0.10, 0.12, 0.15, 0.41])
    listener.join(timeout=30)
    assert received, "no alarm event arrived on /v1/events"
    event = received[0]
    assert (event["asset"], event["tag"], event["kind"], event["level"], event["state"]) == (
        "ST-102",
        "differential_pressure",
        "limit",
        "hi",
        "raised",
    )

    with server.client() as client:
        assets = client.get("/v1/assets").json()
        assert assets["site"] == "riverbend"
        summary = {a["id"]: a for a in assets["assets"]}
        assert summary["ST-102"]["state"] == "hi" and summary["ST-102"]["active_events"] == 1
        assert summary["P-101"]["state"] == "no data"

        detail = client.get("/v1/assets/st-102", params={"window_s": 3600}).json()
        tag = detail["tags"][0]
        assert (tag["tag"], tag["unit"], tag["value"], tag["state"]) == (
            "differential_pressure",
            "bar",
            0.41,
            "hi",
        )
        assert [v for _, v in tag["window"]] == [0.10, 0.12, 0.15, 0.41]
        assert tag["limits"]["hi"] == 0.35 and tag["normal"] == [0.05, 0.2]
        thin = client.get("/v1/assets/ST-102", params={"window_s": 3600, "max_points": 2})
        assert len(thin.json()["tags"][0]["window"]) == 2

        alarms = client.get("/v1/alarms").json()
        assert [a["id"] for a in alarms["active"]] == [event["id"]]
        assert event["id"] in [a["id"] for a in alarms["history"]]
        status = client.get("/v1/status").json()
        assert status["active_alarms"] == 1 and status["broker"].startswith("connected")
        assert status["documents"] >= 1 and status["site"] == "riverbend"
        # no uplink configured: the outbox is offline and its backlog is shown
        assert status["sync"]["offline"] is True and status["sync"]["backlog"] == 0

        # A reconnecting client gets what it missed after its Last-Event-ID.
        publish(server, "ST-102", "differential_pressure", [0.2, 0.1, 0.1])
        wait_until(lambda: not client.get("/v1/alarms").json()["active"], "the alarm to clear")
        with client.stream("GET", "/v1/events", headers={"Last-Event-ID": event["id"]}) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    replayed = json.loads(line[6:])
                    break
        assert replayed["state"] == "cleared" and replayed["asset"] == "ST-102"

        unknown = client.get("/v1/assets/P-999")
        assert unknown.status_code == 404 and error_of(unknown)["code"] == "unknown_asset"
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'shiftmate_telemetry_readings{counter="accepted"}' in text
    assert "shiftmate_mqtt_connected 1" in text
    assert 'shiftmate_http_requests_total{method="GET",route="/v1/assets/{asset_id}"' in text
    assert "shiftmate_inference_queue_depth" in text
    assert "shiftmate_sync_backlog_records 0" in text and "shiftmate_sync_offline 1" in text


def test_without_a_plant_telemetry_routes_answer_empty(make_server: Any) -> None:
    bare = make_server(plant=False, broker=False)
    with bare.client() as client:
        assert client.get("/v1/assets").json() == {"site": None, "assets": []}
        assert client.get("/v1/alarms").json() == {"active": [], "history": []}
        assert client.get("/v1/assets/P-101").status_code == 404
        status = client.get("/v1/status").json()
        assert status["broker"] == "not configured" and status["assets"] == 0
        draft = client.post("/v1/workorders", json={"asset": "P-101"})
        assert draft.status_code == 409 and error_of(draft)["code"] == "not_configured"


def _ack_services(data_dir: Path) -> Services:
    """Return services over a data dir with the sample plant file (no broker, no models)."""
    settings = load_settings(
        None,
        {"data_dir": data_dir, "plant": {"file": SAMPLE_PLANT / "plant.toml"}},
    )
    return build_services(settings)


def _strainer_alarm(services: Services, values: list[float], start: float) -> list[TelemetryEvent]:
    """Feed ST-101's differential pressure one value a second; return the events it caused."""
    live = services.live
    assert live is not None
    seen: list[TelemetryEvent] = []
    unsubscribe = live.subscribe(seen.append)
    try:
        for n, value in enumerate(values):
            live.store.add(Reading("ST-101", "differential_pressure", value, start + n, "bar"))
    finally:
        unsubscribe()
    return seen


def test_an_ack_over_the_api_is_one_record_every_client_sees_after_a_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    services = _ack_services(data_dir)
    start = time.time() - 10
    [raised] = _strainer_alarm(services, [0.2, 0.4], start)
    [cleared, again] = _strainer_alarm(services, [0.1, 0.42], start + 2)
    key, operator_key = KeyStore(services.db).create("operator", "tablet 3")
    server, thread, url = start_server(create_app(services))
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {operator_key}"}, timeout=30
        ) as client:
            before = client.get("/v1/alarms").json()
            assert [(a["id"], a["ack"]) for a in before["active"]] == [(again.id, None)]

            made = client.post(f"/v1/alarms/{raised.id}/ack", json={"by": "Ann Operator"})
            assert made.status_code == 201, made.text
            ack = made.json()
            assert (ack["event_id"], ack["by"], ack["via"]) == (raised.id, "Ann Operator", "api")
            assert (ack["key_id"], ack["key_name"]) == (key.id, "tablet 3")
            repeated = client.post(f"/v1/alarms/{raised.id}/ack", json={"by": "Bob"})
            assert repeated.status_code == 200 and repeated.json() == ack

            by_key = client.post(f"/v1/alarms/{again.id}/ack")  # no body: the key's name
            assert by_key.status_code == 201 and by_key.json()["by"] == "tablet 3"

            unknown = client.post("/v1/alarms/nope/ack", json={"by": "Ann"})
            assert unknown.status_code == 404 and error_of(unknown)["code"] == "unknown_alarm"
            clear = client.post(f"/v1/alarms/{cleared.id}/ack", json={"by": "Ann"})
            assert clear.status_code == 409
            assert error_of(clear)["code"] == "not_acknowledgeable"
            assert "is the clear of ST-101" in error_of(clear)["message"]
            blank = client.post(f"/v1/alarms/{cleared.id}/ack", json={"by": "  "})
            assert blank.status_code == 422 and error_of(blank)["code"] == "invalid_request"
            extra = client.post(f"/v1/alarms/{raised.id}/ack", json={"by": "A", "note": "x"})
            assert extra.status_code == 422

            listed = client.get("/v1/alarms").json()
            assert [a["ack"]["by"] for a in listed["active"]] == ["tablet 3"]
            history = {a["id"]: a["ack"] for a in listed["history"]}
            assert history == {raised.id: ack, cleared.id: None, again.id: by_key.json()}
            ids = f"{raised.id}, {cleared.id},nope,{raised.id}"
            looked_up = client.get("/v1/alarms/acks", params={"event_ids": ids})
            assert looked_up.json() == {"acks": [ack]}
            many = ",".join(f"e{n}" for n in range(501))
            too_many = client.get("/v1/alarms/acks", params={"event_ids": many})
            assert too_many.status_code == 422 and "at most 500" in error_of(too_many)["message"]
    finally:
        stop_server(server, thread)
        services.close()

    # After the restart: the CLI, the terminal in-process and the terminal over HTTP agree.
    cli = run("alarms", "list", "--json", data_dir=data_dir)
    assert cli.returncode == 0, cli.stderr
    rows = {row["id"]: row["ack"] for row in map(json.loads, cli.stdout.splitlines())}
    assert rows[raised.id] == ack and rows[cleared.id] is None

    reopened = _ack_services(data_dir)
    try:
        local = LocalBackend(reopened).acks([raised.id, cleared.id])
        assert (
            list(local) == [raised.id] and AckOut.from_domain(local[raised.id]).model_dump() == ack
        )
        server, thread, url = start_server(create_app(reopened))
        remote = HttpBackend(url, operator_key)
        try:
            assert remote.acks([raised.id, cleared.id, again.id]) == {
                raised.id: local[raised.id],
                again.id: reopened.alarm_acks.get(again.id),
            }
            first = remote.acknowledge(raised.id, "Carl")  # idempotent: the first record
            assert first == local[raised.id]
        finally:
            remote.close()
            stop_server(server, thread)
    finally:
        reopened.close()
