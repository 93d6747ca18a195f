"""The MQTT sync uplink: outbox batches to a cloud broker, one QoS 1 message per batch."""

from __future__ import annotations

from assistant.errors import ConnectorError
from assistant.schema.sync import Ack, UplinkError, compress
from assistant.settings import MqttSettings
from connectors.mqtt.client import where
from connectors.mqtt.publisher import MqttPublisher


class MqttUplink:
    """Sends outbox batches to a cloud broker: one QoS 1 message per batch, gzip JSON.

    The topic is ``<prefix>/<site>``. A batch counts as delivered once the broker has
    acknowledged it (PUBACK); the cloud subscriber (:class:`MqttRecordSubscriber`) keeps a
    persistent QoS 1 session, so the broker holds batches while the receiver is away, and the
    receiver de-duplicates by key, so a batch re-sent after a crash is stored once.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        topic_prefix: str,
        site: str,
        gzip: bool = True,
        timeout_s: float = 10.0,
    ) -> None:
        self._settings = settings
        self._topic = f"{topic_prefix.rstrip('/')}/{site}"
        self._gzip = gzip
        self._timeout_s = timeout_s
        self._publisher: MqttPublisher | None = None

    @property
    def where(self) -> str:
        """Return the broker and topic, for messages."""
        return f"mqtt://{where(self._settings)}/{self._topic}"

    def send(self, payload: bytes, count: int) -> tuple[Ack, int]:
        """Publish one batch of ``count`` records; return the acknowledgement and bytes sent."""
        body = compress(payload) if self._gzip else payload
        try:
            if self._publisher is None:
                publisher = MqttPublisher(
                    self._settings, client_id=self._settings.client_id, timeout_s=self._timeout_s
                )
                publisher.connect(self._timeout_s)
                self._publisher = publisher
            self._publisher.publish(self._topic, body, qos=1)
        except ConnectorError as exc:
            self.close()
            raise UplinkError(f"cloud broker: {exc}") from exc
        return Ack(count, 0), len(body)

    def close(self) -> None:
        """Disconnect from the cloud broker."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()
