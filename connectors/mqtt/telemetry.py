"""The telemetry connector: every topic of the plant in, batches of readings out to the core.

:class:`MqttConnector` subscribes to every topic of the plant and turns messages into
:class:`~assistant.domain.Reading` batches for the core.

Threads of the connector: paho's network thread runs ``on_message``, which only decodes (a few
microseconds) and appends to a bounded in-memory buffer; a consumer thread drains the buffer
in batches, calls the sink and then acknowledges the batch's messages. The network thread
never waits on the core, so keep alives keep flowing while the sink is busy.

Delivery: a stable client id, a persistent session (``clean_start = false``, MQTT 5 session
expiry) and QoS 1 subscriptions let the broker keep what is published while the connector is
away. Acknowledgements are manual (paho's ``manual_ack``): a QoS 1 or 2 message is acknowledged
only after the sink has returned for every reading it carried, so a reading the broker has
forgotten is one the sink has stored (the telemetry store makes it durable before returning,
see ``assistant/telemetry/persistence.py``). A crash anywhere before that makes the broker
deliver the message again when the connector comes back; the store drops the repeats
(duplicate timestamps). Acknowledgements go out in the order the messages arrived, as MQTT
requires; a message is only acknowledged on the connection it arrived on (after a reconnect
the broker sends it again with the same packet id, and that copy is acknowledged instead).
Stopping stops taking new messages, hands what is buffered to the sink, acknowledges it and
only then disconnects. This holds for QoS 1 (``mqtt.qos``, the default); at QoS 2 paho answers
PUBREC on receipt and the broker lets go of the message then, so only the final PUBCOMP waits.

Back pressure: messages the sink has not yet returned for stay unacknowledged, and the broker
stops sending once its in-flight window is full (Mosquitto's ``max_inflight_messages``, 20 by
default; an MQTT 5 client's receive maximum), keeping the rest queued on its side. A slow core
therefore slows delivery instead of losing data; raise the broker's window for plants that
publish thousands of messages a second.

Sink failures: a batch the sink raises on is retried with a growing pause (0.1 s up to 5 s)
until it succeeds or the connector stops, each failure logged (rate-limited) and counted in
``sink_errors``; its messages stay unacknowledged meanwhile, so a core that cannot store (a
full disk) holds delivery back rather than acknowledging what it has not kept. A batch still
failing at stop is left unacknowledged for the broker to deliver again.

Rejected and dropped messages are acknowledged (in order) so the broker does not send them
forever or stall its window: payloads that cannot be decoded (counted by reason), and messages
that find the buffer full (``queue_full``: more than ``mqtt.queue_size`` readings waiting).
The buffer only fills when the broker's window admits more than ``queue_size`` readings;
blocking the network thread instead would stall keep alives until the broker drops the
connection, so the connector keeps the loss visible and stays connected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, NamedTuple, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from assistant.domain import Reading
from assistant.settings import MqttSettings
from connectors.codec import REASONS, Decoder, PayloadError
from connectors.mqtt.client import MqttRole, error_text

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]


class _Message(NamedTuple):
    """One received message waiting in the buffer: its readings and how to acknowledge it."""

    generation: int
    """The connection it arrived on (acknowledged only on that one)."""
    mid: int
    qos: int
    readings: list[Reading]


BATCH_MAX = 2048
"""Readings that end a batch: a batch takes whole messages until it holds this many."""
RETRY_MIN_S = 0.1
"""First pause before a batch the sink failed on is handed to it again (doubles each time)."""
RETRY_MAX_S = 5.0
"""Longest pause between two tries of a failing batch."""
FLUSH_S = 5.0
"""Longest wait at stop for the last acknowledgements to be written to the socket."""
LINGER_S = 0.005
"""How long the consumer lets readings gather after a wake-up (adds at most this latency)."""

COUNTER_NAMES = (
    "received",
    "accepted",
    *(f"rejected_{reason}" for reason in REASONS),
    "decode_errors",
    "queue_full",
    "delivered",
    "acked",
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


class MqttConnector(MqttRole):
    """Subscribes to the plant's topics and hands decoded readings to a sink, in batches.

    ``sink`` runs on the connector's own consumer thread, one call per batch of whole
    messages (about ``BATCH_MAX`` readings at most), in arrival order; the batch's messages
    are acknowledged once it returns, and a batch it raises on is retried. ``clock`` gives
    the arrival time (Unix seconds) used for payloads without a timestamp and for the log
    rate limit.
    """

    manual_ack = True

    def __init__(
        self,
        settings: MqttSettings,
        decoder: Decoder,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings)
        self._decoder = decoder
        self._sink = sink
        self._clock = clock
        self._topics = sorted(decoder.routes)
        self._capacity = settings.queue_size
        # Producer: paho's network thread only; consumer: self._consumer only. deque's append
        # and popleft are atomic, so the buffer needs no lock. The buffered reading count is
        # what went in (producer) minus what came out (consumer), one writer each.
        self._buffer: deque[_Message] = deque()
        self._readings_in = 0
        self._readings_out = 0
        self._generation = 0
        self._wakeup = threading.Event()
        self._halt = threading.Event()
        self._stopping = False
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
        self._acked = 0
        self._sink_errors = 0
        self._connects = 0
        self._disconnects = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        if self._client is not None:
            return
        settings = self._settings
        client = self._new_client(settings.client_id, clean=settings.clean_start)
        client.on_message = self._on_message
        self._stopping = False
        self._closing = False
        self._halt.clear()
        self._consumer = threading.Thread(
            target=self._consume, name=f"mqtt-consumer-{settings.client_id}", daemon=True
        )
        self._consumer.start()
        self._state = f"connecting to {self._where}"
        self._connect(
            client, clean=settings.clean_start, expiry_s=settings.session_expiry_s, wait=False
        )
        self._client = client

    def stop(self) -> None:
        """Take no more messages, hand the buffered ones over and acknowledge them, disconnect.

        Messages arriving meanwhile are left unacknowledged: the broker keeps them in the
        session and delivers them again on the next start.
        """
        self._closing = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._stopping = True
            self._halt.set()
            self._wakeup.set()
            consumer.join()
        client = self._client
        if client is not None:
            # paho's loop_stop does not wait for queued packets: let the last acks go out.
            deadline = time.monotonic() + FLUSH_S
            while self._session_up and client.want_write() and time.monotonic() < deadline:
                time.sleep(0.01)
            self._disconnect()
        self._subscribed.clear()
        self._session_up = False
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
        failed on unexpectedly; ``acked`` counts QoS 1 and 2 messages acknowledged to the
        broker; ``sink_errors`` counts failed sink calls (each retried); ``queued`` is the
        current buffer depth in readings.
        """
        counts = {
            "received": self._received,
            "accepted": self._accepted,
            **{f"rejected_{reason}": n for reason, n in self._rejected.items()},
            "decode_errors": self._decode_errors,
            "queue_full": self._queue_full,
            "delivered": self._delivered,
            "acked": self._acked,
            "sink_errors": self._sink_errors,
            "connects": self._connects,
            "disconnects": self._disconnects,
        }
        counts["queued"] = self._readings_in - self._readings_out
        return counts

    # -- paho callbacks (network thread: must stay short and must not raise) -----------------

    def _refused(self, reason: str) -> None:
        self._session_up = False
        self._fail(f"MQTT broker {self._where} refused the connection: {reason}; retrying")

    def _connected(self, client: paho.Client, session_present: bool) -> None:
        self._generation += 1
        self._session_up = True
        self._connects += 1
        resumed = "resumed session" if session_present else "new session"
        self._state = f"subscribing to {len(self._topics)} topics on {self._where}"
        log.info("connected to MQTT broker %s (%s)", self._where, resumed)
        qos: int = self._settings.qos
        rc, mid = client.subscribe([(topic, qos) for topic in self._topics])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._fail(f"cannot subscribe on {self._where}: {error_text(rc)}")
        self._subscribe_mid = mid

    def _subscribe_answered(self, mid: int, refused: list[bool]) -> None:
        if mid != self._subscribe_mid:
            return
        failed = [topic for topic, no in zip(self._topics, refused, strict=False) if no]
        if failed:
            self._fail(
                f"MQTT broker {self._where} refused {len(failed)} of "
                f"{len(self._topics)} subscriptions, e.g. '{failed[0]}'"
            )
        self._state = f"connected to {self._where} ({len(self._topics)} topics)"
        self._subscribed.set()

    def _unreachable(self) -> None:
        self._fail(f"cannot reach MQTT broker {self._where}; retrying")

    def _disconnected(self, reason: str, by_server: bool) -> None:
        self._generation += 1  # what is still buffered can no longer be acknowledged
        self._subscribed.clear()
        if not self._session_up:
            return  # a refused or failed attempt, already reported
        self._session_up = False
        self._disconnects += 1
        if self._closing:
            self._state = "stopped"
            return
        if by_server:
            why = f"the broker ended the session ({reason})"
        elif reason in ("Unspecified error", "Success"):
            why = "connection lost"
        else:
            why = reason
        self._fail(f"lost the connection to MQTT broker {self._where}: {why}; reconnecting")

    def _fail(self, message: str) -> None:
        self._state = message
        self._last_error = message
        self._other_log.warning(message, message)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._closing:
            return  # left unacknowledged: the broker delivers it again next session
        self._received += 1
        try:
            # paho's payload is bytes (struct.unpack), though annotated bytes | bytearray.
            payload: bytes = message.payload  # type: ignore[assignment]
            readings = self._decoder.decode(message.topic, payload, self._clock())
        except PayloadError as exc:
            self._rejected[exc.reason] = self._rejected.get(exc.reason, 0) + 1
            self._payload_log.warning(exc.reason, f"rejected MQTT payload ({exc.reason}): {exc}")
            readings = []
        except Exception as exc:  # a decoder bug must not kill paho's network thread
            self._decode_errors += 1
            self._other_log.warning(
                "decode_error",
                f"decoder failed on a message ({type(exc).__name__}): {exc}",
                exc_info=exc,
            )
            readings = []
        if readings and self._readings_in - self._readings_out + len(readings) > self._capacity:
            # Drop the newest rather than block the network thread (see the module docstring).
            self._queue_full += len(readings)
            self._other_log.warning(
                "queue_full",
                f"reading buffer full ({self._capacity}, mqtt.queue_size): the "
                "telemetry core is slower than the plant; dropping readings",
            )
            readings = []
        if not readings and message.qos == 0:
            return
        # Rejected and dropped messages queue too, empty, so that acknowledgements keep order.
        self._buffer.append(_Message(self._generation, message.mid, message.qos, readings))
        self._readings_in += len(readings)
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
            messages: list[_Message] = []
            batch: list[Reading] = []
            while buffer and len(batch) < BATCH_MAX:
                message = popleft()
                messages.append(message)
                batch.extend(message.readings)
            self._readings_out += len(batch)
            if batch and not self._deliver(batch):
                # Stopping with a failing sink: all of it stays unacknowledged.
                self._readings_out += sum(len(message.readings) for message in buffer)
                buffer.clear()
                return
            self._acknowledge(messages)

    def _deliver(self, batch: list[Reading]) -> bool:
        """Hand a batch to the sink, retrying with a growing pause; False if stopped first."""
        pause = RETRY_MIN_S
        while True:
            try:
                self._sink(batch)
            except Exception as exc:  # the consumer must outlive a failing sink
                self._sink_errors += 1
                self._other_log.warning(
                    "sink_error",
                    f"telemetry sink failed on {len(batch)} readings: {type(exc).__name__}: "
                    f"{exc}; retrying (they stay unacknowledged, the broker keeps them)",
                    exc_info=exc,
                )
                if self._halt.wait(pause):
                    return False
                pause = min(pause * 2, RETRY_MAX_S)
            else:
                self._delivered += len(batch)
                return True

    def _acknowledge(self, messages: list[_Message]) -> None:
        """Acknowledge QoS 1 and 2 messages, in order, on the connection they arrived on."""
        client = self._client
        if client is None:
            return
        for message in messages:
            if message.qos == 0 or message.generation != self._generation:
                continue
            if client.ack(message.mid, message.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._acked += 1
