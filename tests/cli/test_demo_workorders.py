"""End to end, as an operator does it: the demo's live alarm to an exported work order.

``shiftmate demo --headless`` runs the embedded broker, the simulator (strainer ST-101 starts
clogging at once here) and the telemetry recorder; a second terminal, using the companion
config the demo writes, lists the alarm, drafts from it and takes the draft through approval to
an exported file, a CSV row and an MQTT message on the demo's broker.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
import tomllib
from pathlib import Path

from assistant.workorders.safety import is_isolation_step
from tests.brokers import collect_messages
from tests.cli.test_cli import SHIFTMATE, run


def _wait_for(path: Path, demo: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert demo.poll() is None, f"the demo exited early: {demo.communicate()[1]}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.5)


def test_demo_alarm_to_draft_to_exported_file_and_mqtt_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = subprocess.Popen(
        [
            str(SHIFTMATE),
            "--data-dir",
            str(data),
            "demo",
            "--headless",
            "--fault-after",
            "0",
            "--fault-ramp",
            "15",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        companion = data / "demo" / "demo-session.toml"
        _wait_for(companion, demo, 120)
        config = tomllib.loads(companion.read_text(encoding="utf-8"))
        assert config["data_dir"] == str(data / "demo")
        topic = config["workorders"]["mqtt_topic"]
        port = int(config["mqtt"]["port"])
        subscriber, payloads, arrived = collect_messages(port, topic)
        try:
            # the clogging strainer's differential pressure alarm, as recorded by the demo
            alarm: dict[str, object] | None = None
            deadline = time.monotonic() + 180
            while alarm is None:
                assert demo.poll() is None, f"the demo exited: {demo.communicate()[1]}"
                assert time.monotonic() < deadline, "no ST-101 alarm was raised in the demo"
                listed = run(
                    "--config", str(companion), "alarms", "--asset", "ST-101", "--raised", "--json"
                )
                assert listed.returncode == 0, listed.stderr
                events = [json.loads(line) for line in listed.stdout.splitlines()]
                alarm = next(
                    (
                        e
                        for e in events
                        if e["kind"] == "limit" and e["tag"] == "differential_pressure"
                    ),
                    None,
                )
                if alarm is None:
                    time.sleep(2)
            human = run("--config", str(companion), "alarms", "--asset", "ST-101")
            assert str(alarm["id"]) in human.stdout

            drafted = run(
                "--config",
                str(companion),
                "draft",
                "--asset",
                "ST-101",
                "--alarm",
                str(alarm["id"]),
                "--by",
                "Ann Operator",
                "--json",
                "--listen",
                "2",
            )
            assert drafted.returncode == 0, drafted.stderr
            order = json.loads(drafted.stdout)
            assert order["status"] == "draft" and order["asset"] == "ST-101"
            evidence = order["evidence"]["telemetry"][0]
            assert (evidence["event_id"], evidence["tag"], evidence["value"], evidence["ts"]) == (
                alarm["id"],
                "differential_pressure",
                alarm["value"],
                alarm["ts"],
            )
            assert order["evidence"]["documents"], "document passages are cited"
            assert order["safety"]["energy_isolation_required"]
            assert order["priority"] in ("medium", "high", "emergency")
            # written by code: the asset and the troubleshooting row's symptom, never a reading
            assert order["title"].startswith(
                "ST-101: Low flow with clogged strainer (differential pressure high"
            )  # high or high-high, as the alarm's level
            assert order["suspected_cause"] == (
                "Debris load during runoff or leaf fall; torn basket letting debris into the "
                "impeller eye"
            )
            assert order["estimated_duration_h"] is None  # the cleaning steps state no time
            chunk_ids = [d["chunk_id"] for d in order["evidence"]["documents"]]
            assert len(chunk_ids) == len(set(chunk_ids))
            isolating = [s for s in order["steps"] if is_isolation_step(s)]
            assert len(isolating) == 1 and isolating[0].startswith("Isolate the pump:")

            wo = order["id"]
            edited = run(
                "--config",
                str(companion),
                "workorders",
                "edit",
                wo,
                "--field",
                "estimated_duration_h",
                "--value",
                "2",
                "--by",
                "Sam Lead",
            )
            assert edited.returncode == 0, edited.stderr
            approved = run(
                "--config", str(companion), "workorders", "approve", wo, "--by", "Sam Lead"
            )
            assert approved.returncode == 0, approved.stderr
            exported = run(
                "--config", str(companion), "workorders", "export", wo, "--mqtt", "--by", "Sam Lead"
            )
            assert exported.returncode == 0, exported.stderr
            assert f"published to {topic} (acknowledged)" in exported.stdout
            assert arrived.wait(20), "the work order never reached the demo broker"
            message = json.loads(payloads[0])
            # the CMMS gets the order as approved (it is marked exported once delivered)
            assert message["id"] == wo and message["status"] == "approved"
            assert message["approved_by"] == "Sam Lead"
            assert message["estimated_duration_h"] == 2

            exports = data / "demo" / "exports"
            on_disk = json.loads((exports / f"{wo}.json").read_text(encoding="utf-8"))
            assert on_disk["approved_by"] == "Sam Lead"
            with (exports / "workorders.csv").open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
            assert [r for r in rows if wo in r.values()], "the CSV holds the work order"
            again = run("--config", str(companion), "workorders", "export", wo, "--by", "Sam")
            assert again.returncode == 9 and "already exported" in again.stderr
        finally:
            subscriber.loop_stop()
            subscriber.disconnect()
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            _, err = demo.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            _, err = demo.communicate()
    assert demo.returncode == 0, err


def test_demo_refuses_a_bad_fault_schedule(tmp_path: Path) -> None:
    result = run("demo", "--headless", "--fault-ramp", "0", data_dir=tmp_path)
    assert result.returncode == 2
    assert "--fault-ramp more than 0 seconds" in result.stderr
    assert not (tmp_path / "demo").exists()  # refused before anything started
