"""MQTT in and out over paho-mqtt 2.x: the only module of Shiftmate that imports paho.

:class:`MqttConnector` subscribes to every topic of the plant and turns messages into
:class:`~assistant.domain.Reading` batches for the core; :class:`MqttPublisher` publishes with
the broker's acknowledgement (simulator, replay, tests).

Threads of the connector: paho's network thread runs ``on_message``, which only decodes (a few
microseconds) and appends to a bounded in-memory buffer; a consumer thread drains the buffer
in batches and calls the sink. The network thread therefore never waits on the core, so keep
alives and acknowledgements keep flowing while the sink is busy.

Full buffer: when the core falls ``mqtt.queue_size`` readings behind, the newest readings are
dropped and counted (``queue_full``) instead of blocking the network thread. Blocking would
stall keep alives until the broker drops the connection, and would only move the loss into
the broker's own queue limits; the buffer absorbs bursts, and a core slower than the plant
for good loses data either way, so the connector keeps it visible and stays connected.

Delivery: a stable client id, a persistent session (``clean_start = false``, MQTT 5 session
expiry) and QoS 1 subscriptions let the broker keep what is published while the connector is
briefly away and deliver it when it returns. Messages are acknowledged to the broker as soon as
they are decoded and buffered, not when the sink has stored them: readings still in the buffer
when the process dies are lost (at most ``mqtt.queue_size``), and a sink that raises loses
its batch (logged and counted in ``sink_errors``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from assistant.domain import Reading
from assistant.errors import ConfigError, ConnectorError
from assistant.settings import MqttSettings
from assistant.sync.wire import Ack, UplinkError, compress
from connectors.codec import REASONS, Decoder, PayloadError

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]

BATCH_MAX = 2048
"""Most readings handed to the sink in one call."""
LINGER_S = 0.005
"""How long the consumer lets readings gather after a wake-up (adds at most this latency)."""

COUNTER_NAMES = (
    "received",
    "accepted",
    *(f"rejected_{reason}" for reason in REASONS),
    "decode_errors",
    "queue_full",
    "delivered",
    "sink_errors",
    "connects",
    "disconnects",
)


class _RateLimitedLog:
    """Log at most one line per key and interval, saying how many were suppressed meanwhile."""

    def __init__(self, interval_s: float, clock: Callable[[], float]) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, *, exc_info: BaseException | None = None) -> None:
        """Log one warning for a key unless one was logged less than an interval ago."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += f" ({suppressed} more since the last report)"
        log.warning("%s", message, exc_info=exc_info)


def _where(settings: MqttSettings) -> str:
    return f"{settings.host}:{settings.port}"


def _require_host(settings: MqttSettings) -> str:
    if not settings.host:
        raise ConfigError("mqtt.host is not set: there is no MQTT broker to connect to")
    return settings.host


def _new_client(settings: MqttSettings, client_id: str, *, clean: bool) -> paho.Client:
    """Build a paho client with the protocol, credentials, TLS and backoff of the settings."""
    v5 = settings.protocol == "5"
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else clean,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
    )
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        try:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
            )
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise ConfigError(
                f"mqtt TLS files (ca_file, cert_file, key_file) cannot be loaded: {exc}"
            ) from exc
    # paho annotates the delays as int but waits fractional seconds just as well.
    low = settings.reconnect_min_s
    client.reconnect_delay_set(cast(int, low), cast(int, max(low, settings.reconnect_max_s)))
    return client


def _connect_kwargs(settings: MqttSettings, *, clean: bool, expiry_s: int) -> dict[str, Any]:
    """Return the MQTT 5 clean start flag and session expiry (nothing for 3.1.1)."""
    if settings.protocol != "5":
        return {}
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = expiry_s
    return {"clean_start": clean, "properties": properties}


