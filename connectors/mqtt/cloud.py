"""The cloud side of the MQTT sync uplink: batches from a broker, answered and acknowledged
once stored or refused.

With a shared-subscription ``group`` (``cloud.mqtt_shared_group``) the filter is subscribed as
``$share/<group>/<filter>`` (MQTT 5, and Mosquitto 2 for 3.1.1 clients too): the broker hands
each batch to one receiver of the group, so several receivers against one database split the
load and none stores a batch another one took.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from assistant.errors import ConnectorError
from assistant.settings import MqttSettings
from connectors.mqtt.client import MqttRole

log = logging.getLogger(__name__)

RecordHandler = Callable[[str, bytes], tuple[str, bytes] | None]
"""Called with (topic, payload) on paho's thread once per message; returns the reply to
publish (topic, payload) or None. The message is acknowledged once it returns."""


def shared_filter(topic_filter: str, group: str | None) -> str:
    """Return the filter to subscribe: ``$share/<group>/<filter>`` with a group, else as is."""
    if group is None:
        return topic_filter
    if not group or any(c in group for c in "/+#$"):
        raise ConnectorError(f"shared subscription group {group!r} must not hold / + # or $")
    return f"$share/{group}/{topic_filter}"


class MqttRecordSubscriber(MqttRole):
    """The cloud side: takes batches from a broker with a persistent QoS 1 session.

    A message is acknowledged only after the handler returned (the batch is stored, or is
    hopeless, e.g. garbage or a wrong token) and its reply, if any, was handed to paho (QoS 1,
    so paho sends it after a reconnect too); when the handler raises, the message is not
    acknowledged and the broker delivers it again on the next connection.
    """

    def __init__(
        self,
        settings: MqttSettings,
        topic_filter: str,
        handler: RecordHandler,
        *,
        group: str | None = None,
    ) -> None:
        super().__init__(settings)
        self._filter = shared_filter(topic_filter, group)
        self._handler = handler
        self._subscribed = threading.Event()
        self.received = 0
        self.failed = 0
        self.replied = 0

    def start(self) -> None:
        """Connect in the background and subscribe (again after every reconnect)."""
        settings = self._settings
        client = self._new_client(settings.client_id, clean=False)
        client.manual_ack_set(True)
        client.on_message = self._on_message
        self._connect(client, clean=False, expiry_s=settings.session_expiry_s, wait=False)
        self._client = client

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until subscribed; return False if that took longer than timeout."""
        return self._subscribed.wait(timeout)

    def subscribed(self) -> bool:
        """Return whether the session is up and the topic filter subscribed."""
        return self._subscribed.is_set()

    def stop(self) -> None:
        """Disconnect (the broker keeps the session and queues what arrives meanwhile)."""
        self._disconnect()
        self._subscribed.clear()

    # -- hooks and on_message (paho's network thread) ----------------------------------------

    def _connected(self, client: paho.Client, session_present: bool) -> None:
        self._subscribed.clear()
        client.subscribe(self._filter, qos=1)

    def _refused(self, reason: str) -> None:
        self._subscribed.clear()
        log.warning("cloud broker %s refused the connection: %s", self._where, reason)

    def _subscribe_answered(self, mid: int, refused: list[bool]) -> None:
        self._subscribed.set()

    def _disconnected(self, reason: str, by_server: bool) -> None:
        self._subscribed.clear()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.received += 1
        try:
            payload: bytes = message.payload  # type: ignore[assignment]
            reply = self._handler(message.topic, payload)
        except Exception as exc:  # must not kill paho's network thread; not acknowledged
            self.failed += 1
            log.warning("storing a batch from '%s' failed: %s", message.topic, exc, exc_info=exc)
            return
        if reply is not None:
            client.publish(reply[0], reply[1], qos=1)
            self.replied += 1
        client.ack(message.mid, message.qos)
