"""The telemetry commands end to end against a real Mosquitto: simulate, monitor, telemetry,
replay, with bad payloads thrown in."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as paho

from tests.brokers import Mosquitto
from tests.cli.test_cli import SHIFTMATE, run
from tests.conftest import PROJECT_ROOT, SAMPLE_PLANT, SHARED_DATA

SKAB_FILE = SHARED_DATA / "telemetry" / "skab" / "data" / "valve1" / "1.csv"
SKAB_PLANT = PROJECT_ROOT / "connectors" / "replay_maps" / "skab_plant.toml"


def _env(broker: Mosquitto, plant: Path = SAMPLE_PLANT / "plant.toml") -> dict[str, str]:
    return {
        "SHIFTMATE_MQTT__HOST": "127.0.0.1",
        "SHIFTMATE_MQTT__PORT": str(broker.port),
        "SHIFTMATE_PLANT__FILE": str(plant),
    }


def _start_monitor(broker: Mosquitto, data_dir: Path, seconds: float) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    env.update(_env(broker))
    process = subprocess.Popen(
        [
            str(SHIFTMATE),
            "--data-dir",
            str(data_dir),
            "monitor",
            "--json",
            "--duration",
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    )
    deadline = time.monotonic() + 60
    while "monitoring" not in (line := process.stderr.readline() if process.stderr else ""):
        assert process.poll() is None and time.monotonic() < deadline, "monitor did not start"
        del line
    return process


def _publish_garbage(broker: Mosquitto) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="garbage")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    base = "plant/riverbend/P-101"
    for topic, payload in [
        (f"{base}/flow", b"not json"),
        (f"{base}/flow", b'{"value": NaN}'),
        (f"{base}/flow", b'{"value": "high"}'),
        (f"{base}/flow", b'{"value": 1, "ts": 99999999999}'),
        (f"{base}/flow", b"x" * 10_000),
        (f"{base}/no_such_tag", b'{"value": 1}'),
    ]:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_simulate_monitor_and_telemetry_with_bad_payloads(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    monitor = _start_monitor(mosquitto, tmp_path / "mon", seconds=25)
    _publish_garbage(mosquitto)
    simulate = run(
        "simulate",
        "--rate",
        "4",
        "--speed",
        "8",
        "--duration",
        "12",
        "--fault",
        "cavitation@P-101+5",
        env=_env(mosquitto),
        data_dir=tmp_path,
    )
    assert simulate.returncode == 0, simulate.stderr
    assert "published" in simulate.stderr

    shown = run("telemetry", "--json", "--wait", "0.5", env=_env(mosquitto), data_dir=tmp_path)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert {r["asset"] for r in rows} >= {"P-101", "C-3", "HX-12"}

    out, err = monitor.communicate(timeout=90)
    assert monitor.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    events, counters = lines[:-1], lines[-1]["counters"]
    raised = {(e["asset"], e["tag"], e["level"]) for e in events if e["state"] == "raised"}
    assert ("P-101", "suction_pressure", "lo") in raised, raised
    assert all({"asset", "tags", "kind", "state", "value", "ts"} <= set(e) for e in events)
    # (A topic outside the plant is never subscribed to, so it is not even received.)
    for reason in ("not_json", "not_finite", "wrong_type", "future_timestamp", "too_large"):
        assert counters[f"rejected_{reason}"] >= 1, (reason, counters)
    assert counters["accepted"] > 100


def test_replay_of_a_skab_file_as_it_is(mosquitto: Mosquitto, tmp_path: Path) -> None:
    result = run(
        "replay",
        str(SKAB_FILE),
        "--asset",
        "SKAB-PUMP",
        "--map",
        "skab",
        "--speed",
        "0",
        "--plant",
        str(SKAB_PLANT),
        env=_env(mosquitto, SKAB_PLANT),
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rows = len(SKAB_FILE.read_text().splitlines()) - 1
    assert f"{rows} rows, separator ';'" in result.stderr
    assert f"published {rows * 8} messages" in result.stderr


def test_commands_without_a_broker_or_plant_say_what_to_set(tmp_path: Path) -> None:
    result = run("telemetry", data_dir=tmp_path)
    assert result.returncode == 2
    assert "plant.file" in result.stderr and "Traceback" not in result.stderr
    result = run(
        "simulate",
        env={"SHIFTMATE_PLANT__FILE": str(SAMPLE_PLANT / "plant.toml")},
        data_dir=tmp_path,
    )
    assert result.returncode == 2 and "mqtt.host" in result.stderr
    result = run(
        "telemetry",
        "--wait",
        "0",
        data_dir=tmp_path,
        env={
            "SHIFTMATE_PLANT__FILE": str(SAMPLE_PLANT / "plant.toml"),
            "SHIFTMATE_MQTT__HOST": "127.0.0.1",
            "SHIFTMATE_MQTT__PORT": "1",
        },
    )
    assert result.returncode == 2 and "cannot reach the MQTT broker 127.0.0.1:1" in result.stderr


def test_ask_listens_to_the_broker_and_cites_live_values(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    env.update(_env(mosquitto))
    simulator = subprocess.Popen(
        [
            str(SHIFTMATE),
            "--data-dir",
            str(tmp_path),
            "simulate",
            "--rate",
            "2",
            "--duration",
            "60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=PROJECT_ROOT,
    )
    try:
        result = run(
            "ask",
            "What is the flow of P-101 right now?",
            "--json",
            "--listen",
            "4",
            env=_env(mosquitto),
            data_dir=tmp_path,
        )
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    flow = next(t for t in answer["telemetry"] if t["asset"] == "P-101" and t["tag"] == "flow")
    assert flow["value"] is not None and flow["unit"] == "m3/h"
    assert f"P-101 flow is {flow['value']:.3g} m3/h" in answer["answer"]
    assert f"[{flow['id']}]" in answer["answer"]