class MqttConnector:
    """Subscribes to the plant's topics and hands decoded readings to a sink, in batches.

    ``sink`` runs on the connector's own consumer thread, one call per batch of at most
    ``BATCH_MAX`` readings, in arrival order. ``clock`` gives the arrival time (Unix seconds)
    used for payloads without a timestamp and for the log rate limit.
    """

    def __init__(
        self,
        settings: MqttSettings,
        decoder: Decoder,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._host = _require_host(settings)
        self._settings = settings
        self._decoder = decoder
        self._sink = sink
        self._clock = clock
        self._where = _where(settings)
        self._topics = sorted(decoder.routes)
        self._capacity = settings.queue_size
        # Producer: paho's network thread only; consumer: self._consumer only. deque's append,
        # extend and popleft are atomic, so the buffer needs no lock.
        self._buffer: deque[Reading] = deque()
        self._wakeup = threading.Event()
        self._stopping = False
        self._client: paho.Client | None = None
        self._consumer: threading.Thread | None = None
        self._subscribed = threading.Event()
        self._session_up = False
        self._subscribe_mid: int | None = None
        self._closing = False
        self._state = "stopped"
        self._last_error: str | None = None
        self._payload_log = _RateLimitedLog(settings.log_interval_s, clock)
        self._other_log = _RateLimitedLog(settings.log_interval_s, clock)
        # Each counter has one writing thread; readers only ever see a stale value.
        self._received = 0
        self._accepted = 0
        self._rejected = dict.fromkeys(REASONS, 0)
        self._decode_errors = 0
        self._queue_full = 0
        self._delivered = 0
        self._sink_errors = 0
        self._connects = 0
        self._disconnects = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        if self._client is not None:
            return
        settings = self._settings
        client = _new_client(settings, settings.client_id, clean=settings.clean_start)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._stopping = False
        self._closing = False
        self._consumer = threading.Thread(
            target=self._consume, name=f"mqtt-consumer-{settings.client_id}", daemon=True
        )
        self._consumer.start()
        self._state = f"connecting to {self._where}"
        client.connect_async(
            self._host,
            settings.port,
            settings.keepalive_s,
            **_connect_kwargs(
                settings, clean=settings.clean_start, expiry_s=settings.session_expiry_s
            ),
        )
        self._client = client
        client.loop_start()

    def stop(self) -> None:
        """Disconnect (the broker keeps the session), then hand the buffered readings over."""
        client, self._client = self._client, None
        if client is not None:
            self._closing = True
            client.disconnect()
            client.loop_stop()
        self._subscribed.clear()
        self._session_up = False
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._stopping = True
            self._wakeup.set()
            consumer.join()
        self._state = "stopped"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- status ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Return whether the session is up and the plant's topics are subscribed."""
        return self._subscribed.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected and subscribed; return False if that took longer than timeout."""
        return self._subscribed.wait(timeout)

    @property
    def state(self) -> str:
        """Return the connection state in words, for a status bar."""
        return self._state

    @property
    def last_error(self) -> str | None:
        """Return the last connection problem in words (kept after recovery), or None."""
        return self._last_error

    def counters(self) -> dict[str, int]:
        """Return the counters; names in COUNTER_NAMES.

        ``received`` counts messages; ``accepted``, ``queue_full`` (dropped because the buffer
        was full), ``delivered`` (handed to the sink) count readings; ``rejected_<reason>``
        counts messages by PayloadError reason; ``decode_errors`` counts messages the decoder
        failed on unexpectedly; ``queued`` is the current buffer depth.
        """
        counts = {
            "received": self._received,
            "accepted": self._accepted,
            **{f"rejected_{reason}": n for reason, n in self._rejected.items()},
            "decode_errors": self._decode_errors,
            "queue_full": self._queue_full,
            "delivered": self._delivered,
            "sink_errors": self._sink_errors,
            "connects": self._connects,
            "disconnects": self._disconnects,
        }
        counts["queued"] = len(self._buffer)
        return counts

    # -- paho callbacks (network thread: must stay short and must not raise) -----------------

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._session_up = False
            self._fail(f"MQTT broker {self._where} refused the connection: {reason}; retrying")
            return
        self._session_up = True
        self._connects += 1
        resumed = "resumed session" if flags.session_present else "new session"
        self._state = f"subscribing to {len(self._topics)} topics on {self._where}"
        log.info("connected to MQTT broker %s (%s)", self._where, resumed)
        qos: int = self._settings.qos
        rc, mid = client.subscribe([(topic, qos) for topic in self._topics])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._fail(f"cannot subscribe on {self._where}: {paho.error_string(rc)}")
        self._subscribe_mid = mid

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [t for t, r in zip(self._topics, reasons, strict=False) if r.is_failure]
        if refused:
            self._fail(
                f"MQTT broker {self._where} refused {len(refused)} of "
                f"{len(self._topics)} subscriptions, e.g. '{refused[0]}'"
            )
        self._state = f"connected to {self._where} ({len(self._topics)} topics)"
        self._subscribed.set()

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._fail(f"cannot reach MQTT broker {self._where}; retrying")

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._subscribed.clear()
        if not self._session_up:
            return  # a refused or failed attempt, already reported
        self._session_up = False
        self._disconnects += 1
        if self._closing:
            self._state = "stopped"
            return
        if flags.is_disconnect_packet_from_server:
            why = f"the broker ended the session ({reason})"
        elif str(reason) in ("Unspecified error", "Success"):
            why = "connection lost"
        else:
            why = str(reason)
        self._fail(f"lost the connection to MQTT broker {self._where}: {why}; reconnecting")

    def _fail(self, message: str) -> None:
        self._state = message
        self._last_error = message
        self._other_log.warning(message, message)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._received += 1
        try:
            # paho's payload is bytes (struct.unpack), though annotated bytes | bytearray.
            payload: bytes = message.payload  # type: ignore[assignment]
            readings = self._decoder.decode(message.topic, payload, self._clock())
        except PayloadError as exc:
            self._rejected[exc.reason] = self._rejected.get(exc.reason, 0) + 1
            self._payload_log.warning(exc.reason, f"rejected MQTT payload ({exc.reason}): {exc}")
            return
        except Exception as exc:  # a decoder bug must not kill paho's network thread
            self._decode_errors += 1
            self._other_log.warning(
                "decode_error",
                f"decoder failed on a message ({type(exc).__name__}): {exc}",
                exc_info=exc,
            )
            return
        buffer = self._buffer
        if len(buffer) + len(readings) > self._capacity:
            # Drop the newest rather than block the network thread (see the module docstring).
            self._queue_full += len(readings)
            self._other_log.warning(
                "queue_full",
                f"reading buffer full ({self._capacity}, mqtt.queue_size): the "
                "telemetry core is slower than the plant; dropping readings",
            )
            return
        buffer.extend(readings)
        self._accepted += len(readings)
        if not self._wakeup.is_set():
            self._wakeup.set()

    # -- consumer thread ---------------------------------------------------------------------

    def _consume(self) -> None:
        while True:
            self._wakeup.wait()
            if not self._stopping:
                # Let a batch gather: waking once per message would cost more than the message.
                time.sleep(LINGER_S)
            self._wakeup.clear()
            self._drain()
            if self._stopping:
                self._drain()
                return

    def _drain(self) -> None:
        buffer = self._buffer
        popleft = buffer.popleft
        while buffer:
            batch = [popleft() for _ in range(min(len(buffer), BATCH_MAX))]
            try:
                self._sink(batch)
            except Exception as exc:  # the consumer must outlive a failing sink
                self._sink_errors += 1
                self._other_log.warning(
                    "sink_error",
                    f"telemetry sink failed on {len(batch)} readings, which are "
                    f"lost: {type(exc).__name__}: {exc}",
                    exc_info=exc,
                )
            else:
                self._delivered += len(batch)


class MqttPublisher:
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
        self._host = _require_host(settings)
        self._settings = settings
        self._client_id = client_id or f"shiftmate-pub-{uuid.uuid4().hex[:12]}"
        self._timeout_s = timeout_s
        self._where = _where(settings)
        self._client: paho.Client | None = None
        self._answered = threading.Event()
        self._up = threading.Event()
        self._refused: str | None = None
        self._dropped: str | None = None

    def connect(self, timeout: float = 10.0) -> None:
        """Connect; raise ConnectorError naming host:port and why if that fails."""
        if self._client is not None:
            return
        settings = self._settings
        client = _new_client(settings, self._client_id, clean=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_timeout = timeout
        self._answered.clear()
        self._refused = self._dropped = None
        try:
            client.connect(
                self._host,
                settings.port,
                settings.keepalive_s,
                **_connect_kwargs(settings, clean=True, expiry_s=0),
            )
        except OSError as exc:
            raise ConnectorError(
                f"cannot connect to MQTT broker {self._where}: {exc.strerror or exc}"
            ) from exc
        client.loop_start()
        answered = self._answered.wait(timeout)
        if answered and self._refused is None and self._dropped is None:
            self._client = client
            return
        client.disconnect()
        client.loop_stop()
        if self._refused is not None:
            raise ConnectorError(
                f"MQTT broker {self._where} refused the connection: {self._refused}"
            )
        why = (
            f"it closed the connection before answering ({self._dropped})"
            if self._dropped is not None
            else f"no answer within {timeout:g} s"
        )
        if settings.tls:
            why += "; check mqtt.ca_file, cert_file and key_file against the broker's TLS setup"
        raise ConnectorError(f"cannot connect to MQTT broker {self._where}: {why}")

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
                f"cannot publish to '{topic}' on MQTT broker {self._where}: "
                f"{paho.error_string(info.rc)}"
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
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
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

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        else:
            self._up.set()
        self._answered.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._up.clear()
        if not self._answered.is_set():
            self._dropped = str(reason)
            self._answered.set()


# -- cloud sync over MQTT ------------------------------------------------------------------------


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
        return f"mqtt://{_where(self._settings)}/{self._topic}"

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


RecordHandler = Callable[[str, bytes], bool]
"""Called with (topic, payload) on paho's thread; returns whether to acknowledge the message."""


class MqttRecordSubscriber:
    """The cloud side: takes batches from a broker with a persistent QoS 1 session.

    A message is acknowledged only after the handler returned True (the batch is stored or
    is hopeless, e.g. garbage or a wrong token); when the handler raises, the message is not
    acknowledged and the broker delivers it again on the next connection.
    """

    def __init__(self, settings: MqttSettings, topic_filter: str, handler: RecordHandler) -> None:
        self._host = _require_host(settings)
        self._settings = settings
        self._filter = topic_filter
        self._handler = handler
        self._client: paho.Client | None = None
        self._subscribed = threading.Event()
        self.received = 0
        self.failed = 0

    def start(self) -> None:
        """Connect in the background and subscribe (again after every reconnect)."""
        settings = self._settings
        client = _new_client(settings, settings.client_id, clean=False)
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(
            self._host,
            settings.port,
            settings.keepalive_s,
            **_connect_kwargs(settings, clean=False, expiry_s=settings.session_expiry_s),
        )
        self._client = client
        client.loop_start()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until subscribed; return False if that took longer than timeout."""
        return self._subscribed.wait(timeout)

    def subscribed(self) -> bool:
        """Return whether the session is up and the topic filter subscribed."""
        return self._subscribed.is_set()

    def stop(self) -> None:
        """Disconnect (the broker keeps the session and queues what arrives meanwhile)."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._subscribed.clear()

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._subscribed.clear()
        if reason.is_failure:
            where = _where(self._settings)
            log.warning("cloud broker %s refused the connection: %s", where, reason)
            return
        client.subscribe(self._filter, qos=1)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._subscribed.clear()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.received += 1
        try:
            payload: bytes = message.payload  # type: ignore[assignment]
            ok = self._handler(message.topic, payload)
        except Exception as exc:  # must not kill paho's network thread; not acknowledged
            self.failed += 1
            log.warning("storing a batch from '%s' failed: %s", message.topic, exc, exc_info=exc)
            return
        if ok:
            client.ack(message.mid, message.qos)
