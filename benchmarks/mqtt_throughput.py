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

    .venv/bin/python -m benchmarks.mqtt_throughput [--messages 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import socket
import statistics
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from assistant.domain import Reading
from assistant.plant import load_plant
from assistant.settings import MqttSettings, TelemetrySettings
from assistant.telemetry.store import TelemetryStore
from benchmarks.common import SAMPLE_PLANT, print_table
from connectors.codec import Decoder, encode_json
from connectors.mqtt.telemetry import MqttConnector
from tests.brokers import Mosquitto

TIMEOUT_S = 120.0


def publish(
    host: str, port: int, topics: list[str], count: int, ready: ProcessEvent, go: ProcessEvent
) -> None:
    """Publish ``count`` JSON readings at QoS 0 as fast as the socket takes them.

    Runs in its own process. paho's publish() costs about 20 us a message, which would make
    the publisher the bottleneck, so the QoS 0 PUBLISH packets (fixed header, topic, payload:
    nothing else at QoS 0) are encoded up front and written in large chunks.
    """
    base = time.time() - 600.0
    packets = [
        _publish_packet(
            topics[seq % len(topics)], encode_json(300.0 + seq % 97, base + seq * 0.001, seq)
        )
        for seq in range(count)
    ]
    chunks = [b"".join(packets[i : i + 1024]) for i in range(0, count, 1024)]
    with socket.create_connection((host, port)) as sock:
        client_id = f"bench-pub-{uuid.uuid4().hex[:12]}".encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(client_id)) + client_id
        sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
        connack = sock.recv(4)
        if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
            raise SystemExit(f"broker refused the publisher: {connack!r}")
        ready.set()
        go.wait()
        for chunk in chunks:
            sock.sendall(chunk)
        sock.sendall(b"\xe0\x00")  # DISCONNECT


def _publish_packet(topic: str, payload: bytes) -> bytes:
    name = topic.encode()
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
        self, host: str, port: int, topics: list[str], count: int, decoder: Decoder | None = None
    ) -> None:
        self.count = count
        self.received = 0
        self.done_at = self.cpu_done = 0.0
        self.done = threading.Event()
        self.subscribed = threading.Event()
        self.decoder = decoder
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-peer-{uuid.uuid4().hex}"
        )
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe([(t, 0) for t in topics])
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
        self.connector = MqttConnector(settings, decoder, self._sink)
        self.connector.start()

    def _sink(self, batch: list[Reading]) -> None:
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
        return self.delivered, self.count - sum(self.seen) + self.duplicates


@dataclass(frozen=True, slots=True)
class Round:
    """One measured round of one subscriber."""

    rate: float  # messages/s, wall clock
    cpu_us: float  # CPU microseconds per message in this process (all its threads)
    arrived: int
    gaps: int


def run_round(
    subject: Peer | ConnectorSubject, broker: Mosquitto, topics: list[str], count: int
) -> Round:
    """Publish ``count`` messages to a ready subject and measure it."""
    if not subject.wait_ready():
        raise SystemExit("subscriber did not connect")
    context = multiprocessing.get_context("spawn")
    ready, go = context.Event(), context.Event()
    publisher = context.Process(
        target=publish, args=(broker.host, broker.port, topics, count, ready, go)
    )
    publisher.start()
    if not ready.wait(60):
        raise SystemExit("publisher did not start")
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    go.set()
    finished = subject.done.wait(TIMEOUT_S)
    publisher.join(TIMEOUT_S)
    arrived, gaps = subject.finish()
    if not finished:
        return Round(0.0, 0.0, arrived, gaps)
    return Round(
        count / (subject.done_at - started),
        (subject.cpu_done - cpu_started) / count * 1e6,
        arrived,
        gaps,
    )


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    count: int = args.messages

    plant = load_plant(SAMPLE_PLANT / "plant.toml")
    topics = sorted(plant.routes())
    peer, inline = "bare paho subscriber (counts only)", "bare paho + Decoder.decode inline"
    names = [peer, inline, "MqttConnector -> list", "MqttConnector -> TelemetryStore"]
    results: dict[str, list[Round]] = {name: [] for name in names}

    with Mosquitto(persistence=False) as broker:
        for _ in range(args.rounds):
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
        rounds = results[name]
        rate = statistics.median(r.rate for r in rounds)
        cpu = statistics.median(r.cpu_us for r in rounds)
        rows.append(
            [
                name,
                rate,
                min(r.rate for r in rounds),
                max(r.rate for r in rounds),
                max(r.gaps for r in rounds),
                f"{rate / peer_rate:.2f}x" if peer_rate else "-",
                cpu,
                f"{peer_cpu / cpu:.2f}x" if cpu else "-",
            ]
        )
    print_table(
        f"MQTT ingest, QoS 0, {count:,} JSON messages x {args.rounds} rounds, "
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


if __name__ == "__main__":
    main()
