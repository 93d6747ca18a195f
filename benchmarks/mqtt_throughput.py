"""Sustained MQTT ingest (messages/s) from a real Mosquitto, against a bare paho subscriber.

A separate process publishes small JSON payloads with sequence numbers at QoS 0 as fast as
the broker takes them, round robin over the sample plant's topics; Mosquitto (started here on a free
loopback port, no queue limit so nothing is dropped) forwards them. Subjects, measured in the
same run and interleaved over several rounds:

* the peer: a bare paho subscriber whose on_message only counts;
* ``MqttConnector`` into a list sink;
* ``MqttConnector`` into a real ``TelemetryStore`` (ring buffers, alarms, anomaly detector).

The clock starts when the publisher, already connected, is told to go, and stops when the
last message has been counted (peer) or handed to the sink (connector); every sequence number
must arrive exactly once (zero gaps).

With ``--qos 1`` the publisher publishes at QoS 1 (pre-encoded packets with packet ids, a
thread counting the PUBACKs) and every subscriber subscribes at QoS 1, so the broker's
in-flight window paces delivery: a message counts against it until its subscriber has
acknowledged it. Two brokers run, one with Mosquitto's default window
(``max_inflight_messages 20``) and one with it raised to 1000. Subjects, per broker:

* the peer: a bare paho QoS 1 subscriber (paho acknowledges as soon as on_message returns);
* ``MqttConnector`` into a ``TelemetryStore`` without persistence (manual acknowledgement
  after the sink returns);
* ``MqttConnector`` into a ``TelemetryStore`` writing the fsync'd reading log, as the
  service runs it (``TelemetryPersistence``); on the wide window also without fsync, and
  over MQTT 5 against an MQTT 5 peer.

"msgs per sink call" (and "most in one call", all unacknowledged at once) shows how the
window caps batching: each sink call is one log append
and one fsync, so at window W the connector cannot go faster than W messages per (fsync +
round trip). Mosquitto before 2.0.13 does not hold the window once acknowledgements flow
(each PUBACK can release up to a window's worth of queued messages, eclipse-mosquitto/mosquitto
#2306); ``--mosquitto PATH`` runs another broker binary.

Also measured: the publisher alone (no subscriber; clock stops at the last PUBACK), and how
many unacknowledged messages Mosquitto sends each kind of client (the window it applies).

    .venv/bin/python -m benchmarks.mqtt_throughput [--messages 200000] [--rounds 5]
    .venv/bin/python -m benchmarks.mqtt_throughput --qos 1 [--messages 30000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import shutil
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from assistant.domain import Reading
from assistant.plant import PlantSpec, load_plant
from assistant.settings import MqttSettings, TelemetrySettings
from assistant.telemetry.persistence import TelemetryPersistence
from assistant.telemetry.reading_log import read_segments
from assistant.telemetry.store import TelemetryStore
from benchmarks.common import SAMPLE_PLANT, print_table
from connectors.codec import Decoder, encode_json
from connectors.mqtt.telemetry import MqttConnector
from tests.brokers import Mosquitto

TIMEOUT_S = 120.0
DISCONNECT = b"\xe0\x00"
PACKET_IDS = 65535
"""MQTT packet ids (1..65535): the QoS 1 publisher never has more unacknowledged than this."""
CHUNK = 1024
"""Pre-encoded packets written to the socket per sendall."""


def publish(
    host: str, port: int, topics: list[str], count: int, ready: ProcessEvent, go: ProcessEvent
) -> None:
    """Publish ``count`` JSON readings at QoS 0 as fast as the socket takes them.

    Runs in its own process. paho's publish() costs about 20 us a message, which would make
    the publisher the bottleneck, so the QoS 0 PUBLISH packets (fixed header, topic, payload:
    nothing else at QoS 0) are encoded up front and written in large chunks.
    """
    packets = [_publish_packet(topic, payload) for topic, payload in _messages(topics, count)]
    chunks = [b"".join(packets[i : i + CHUNK]) for i in range(0, count, CHUNK)]
    with _open_session(host, port) as sock:
        ready.set()
        go.wait()
        for chunk in chunks:
            sock.sendall(chunk)
        sock.sendall(DISCONNECT)


def publish_qos1(
    host: str,
    port: int,
    topics: list[str],
    count: int,
    ready: ProcessEvent,
    go: ProcessEvent,
    elapsed: Synchronized[float],
) -> None:
    """Publish ``count`` JSON readings at QoS 1; ``elapsed`` gets go-to-last-PUBACK seconds.

    Runs in its own process, pre-encoded like :func:`publish` (packet ids 1..65535 in turn); a
    thread reads the PUBACKs, and the writer never runs more than the packet ids ahead of
    them, so no id is reused while unacknowledged. MQTT 3.1.1 has no receive maximum, so the
    broker takes them as fast as it can.
    """
    packets = [
        _publish_packet(topic, payload, packet_id=seq % PACKET_IDS + 1)
        for seq, (topic, payload) in enumerate(_messages(topics, count))
    ]
    chunks = [b"".join(packets[i : i + CHUNK]) for i in range(0, count, CHUNK)]
    with _open_session(host, port) as sock:
        acks = _PubackReader(sock, count)
        acks.start()
        ready.set()
        go.wait()
        started = time.perf_counter()
        sent = 0
        for chunk in chunks:
            while sent + CHUNK - acks.count > PACKET_IDS:
                time.sleep(0.0005)
            sock.sendall(chunk)
            sent += CHUNK
        if not acks.done.wait(TIMEOUT_S):
            raise SystemExit(f"only {acks.count} of {count} PUBACKs arrived: {acks.error}")
        elapsed.value = time.perf_counter() - started
        sock.sendall(DISCONNECT)
        acks.join(5)


class _PubackReader(threading.Thread):
    """Counts the broker's PUBACKs (4 bytes each at MQTT 3.1.1) until ``expected`` arrived."""

    def __init__(self, sock: socket.socket, expected: int) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.expected = expected
        self.count = 0
        self.error = ""
        self.done = threading.Event()

    def run(self) -> None:
        pending = b""
        while self.count < self.expected:
            data = self.sock.recv(1 << 16)
            if not data:
                self.error = "the broker closed the connection"
                return
            pending += data
            whole = len(pending) // 4 * 4
            if pending[0:whole:4] != b"\x40" * (whole // 4):
                self.error = f"not a PUBACK: {pending[:8]!r}"
                return
            self.count += whole // 4
            pending = pending[whole:]
        self.done.set()


def _messages(topics: list[str], count: int) -> list[tuple[str, bytes]]:
    """Return the benchmark's (topic, JSON payload with seq) pairs, round robin over topics."""
    base = time.time() - 600.0
    return [
        (topics[seq % len(topics)], encode_json(300.0 + seq % 97, base + seq * 0.001, seq))
        for seq in range(count)
    ]


def _open_session(host: str, port: int) -> socket.socket:
    """Open a raw MQTT 3.1.1 clean session without keep alive; return its socket."""
    sock = socket.create_connection((host, port))
    client_id = f"bench-pub-{uuid.uuid4().hex[:12]}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack("!H", len(client_id)) + client_id
    sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
    connack = sock.recv(4)
    if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
        sock.close()
        raise SystemExit(f"broker refused the publisher: {connack!r}")
    return sock


def _publish_packet(topic: str, payload: bytes, packet_id: int = 0) -> bytes:
    """Encode a PUBLISH: QoS 0 without ``packet_id``, QoS 1 with it."""
    name = topic.encode()
    if packet_id:
        rest = struct.pack("!H", len(name)) + name + struct.pack("!H", packet_id) + payload
        return b"\x32" + _remaining_length(len(rest)) + rest
    rest = struct.pack("!H", len(name)) + name + payload
    return b"\x30" + _remaining_length(len(rest)) + rest


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


class Peer:
    """A bare paho subscriber that only counts (or, with a decoder, also decodes inline)."""

    def __init__(
        self,
        host: str,
        port: int,
        topics: list[str],
        count: int,
        decoder: Decoder | None = None,
        qos: int = 0,
        protocol: Literal["3.1.1", "5"] = "3.1.1",
    ) -> None:
        self.count = count
        self.received = 0
        self.done_at = self.cpu_done = 0.0
        self.done = threading.Event()
        self.subscribed = threading.Event()
        self.decoder = decoder
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-peer-{uuid.uuid4().hex}",
            protocol=MQTTProtocolVersion.MQTTv5
            if protocol == "5"
            else MQTTProtocolVersion.MQTTv311,
        )
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe([(t, qos) for t in topics])
        self.client.on_subscribe = lambda c, u, m, r, p: self.subscribed.set()
        self.client.on_message = self._count if decoder is None else self._decode
        self.client.connect(host, port)
        self.client.loop_start()

    def _count(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.received += 1
        if self.received == self.count:
            self.done_at, self.cpu_done = time.perf_counter(), time.process_time()
            self.done.set()

    def _decode(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        assert self.decoder is not None
        self.decoder.decode(message.topic, message.payload, time.time())  # type: ignore[arg-type]
        self._count(client, userdata, message)

    def wait_ready(self) -> bool:
        """Wait until subscribed."""
        return self.subscribed.wait(30)

    def finish(self) -> tuple[int, int]:
        """Stop; return (messages counted, missing) (the peer only counts)."""
        self.client.disconnect()
        self.client.loop_stop()
        return self.received, self.count - self.received

    def acked(self) -> int | None:
        """Return None: paho acknowledges by itself, uncounted."""
        return None

    def batches(self) -> int | None:
        """Return None: the peer has no batches."""
        return None

    def largest(self) -> int | None:
        """Return None: the peer has no batches."""
        return None


class ConnectorSubject:
    """The product connector, into a list or a TelemetryStore, checking every seq once."""

    def __init__(
        self,
        settings: MqttSettings,
        decoder: Decoder,
        count: int,
        store_sink: Callable[[list[Reading]], None] | None,
    ) -> None:
        self.count = count
        self.seen = bytearray(count)
        self.delivered = 0
        self.duplicates = 0
        self.done_at = self.cpu_done = 0.0
        self.done = threading.Event()
        self.kept: list[Reading] = []
        self.store_sink = store_sink
        self.counts: dict[str, int] = {}
        self.sink_calls = 0
        self.largest_batch = 0
        self.connector = MqttConnector(settings, decoder, self._sink)
        self.connector.start()

    def _sink(self, batch: list[Reading]) -> None:
        self.sink_calls += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        if self.store_sink is None:
            self.kept.extend(batch)
        else:
            self.store_sink(batch)
        seen = self.seen
        for reading in batch:
            seq = reading.seq
            if seq is not None:
                if seen[seq]:
                    self.duplicates += 1
                seen[seq] = 1
        self.delivered += len(batch)
        if self.delivered >= self.count:
            self.done_at, self.cpu_done = time.perf_counter(), time.process_time()
            self.done.set()

    def wait_ready(self) -> bool:
        """Wait until connected and subscribed."""
        return self.connector.wait_connected(30)

    def finish(self) -> tuple[int, int]:
        """Stop; return (readings delivered, sequence gaps + duplicates)."""
        self.connector.stop()
        counts = self.connector.counters()
        if counts["queue_full"] or counts["sink_errors"]:
            raise SystemExit(f"connector dropped data: {counts}")
        self.counts = counts
        return self.delivered, self.count - sum(self.seen) + self.duplicates

    def acked(self) -> int | None:
        """Return the messages the connector acknowledged (after finish)."""
        return self.counts["acked"]

    def batches(self) -> int | None:
        """Return how many sink calls (batches, each one log append + fsync) it took."""
        return self.sink_calls

    def largest(self) -> int | None:
        """Return the most readings one sink call got (all unacknowledged at once)."""
        return self.largest_batch


@dataclass(frozen=True, slots=True)
class Round:
    """One measured round of one subscriber."""

    rate: float  # messages/s, wall clock
    cpu_us: float  # CPU microseconds per message in this process (all its threads)
    arrived: int
    gaps: int
    acked: int | None = None  # messages the connector acknowledged (None: not counted)
    batches: int | None = None  # the connector's sink calls (None: not counted)
    largest: int | None = None  # the most readings in one sink call
    publisher_s: float = 0.0  # QoS 1: go to the publisher's last PUBACK


def run_round(
    subject: Peer | ConnectorSubject | None,
    broker: Mosquitto,
    topics: list[str],
    count: int,
    qos: int = 0,
) -> Round:
    """Publish ``count`` messages to a ready subject (None: to nobody) and measure it.

    Without a subject the publisher alone is measured (QoS 1 only: until its last PUBACK).
    """
    if subject is not None and not subject.wait_ready():
        raise SystemExit("subscriber did not connect")
    context = multiprocessing.get_context("spawn")
    ready, go = context.Event(), context.Event()
    elapsed = context.Value("d", 0.0)
    address = (broker.host, broker.port, topics, count, ready, go)
    if qos:
        publisher = context.Process(target=publish_qos1, args=(*address, elapsed))
    else:
        publisher = context.Process(target=publish, args=address)
    publisher.start()
    if not ready.wait(60):
        raise SystemExit("publisher did not start")
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    go.set()
    if subject is None:
        publisher.join(TIMEOUT_S)
        if publisher.exitcode != 0 or not elapsed.value:
            raise SystemExit(f"the publisher failed (exit code {publisher.exitcode})")
        return Round(count / elapsed.value, 0.0, count, 0, publisher_s=elapsed.value)
    finished = subject.done.wait(TIMEOUT_S)
    publisher.join(TIMEOUT_S)
    arrived, gaps = subject.finish()
    if not finished:
        return Round(0.0, 0.0, arrived, gaps, subject.acked(), subject.batches(), subject.largest())
    return Round(
        count / (subject.done_at - started),
        (subject.cpu_done - cpu_started) / count * 1e6,
        arrived,
        gaps,
        subject.acked(),
        subject.batches(),
        subject.largest(),
        elapsed.value,
    )


def run_qos0(count: int, rounds: int) -> None:
    """Measure QoS 0 ingest and print its table."""

    plant = load_plant(SAMPLE_PLANT / "plant.toml")
    topics = sorted(plant.routes())
    peer, inline = "bare paho subscriber (counts only)", "bare paho + Decoder.decode inline"
    names = [peer, inline, "MqttConnector -> list", "MqttConnector -> TelemetryStore"]
    results: dict[str, list[Round]] = {name: [] for name in names}

    with Mosquitto(persistence=False) as broker:
        for _ in range(rounds):
            for name in names:
                subject: Peer | ConnectorSubject
                if name == peer:
                    subject = Peer(broker.host, broker.port, topics, count)
                elif name == inline:
                    subject = Peer(broker.host, broker.port, topics, count, Decoder(plant))
                else:
                    settings = broker.mqtt_settings(
                        client_id=f"bench-{uuid.uuid4().hex[:8]}",
                        qos=0,
                        clean_start=True,
                        queue_size=1_000_000,
                    )
                    store_sink = None
                    if name.endswith("TelemetryStore"):
                        store_sink = TelemetryStore(plant, TelemetrySettings()).add_many
                    subject = ConnectorSubject(settings, Decoder(plant), count, store_sink)
                results[name].append(run_round(subject, broker, topics, count))
                del subject
                gc.collect()

    peer_rate = statistics.median(r.rate for r in results[peer])
    peer_cpu = statistics.median(r.cpu_us for r in results[peer])
    rows = []
    for name in names:
        runs = results[name]
        rate = statistics.median(r.rate for r in runs)
        cpu = statistics.median(r.cpu_us for r in runs)
        rows.append(
            [
                name,
                rate,
                min(r.rate for r in runs),
                max(r.rate for r in runs),
                max(r.gaps for r in runs),
                f"{rate / peer_rate:.2f}x" if peer_rate else "-",
                cpu,
                f"{peer_cpu / cpu:.2f}x" if cpu else "-",
            ]
        )
    print_table(
        f"MQTT ingest, QoS 0, {count:,} JSON messages x {rounds} rounds, "
        f"{len(topics)} topics, {multiprocessing.cpu_count()} CPUs",
        [
            "subscriber",
            "msg/s (median)",
            "min",
            "max",
            "gaps",
            "ratio to bare paho",
            "CPU us/msg",
            "CPU ratio",
        ],
        rows,
    )


# -- QoS 1 ------------------------------------------------------------------------------------

Kind = Literal["peer", "store", "log", "log-nofsync"]
WINDOWS = (20, 1000)
"""Mosquitto max_inflight_messages of the two brokers: its default, and raised."""


@dataclass(frozen=True, slots=True)
class Qos1Case:
    """One QoS 1 subject: what subscribes, over which protocol, on which broker window."""

    kind: Kind
    window: int
    protocol: Literal["3.1.1", "5"] = "3.1.1"

    @property
    def name(self) -> str:
        """Return the subject's row label."""
        label = {
            "peer": "bare paho QoS 1 (auto-ack)",
            "store": "MqttConnector -> TelemetryStore (no persistence)",
            "log": "MqttConnector -> TelemetryStore + reading log (fsync)",
            "log-nofsync": "MqttConnector -> TelemetryStore + reading log (no fsync)",
        }[self.kind]
        return label if self.protocol == "3.1.1" else f"{label}, MQTT 5"


QOS1_CASES = [
    *(Qos1Case(kind, window) for window in WINDOWS for kind in ("peer", "store", "log")),
    Qos1Case("log-nofsync", WINDOWS[-1]),
    # paho parses MQTT 5 packets more slowly: compare against an MQTT 5 peer.
    Qos1Case("peer", WINDOWS[-1], "5"),
    Qos1Case("log", WINDOWS[-1], "5"),
]


class LoggedStore:
    """A TelemetryStore, optionally with the reading log attached the way the service does it."""

    def __init__(self, plant: PlantSpec, *, persist: bool, fsync: bool = True) -> None:
        self.store = TelemetryStore(plant, TelemetrySettings())
        self.folder: Path | None = None
        self.persistence: TelemetryPersistence | None = None
        if persist:
            self.folder = Path(tempfile.mkdtemp(prefix="shiftmate-bench-telemetry-"))
            self.persistence = TelemetryPersistence(self.folder, interval_s=3600.0, fsync=fsync)
            self.persistence.open(self.store, None)

    def close(self) -> int | None:
        """Detach and delete the log; return how many readings it held (None: no log)."""
        if self.persistence is None or self.folder is None:
            return None
        self.persistence.close(snapshot=False)
        logged = sum(len(rows) for _, rows in read_segments(self.folder, 1))
        shutil.rmtree(self.folder, ignore_errors=True)
        return logged


def qos1_subject(
    case: Qos1Case, broker: Mosquitto, plant: PlantSpec, topics: list[str], count: int
) -> tuple[Peer | ConnectorSubject, LoggedStore | None]:
    """Build a ready-to-run QoS 1 subject (and the store it feeds, if any)."""
    if case.kind == "peer":
        return Peer(broker.host, broker.port, topics, count, qos=1, protocol=case.protocol), None
    settings = broker.mqtt_settings(
        client_id=f"bench-{uuid.uuid4().hex[:8]}",
        qos=1,
        protocol=case.protocol,
        clean_start=True,
        queue_size=1_000_000,
    )
    store = LoggedStore(plant, persist=case.kind != "store", fsync=case.kind == "log")
    return ConnectorSubject(settings, Decoder(plant), count, store.store.add_many), store


def probe_window(
    broker: Mosquitto,
    plant: PlantSpec,
    protocol: Literal["3.1.1", "5"],
    receive_maximum: int | None = None,
    published: int = 3000,
) -> int:
    """Return how many QoS 1 messages the broker sends a subscriber that acknowledges none.

    Without ``receive_maximum`` the subscriber is ``MqttConnector`` itself, its sink blocked
    so nothing is acknowledged; with it, a paho MQTT 5 client that sends that Receive Maximum
    and never acknowledges. ``published`` messages go out; the count is read once it has
    stood still for 1.5 s (less misreads a loaded machine).
    """
    received: Callable[[], int]
    release = threading.Event()
    topics = sorted(plant.routes())
    if receive_maximum is None:
        settings = broker.mqtt_settings(
            client_id=f"probe-{uuid.uuid4().hex[:8]}", qos=1, protocol=protocol, clean_start=True
        )

        def blocked_sink(batch: list[Reading]) -> None:
            release.wait(30)

        connector = MqttConnector(settings, Decoder(plant), blocked_sink)
        connector.start()
        if not connector.wait_connected(30):
            raise SystemExit("the probed connector did not connect")
        received = lambda: connector.counters()["received"]  # noqa: E731
        stop: Callable[[], None] = connector.stop
    else:
        probe = _SilentSubscriber(broker, topics, receive_maximum)
        received = lambda: probe.received  # noqa: E731
        stop = probe.stop
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-pub-{uuid.uuid4().hex}")
    publisher.max_inflight_messages_set(published)
    publisher.max_queued_messages_set(0)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        for topic, payload in _messages(topics, published):
            publisher.publish(topic, payload, qos=1)
        last, still_since = -1, time.monotonic()
        deadline = still_since + 20
        while time.monotonic() < deadline:
            now = received()
            if now != last:
                last, still_since = now, time.monotonic()
            elif now and time.monotonic() - still_since > 1.5:
                break
            time.sleep(0.05)
        return last
    finally:
        release.set()
        stop()
        publisher.disconnect()
        publisher.loop_stop()


class _SilentSubscriber:
    """A paho MQTT 5 QoS 1 subscriber that sends a Receive Maximum and acknowledges nothing."""

    def __init__(self, broker: Mosquitto, topics: list[str], receive_maximum: int) -> None:
        self.received = 0
        subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"probe-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, m, r, p: subscribed.set()
        self.client.on_message = self._count
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.ReceiveMaximum = receive_maximum
        self.client.connect(broker.host, broker.port, clean_start=True, properties=properties)
        self.client.loop_start()
        if not subscribed.wait(30):
            raise SystemExit("the probe subscriber did not subscribe")

    def _count(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.received += 1

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def run_qos1(count: int, rounds: int, program: str | None = None) -> None:
    """Measure QoS 1 ingest on both broker windows, probe the windows, print the tables.

    ``program``: the mosquitto binary to run (default: the one on the PATH).
    """
    plant = load_plant(SAMPLE_PLANT / "plant.toml")
    topics = sorted(plant.routes())
    results: dict[Qos1Case, list[Round]] = {case: [] for case in QOS1_CASES}
    logged: dict[Qos1Case, list[int]] = {case: [] for case in QOS1_CASES}
    alone: list[Round] = []
    probes: list[list[Any]] = []
    brokers = [
        Mosquitto(persistence=False, extra_config=[f"max_inflight_messages {window}"])
        for window in WINDOWS
    ]
    for broker in brokers:
        broker.program = program or broker.program
    version = _broker_version(brokers[0].program)
    try:
        by_window = {
            window: broker.start() for window, broker in zip(WINDOWS, brokers, strict=True)
        }
        for window, broker in by_window.items():
            for label, protocol, receive_maximum in (
                ("MqttConnector, MQTT 3.1.1", "3.1.1", None),
                ("MqttConnector, MQTT 5 (sends no Receive Maximum)", "5", None),
                ("paho MQTT 5, Receive Maximum 100", "5", 100),
                ("paho MQTT 5, Receive Maximum 5000", "5", 5000),
            ):
                in_flight = probe_window(broker, plant, protocol, receive_maximum)  # type: ignore[arg-type]
                probes.append([window, label, in_flight])
        for _ in range(rounds):
            alone.append(run_round(None, by_window[WINDOWS[0]], topics, count, qos=1))
            for case in QOS1_CASES:
                subject, store = qos1_subject(case, by_window[case.window], plant, topics, count)
                results[case].append(
                    run_round(subject, by_window[case.window], topics, count, qos=1)
                )
                if store is not None:
                    in_log = store.close()
                    if in_log is not None:
                        logged[case].append(in_log)
                del subject, store
                gc.collect()
    finally:
        for broker in brokers:
            broker.close()

    print_table(
        f"{version}: unacknowledged QoS 1 messages sent to a subscriber that acknowledges none",
        ["broker max_inflight_messages", "subscriber", "messages in flight"],
        probes,
    )
    peers = {
        (case.window, case.protocol): statistics.median(r.rate for r in results[case])
        for case in QOS1_CASES
        if case.kind == "peer"
    }
    rows: list[list[Any]] = [
        [
            "publisher alone (no subscriber, until its last PUBACK)",
            "-",
            statistics.median(r.rate for r in alone),
            min(r.rate for r in alone),
            max(r.rate for r in alone),
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        ]
    ]
    for case in QOS1_CASES:
        runs = results[case]
        rate = statistics.median(r.rate for r in runs)
        acked = [r.acked for r in runs]
        rows.append(
            [
                case.name,
                case.window,
                rate,
                min(r.rate for r in runs),
                max(r.rate for r in runs),
                # The peer does not decode; the connector's arrivals are readings.
                "-"
                if case.kind == "peer"
                else statistics.median(r.arrived / count * r.rate for r in runs),
                f"{rate / peers[case.window, case.protocol]:.2f}x",
                "-" if case.kind == "peer" else statistics.median(_per_batch(r) for r in runs),
                "-" if case.kind == "peer" else max(r.largest or 0 for r in runs),
                max(r.gaps for r in runs),
                "-" if case.kind == "peer" else _all_equal(acked, count),
                "-" if case.kind in ("peer", "store") else _all_equal(logged[case], count),
            ]
        )
    print_table(
        f"MQTT ingest, QoS 1, {count:,} JSON messages (one reading each) x {rounds} rounds, "
        f"{len(topics)} topics, {version}, {multiprocessing.cpu_count()} CPUs",
        [
            "subscriber",
            "broker window",
            "msg/s (median)",
            "min",
            "max",
            "readings/s",
            "ratio to bare paho (same window, protocol)",
            "msgs per sink call",
            "most in one call",
            "gaps",
            "acked = received",
            "all in the log",
        ],
        rows,
    )
    publisher_s = statistics.median(r.publisher_s for runs in results.values() for r in runs)
    print(f"\nPublisher's last PUBACK, median over the subject runs: {publisher_s:.2f} s after go.")


def _broker_version(program: str) -> str:
    """Return "mosquitto version X" as the binary reports it."""
    answer = subprocess.run([program, "-h"], capture_output=True, text=True, timeout=10)
    first = (answer.stdout or answer.stderr).strip().splitlines()
    return first[0] if first else program


def _per_batch(measured: Round) -> float:
    """Return the messages per sink call of a connector round (each call: one fsync)."""
    return measured.arrived / measured.batches if measured.batches else 0.0


def _all_equal(values: Sequence[int | None], expected: int) -> str:
    """Return "yes" when every round's value is ``expected``, else the values."""
    return "yes" if values and all(v == expected for v in values) else f"no: {values}"


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qos", type=int, choices=(0, 1), default=0)
    parser.add_argument("--messages", type=int, help="per round (default 200,000; QoS 1: 30,000)")
    parser.add_argument("--rounds", type=int, help="default 5; QoS 1: 3")
    parser.add_argument("--mosquitto", help="QoS 1: the mosquitto binary (default: on the PATH)")
    args = parser.parse_args()
    if args.qos:
        run_qos1(args.messages or 30_000, args.rounds or 3, args.mosquitto)
    else:
        run_qos0(args.messages or 200_000, args.rounds or 5)


if __name__ == "__main__":
    main()
