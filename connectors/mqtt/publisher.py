"""Publishing with the broker's acknowledgement: simulator, replay, work-order export, tests."""

from __future__ import annotations

import threading
import time
import uuid
from types import TracebackType
from typing import Self

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from assistant.errors import ConnectorError
from assistant.settings import MqttSettings
from connectors.mqtt.client import MqttRole, error_text, tls_hint


class MqttPublisher(MqttRole):
    """Publishes to the broker; QoS 1 and 2 calls return once the broker has acknowledged.

    While the connection is down paho reconnects in the background and a pending publish
    waits for it, up to ``timeout_s``. A publish that times out may still be delivered later
    (QoS 1 is at least once).
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(settings)
        self._client_id = client_id or f"shiftmate-pub-{uuid.uuid4().hex[:12]}"
        self._timeout_s = timeout_s
        self._answered = threading.Event()
        self._up = threading.Event()
        self._refusal: str | None = None
        self._dropped: str | None = None

    def connect(self, timeout: float = 10.0) -> None:
        """Connect; raise ConnectorError naming host:port and why if that fails."""
        if self._client is not None:
            return
        client = self._new_client(self._client_id, clean=True)
        client.connect_timeout = timeout
        self._answered.clear()
        self._refusal = self._dropped = None
        try:
            self._connect(client, clean=True, expiry_s=0, wait=True)
        except OSError as exc:
            raise ConnectorError(
                f"cannot connect to MQTT broker {self._where}: {exc.strerror or exc}"
            ) from exc
        answered = self._answered.wait(timeout)
        if answered and self._refusal is None and self._dropped is None:
            self._client = client
            return
        client.disconnect()
        client.loop_stop()
        if self._refusal is not None:
            raise ConnectorError(
                f"MQTT broker {self._where} refused the connection: {self._refusal}"
            )
        why = (
            f"it closed the connection before answering ({self._dropped})"
            if self._dropped is not None
            else f"no answer within {timeout:g} s"
        )
        raise ConnectorError(
            f"cannot connect to MQTT broker {self._where}: {why}{tls_hint(self._settings)}"
        )

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message; for QoS >= 1 wait for the broker's acknowledgement."""
        client = self._client
        if client is None:
            raise ConnectorError(f"not connected to MQTT broker {self._where}: call connect()")
        deadline = time.monotonic() + self._timeout_s
        info = client.publish(topic, payload, qos=qos, retain=retain)
        while qos == 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # paho drops a QoS 0 message it cannot send: wait for the reconnect and retry.
            self._wait_up(deadline, topic)
            info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos > 0:
            # paho keeps a QoS > 0 message queued and sends it once reconnected; its rc would
            # stay NO_CONN though, so mark it pending to wait for the acknowledgement below.
            info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectorError(
                f"cannot publish to '{topic}' on MQTT broker {self._where}: {error_text(info.rc)}"
            )
        if qos == 0:
            return
        while not info.is_published():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "connected" if self._up.is_set() else "disconnected"
                raise ConnectorError(
                    f"MQTT broker {self._where} did not acknowledge a message to '{topic}' "
                    f"within {self._timeout_s:g} s ({state})"
                )
            info.wait_for_publish(min(remaining, 0.5))

    def _wait_up(self, deadline: float, topic: str) -> None:
        if not self._up.wait(max(0.0, deadline - time.monotonic())):
            raise ConnectorError(
                f"cannot publish to '{topic}': not connected to MQTT broker "
                f"{self._where} within {self._timeout_s:g} s"
            )

    def close(self) -> None:
        """Disconnect cleanly (queued QoS 0 messages are flushed first)."""
        self._disconnect()
        self._up.clear()

    def __enter__(self) -> Self:
        self.connect(self._timeout_s)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- hooks (paho's network thread) -------------------------------------------------------

    def _connected(self, client: paho.Client, session_present: bool) -> None:
        self._up.set()
        self._answered.set()

    def _refused(self, reason: str) -> None:
        self._refusal = reason
        self._answered.set()

    def _disconnected(self, reason: str, by_server: bool) -> None:
        self._up.clear()
        if not self._answered.is_set():
            self._dropped = reason
            self._answered.set()
