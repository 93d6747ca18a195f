"""The embedded amqtt broker with real paho 2.x clients (MQTT 3.1.1) on loopback.

The small paho publisher and subscriber below are the tests' own clients; the replay and
simulator tests use them too.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from assistant.errors import ConnectorError
from connectors.embedded_broker import EmbeddedBroker

TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the test subscriber got it."""

    topic: str
    payload: bytes
    qos: int
    arrived: float  # time.monotonic()


def _client(port: int, prefix: str) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{prefix}-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    connected = threading.Event()
    client.on_connect = lambda c, u, flags, reason, props: connected.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    if not connected.wait(TIMEOUT_S):
        client.loop_stop()
        raise AssertionError(f"paho client could not connect to 127.0.0.1:{port}")
    return client


class PahoPublisher:
    """A minimal Publisher over paho: QoS 1 and 2 publishes return once acknowledged."""

    def __init__(self, port: int) -> None:
        self.client = _client(port, "test-pub")

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message and wait for its acknowledgement at QoS 1 and 2."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectorError(f"paho publish failed: {mqtt.error_string(info.rc)}")
        if qos > 0:
            info.wait_for_publish(TIMEOUT_S)
            if not info.is_published():
                raise ConnectorError(f"no PUBACK for {topic} within {TIMEOUT_S} s")

    def close(self) -> None:
        """Disconnect and stop paho's network thread."""
        self.client.disconnect()
        self.client.loop_stop()


class PahoSubscriber:
    """Collects every message on a topic filter, with its arrival time."""

    def __init__(self, port: int, topic: str, qos: int = 1) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.client = _client(port, "test-sub")
        subscribed = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
        self.client.on_message = self._on_message
        self.client.subscribe(topic, qos=qos)
        if not subscribed.wait(TIMEOUT_S):
            raise AssertionError(f"no SUBACK for {topic}")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(Received(msg.topic, bytes(msg.payload), msg.qos, time.monotonic()))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = TIMEOUT_S) -> list[Received]:
        """Wait until at least count messages arrived; return all of them."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def close(self) -> None:
        """Disconnect and stop paho's network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """Run an embedded broker on a free loopback port for one test."""
    with EmbeddedBroker() as running:
        yield running


def _listening(process: psutil.Process) -> set[tuple[str, int]]:
    return {
        (conn.laddr.ip, conn.laddr.port)
        for conn in process.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }


@pytest.mark.parametrize(("pub_qos", "sub_qos"), [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_paho_publish_and_subscribe(broker: EmbeddedBroker, pub_qos: int, sub_qos: int) -> None:
    subscriber = PahoSubscriber(broker.port, "plant/test/#", qos=sub_qos)
    publisher = PahoPublisher(broker.port)
    try:
        for i in range(50):
            publisher.publish(f"plant/test/{i % 3}", f"{i}".encode(), qos=pub_qos)
        publisher.publish("other/topic", b"not for us", qos=1)
        got = subscriber.wait_for(50)
    finally:
        publisher.close()
        subscriber.close()
    assert [m.payload for m in got] == [f"{i}".encode() for i in range(50)]
    assert [m.topic for m in got] == [f"plant/test/{i % 3}" for i in range(50)]
    if sub_qos == 0:
        assert {m.qos for m in got} == {0}


def test_start_returns_a_loopback_port_and_stop_releases_it() -> None:
    broker = EmbeddedBroker()
    port = broker.start()
    assert broker.running and broker.port == port and broker.host == "127.0.0.1"
    PahoPublisher(port).close()
    broker.stop()
    assert not broker.running
    with pytest.raises(ConnectorError, match="not running"):
        _ = broker.port
    broker.stop()  # idempotent
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    # the same port can be taken again at once
    again = EmbeddedBroker(port)
    try:
        assert again.start() == port
    finally:
        again.stop()


def test_two_brokers_on_different_ports_do_not_share_messages() -> None:
    with EmbeddedBroker() as first, EmbeddedBroker() as second:
        assert first.port != second.port
        sub_first = PahoSubscriber(first.port, "t/#")
        sub_second = PahoSubscriber(second.port, "t/#")
        pub_first = PahoPublisher(first.port)
        pub_second = PahoPublisher(second.port)
        try:
            pub_first.publish("t/a", b"one", qos=1)
            pub_second.publish("t/b", b"two", qos=1)
            got_first = sub_first.wait_for(1)
            got_second = sub_second.wait_for(1)
            pub_first.publish("t/end", b"end", qos=1)
            pub_second.publish("t/end", b"end", qos=1)
            got_first = sub_first.wait_for(2)
            got_second = sub_second.wait_for(2)
        finally:
            for client in (pub_first, pub_second, sub_first, sub_second):
                client.close()
    assert [m.payload for m in got_first] == [b"one", b"end"]
    assert [m.payload for m in got_second] == [b"two", b"end"]


def test_a_busy_port_raises_connector_error_naming_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = EmbeddedBroker(port)
        with pytest.raises(ConnectorError, match=rf"127\.0\.0\.1:{port}.*in use"):
            broker.start(timeout=TIMEOUT_S)
        assert not broker.running
    assert all(t.name != "shiftmate-embedded-mqtt" for t in threading.enumerate())


def test_bad_port_is_refused() -> None:
    with pytest.raises(ConnectorError, match="70000"):
        EmbeddedBroker(70000)


def test_stop_with_clients_connected_ends_the_thread() -> None:
    broker = EmbeddedBroker()
    port = broker.start()
    subscriber = PahoSubscriber(port, "x/#")
    publisher = PahoPublisher(port)
    try:
        broker.stop()
    finally:
        publisher.client.loop_stop()
        subscriber.client.loop_stop()
    assert all(t.name != "shiftmate-embedded-mqtt" for t in threading.enumerate())


def test_only_a_loopback_listener_is_opened_and_nothing_else() -> None:
    process = psutil.Process()
    before = _listening(process)
    broker = EmbeddedBroker()
    port = broker.start()
    try:
        subscriber = PahoSubscriber(port, "y/#")
        publisher = PahoPublisher(port)
        publisher.publish("y/1", b"1", qos=1)
        subscriber.wait_for(1)
        assert _listening(process) - before == {("127.0.0.1", port)}
        remote = {
            conn.raddr.ip
            for conn in process.net_connections(kind="all")
            if conn.family in (socket.AF_INET, socket.AF_INET6) and conn.raddr
        }
        assert remote <= {"127.0.0.1"}
        publisher.close()
        subscriber.close()
    finally:
        broker.stop()
    assert _listening(process) == before


def test_amqtt_info_logging_is_silenced(caplog: pytest.LogCaptureFixture) -> None:
    amqtt_logger = logging.getLogger("amqtt")
    saved = amqtt_logger.level
    amqtt_logger.setLevel(logging.NOTSET)
    try:
        with caplog.at_level(logging.DEBUG), EmbeddedBroker() as broker:
            subscriber = PahoSubscriber(broker.port, "z/#")
            publisher = PahoPublisher(broker.port)
            publisher.publish("z/1", b"1", qos=1)
            subscriber.wait_for(1)
            publisher.close()
            subscriber.close()
        assert amqtt_logger.level == logging.WARNING
    finally:
        amqtt_logger.setLevel(saved)
    noisy = [
        r
        for r in caplog.records
        if r.name.startswith(("amqtt", "transitions")) and r.levelno < logging.WARNING
    ]
    assert noisy == []
