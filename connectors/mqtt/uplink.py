"""The MQTT sync uplink: outbox batches to a cloud broker, delivered once the receiver answers.

The broker's PUBACK says only that the broker took a batch. A batch counts as delivered when
the cloud receiver's reply arrives on ``<prefix>/<site>/ack``: it names the batch by the
sha256 of the message and carries the acknowledgement or the refusal. The uplink keeps a
persistent session subscribed to that topic, so a reply that comes while the uplink waits no
longer (the receiver was down) is held by the broker and taken on the next send: the same
batch sent again is then answered from it without publishing it twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import paho.mqtt.client as paho

from assistant.errors import ConnectorError
from assistant.schema.sync import (
    Ack,
    Reply,
    UplinkError,
    ack_topic,
    batch_digest,
    compress,
    decode_reply,
)
from assistant.settings import MqttSettings
from connectors.mqtt.client import where
from connectors.mqtt.publisher import MqttPublisher

log = logging.getLogger(__name__)

KEPT_REPLIES = 1024
"""Replies remembered for batches not (or no longer) waited for."""


class _ReplyingPublisher(MqttPublisher):
    """The publisher on a persistent session, subscribed to the receiver's replies."""

    def __init__(
        self, settings: MqttSettings, *, reply_topic: str, timeout_s: float, uplink: MqttUplink
    ) -> None:
        super().__init__(settings, client_id=settings.client_id, timeout_s=timeout_s)
        self._reply_topic = reply_topic
        self._uplink = uplink
        self.listening = threading.Event()
        self.refused_subscription = False

    def _new_client(self, client_id: str, *, clean: bool) -> paho.Client:
        client = super()._new_client(client_id, clean=False)
        client.on_message = self._on_reply
        return client

    def _connect(self, client: paho.Client, *, clean: bool, expiry_s: int, wait: bool) -> None:
        # the session outlives the connection so that the broker holds late replies
        expiry = self._settings.session_expiry_s
        super()._connect(client, clean=False, expiry_s=expiry, wait=wait)

    def _connected(self, client: paho.Client, session_present: bool) -> None:
        self.listening.clear()
        client.subscribe(self._reply_topic, qos=1)
        super()._connected(client, session_present)

    def _subscribe_answered(self, mid: int, refused: list[bool]) -> None:
        self.refused_subscription = any(refused)
        if not self.refused_subscription:
            self.listening.set()

    def _disconnected(self, reason: str, by_server: bool) -> None:
        self.listening.clear()
        super()._disconnected(reason, by_server)

    def _on_reply(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        payload: bytes = message.payload  # type: ignore[assignment]
        self._uplink.take_reply(payload)


class MqttUplink:
    """Sends outbox batches to a cloud broker (one QoS 1 message each, gzip JSON) and waits
    up to ``ack_timeout_s`` for the receiver's reply; the topic is ``<prefix>/<site>``."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        topic_prefix: str,
        site: str,
        gzip: bool = True,
        timeout_s: float = 10.0,
        ack_timeout_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._topic = f"{topic_prefix.rstrip('/')}/{site}"
        self._gzip = gzip
        self._timeout_s = timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._publisher: _ReplyingPublisher | None = None
        self._replies: OrderedDict[str, Reply] = OrderedDict()
        self._arrived = threading.Condition()

    @property
    def where(self) -> str:
        """Return the broker and topic, for messages."""
        return f"mqtt://{where(self._settings)}/{self._topic}"

    def take_reply(self, payload: bytes) -> None:
        """Keep a reply of the receiver (called on paho's thread) and wake a waiting send."""
        try:
            reply = decode_reply(payload)
        except ValueError as exc:
            log.warning("ignoring a malformed reply on '%s': %s", ack_topic(self._topic), exc)
            return
        with self._arrived:
            self._replies[reply.batch] = reply
            self._replies.move_to_end(reply.batch)
            while len(self._replies) > KEPT_REPLIES:
                self._replies.popitem(last=False)
            self._arrived.notify_all()

    def _reply(self, batch: str, timeout: float) -> Reply | None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while batch not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._arrived.wait(remaining)
            return self._replies.pop(batch)

    def _connected(self) -> _ReplyingPublisher:
        if self._publisher is None:
            publisher = _ReplyingPublisher(
                self._settings,
                reply_topic=ack_topic(self._topic),
                timeout_s=self._timeout_s,
                uplink=self,
            )
            publisher.connect(self._timeout_s)
            self._publisher = publisher
        publisher = self._publisher
        if not publisher.listening.wait(self._timeout_s):
            why = "refused" if publisher.refused_subscription else "did not confirm"
            raise ConnectorError(
                f"the cloud broker {why} the subscription to '{ack_topic(self._topic)}' "
                "(the receiver's replies)"
            )
        return publisher

    def send(self, payload: bytes, count: int) -> tuple[Ack, int]:
        """Publish one batch of ``count`` records; return the receiver's acknowledgement and
        the bytes sent. UplinkError when no reply came in time, BatchRefused for a refusal."""
        body = compress(payload) if self._gzip else payload
        batch = batch_digest(body)
        sent = 0
        try:
            publisher = self._connected()
            reply = self._reply(batch, 0.0)  # answered after an earlier attempt gave up
            if reply is None:
                publisher.publish(self._topic, body, qos=1)
                sent = len(body)
                reply = self._reply(batch, self._ack_timeout_s)
        except ConnectorError as exc:
            self.close()
            raise UplinkError(f"cloud broker: {exc}") from exc
        if reply is None:
            raise UplinkError(
                f"the cloud broker {self.where} took the batch but the receiver did not "
                f"acknowledge it within {self._ack_timeout_s:g} s; it stays queued"
            )
        return reply.outcome(count), sent

    def close(self) -> None:
        """Disconnect from the cloud broker (the session keeps replies that come meanwhile)."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()
