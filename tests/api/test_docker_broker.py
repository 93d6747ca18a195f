"""The compose file's broker: passwords from the environment, an ACL per user, nothing
published to the host. The password script and the ACL run in a real Mosquitto here."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml

from tests.brokers import Mosquitto, MosquittoFactory
from tests.conftest import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
PASSWORDS = {"shiftmate": "s3cret-edge", "gateway": "s3cret-gw", "cmms": "s3cret-cmms"}


def compose() -> dict[str, Any]:
    """Return the parsed compose file."""
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def test_the_broker_is_not_published_and_every_password_is_required() -> None:
    services = compose()["services"]
    assert "ports" not in services["mosquitto"]  # only the compose network reaches 1883
    env = services["shiftmate"]["environment"]
    assert env["SHIFTMATE_MQTT__USERNAME"] == "shiftmate"
    assert env["SHIFTMATE_MQTT__PASSWORD"].startswith("${SHIFTMATE_MQTT_PASSWORD:?")
    assert env["SHIFTMATE_WORKORDERS__MQTT_TOPIC"] == "shiftmate/workorders"
    for name, value in services["mosquitto-users"]["environment"].items():
        assert value.startswith("${" + name + ":?"), name  # compose refuses to start without
    assert services["mosquitto"]["depends_on"]["mosquitto-users"] == {
        "condition": "service_completed_successfully"
    }


def write_password_file(path: Path) -> None:
    """Run the mosquitto-users service's own script, with its paths pointed at ``path``."""
    script = services_script().replace("/mosquitto/passwords/passwords", str(path))
    subprocess.run(
        ["sh", "-c", script.replace("$$", "$")],
        env={**os.environ, **{f"{u.upper()}_MQTT_PASSWORD": p for u, p in PASSWORDS.items()}},
        check=True,
        capture_output=True,
        timeout=60,
    )


def services_script() -> str:
    """Return the shell script the mosquitto-users service runs."""
    entrypoint = compose()["services"]["mosquitto-users"]["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"]
    return str(entrypoint[2])


class Client:
    """A paho client logged in as one user, collecting what it receives."""

    def __init__(self, port: int, user: str | None, password: str | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.reason: Any = None
        self.subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"acl-{user}-{time.monotonic_ns()}"
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.reason = reason
        self.connected.set()

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for the broker's answer."""
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement."""
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def acl_broker(tmp_path: Path, make_mosquitto: MosquittoFactory) -> Mosquitto:
    """A real Mosquitto with the compose file's ACL and a password file made by its script."""
    passwords = tmp_path / "passwords"
    write_password_file(passwords)
    assert passwords.stat().st_mode & 0o077 == 0  # umask 077: readable by its owner only
    return make_mosquitto(
        extra_config=[
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {DOCKER / 'mosquitto' / 'acl'}",
        ]
    )


def forge(port: int, user: str, topic: str, payload: bytes) -> None:
    """Publish where the ACL grants the user nothing (Mosquitto may drop the connection)."""
    client = Client(port, user, PASSWORDS[user])
    try:
        assert client.connected.wait(10) and not client.reason.is_failure
        with contextlib.suppress(RuntimeError, ValueError):
            client.client.publish(topic, payload, qos=1).wait_for_publish(2)
    finally:
        client.close()


def test_each_user_may_do_only_what_the_acl_grants(acl_broker: Mosquitto) -> None:
    port = acl_broker.port
    edge = Client(port, "shiftmate", PASSWORDS["shiftmate"])
    gateway = Client(port, "gateway", PASSWORDS["gateway"])
    cmms = Client(port, "cmms", PASSWORDS["cmms"])
    try:
        for client in (edge, gateway, cmms):
            assert client.connected.wait(10) and not client.reason.is_failure
        for client in (edge, gateway, cmms):
            client.subscribe("#")  # asks for everything; gets only what it may read
        forge(port, "gateway", "shiftmate/workorders", b"forged by the gateway")
        forge(port, "shiftmate", "plant/riverbend/P-101/flow", b"forged by shiftmate")
        forge(port, "shiftmate", "shiftmate/uplink/riverbend", b"not granted")
        forge(port, "cmms", "shiftmate/workorders", b"forged by the cmms")
        gateway.publish("plant/riverbend/P-101/flow", b"42.0")
        edge.publish("shiftmate/workorders", b"WO-1 approved")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (edge.received and cmms.received):
            time.sleep(0.05)
        time.sleep(0.5)  # time for anything that should not arrive to arrive
        assert edge.received == [("plant/riverbend/P-101/flow", b"42.0")]
        assert cmms.received == [("shiftmate/workorders", b"WO-1 approved")]
        assert gateway.received == []  # write-only
    except BaseException:
        print(acl_broker.log())
        raise
    finally:
        for client in (edge, gateway, cmms):
            client.close()


@pytest.mark.parametrize(
    ("user", "password"), [(None, None), ("shiftmate", "wrong"), ("intruder", "x")]
)
def test_anonymous_and_wrong_logins_are_refused(
    acl_broker: Mosquitto, user: str | None, password: str | None
) -> None:
    client = Client(acl_broker.port, user, password)
    try:
        assert client.connected.wait(10)
        assert client.reason.is_failure
    finally:
        client.close()
