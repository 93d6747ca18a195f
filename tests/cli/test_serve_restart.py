"""``shiftmate serve`` killed with SIGKILL mid-stream and started again: nothing is lost.

A real Mosquitto, ``shiftmate simulate`` publishing the sample plant at QoS 1 with a sequence
number per topic, and a plain paho subscriber recording what was published (the reference).
The server is SIGKILLed while the simulator runs and started again on the same data dir; its
store must then hold every published reading of the tag exactly once (zero sequence gaps),
those from before the kill included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.brokers import HOST, Mosquitto, free_port
from tests.cli.test_cli import SHIFTMATE, run
from tests.conftest import PROJECT_ROOT, SAMPLE_PLANT

TOPIC = "plant/riverbend/P-101/flow"
RATE_HZ = 5
DURATION_S = 24


class Recorder:
    """A clean-session QoS 1 subscriber keeping every (seq, ts) published on one topic."""

    def __init__(self, broker: Mosquitto) -> None:
        self.points: dict[int, float] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="reference")
        self._client.on_message = self._message
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.connect(HOST, broker.port)
        self._client.subscribe(TOPIC, qos=1)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the reference subscriber did not subscribe"

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        body = json.loads(message.payload)
        with self._lock:
            self.points[int(body["seq"])] = float(body["ts"])

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def _env(broker: Mosquitto) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    env.update(
        {
            "SHIFTMATE_MQTT__HOST": HOST,
            "SHIFTMATE_MQTT__PORT": str(broker.port),
            "SHIFTMATE_MQTT__RECONNECT_MIN_S": "0.2",
            "SHIFTMATE_MQTT__RECONNECT_MAX_S": "1",
            "SHIFTMATE_PLANT__FILE": str(SAMPLE_PLANT / "plant.toml"),
            "SHIFTMATE_TELEMETRY__SNAPSHOT_INTERVAL_S": "5",
        }
    )
    return env


def _serve(data: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SHIFTMATE), "--data-dir", str(data), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_up(server: subprocess.Popen[str], url: str) -> float:
    """Wait until the server answers /health; return how long that took."""
    started = time.monotonic()
    while True:
        assert server.poll() is None, server.communicate()[1]
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < 180, "shiftmate serve did not come up"
        time.sleep(0.2)


def _window(url: str, key: str) -> list[float]:
    response = httpx.get(
        f"{url}/v1/assets/P-101",
        params={"window_s": 3600, "max_points": 10000},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    (flow,) = [t for t in response.json()["tags"] if t["tag"] == "flow"]
    return [float(point[0]) for point in flow["window"]]


def test_sigkilled_serve_restarts_with_every_acknowledged_reading(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    data = tmp_path / "edge"
    created = run("keys", "create", "--role", "operator", "--name", "crash", data_dir=data)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    env = _env(mosquitto)
    port = free_port()
    url = f"http://{HOST}:{port}"
    recorder = Recorder(mosquitto)
    server = _serve(data, port, env)
    simulator: subprocess.Popen[str] | None = None
    try:
        _wait_up(server, url)
        simulator = subprocess.Popen(
            [
                *(str(SHIFTMATE), "--data-dir", str(tmp_path / "sim"), "simulate"),
                *("--rate", str(RATE_HZ), "--duration", str(DURATION_S)),
            ],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(before := _window(url, key)) < 8 * RATE_HZ:  # several snapshots' worth
            assert time.monotonic() < deadline, "no telemetry reached the server"
            time.sleep(0.5)
        server.send_signal(signal.SIGKILL)
        server.communicate()
        time.sleep(2)  # the simulator keeps publishing; the broker queues for the session
        server = _serve(data, port, env)
        _wait_up(server, url)
        _, sim_err = simulator.communicate(timeout=120)
        assert simulator.returncode == 0, sim_err
        ticks = RATE_HZ * DURATION_S
        deadline = time.monotonic() + 60
        while len(recorder.points) < ticks or len(_window(url, key)) < ticks:
            assert time.monotonic() < deadline, (len(recorder.points), len(_window(url, key)))
            time.sleep(0.5)
        after = _window(url, key)
    finally:
        recorder.close()
        if simulator is not None and simulator.poll() is None:
            simulator.kill()
            simulator.communicate()
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=60)
    assert sorted(recorder.points) == list(range(ticks)), "the reference itself missed some"
    published = [recorder.points[seq] for seq in range(ticks)]
    assert after == published, (
        f"{len(set(published) - set(after))} published readings missing from the store, "
        f"{len(after) - len(set(after))} duplicated"
    )
    assert set(before) <= set(after)  # the window from before the kill survived it
    assert server.returncode == 0
