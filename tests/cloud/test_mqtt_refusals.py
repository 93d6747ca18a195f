"""The receiver's MQTT side against a real Mosquitto: 1,000 fuzzed payloads, deep JSON, NaN
timestamps and a gzip bomb are all refused, counted, dead-lettered, answered and acknowledged
to the broker (never delivered again), while other sites' batches are still stored."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from assistant.schema.sync import Ack, batch_digest, encode_batch
from assistant.sync.outbox import Queued
from connectors.mqtt.publisher import MqttPublisher
from connectors.mqtt.uplink import MqttUplink
from tests.brokers import MosquittoFactory, collect_messages
from tests.cloud.fuzz import refusable, valid_batch
from tests.cloud.receiver import CloudReceiver
from tests.sync.conftest import SITE, TOKEN, ReceiverFactory

FUZZED = 1000
PREFIX = "shiftmate/uplink"


def _wait_for(receiver: CloudReceiver, check: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check(receiver.health()):
        assert time.monotonic() < deadline, f"{what}: {receiver.health()} {receiver.log()}"
        time.sleep(0.2)


def _fuzzed() -> list[bytes]:
    payloads: list[bytes] = []

    @settings(
        max_examples=FUZZED,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(refusable("site-b", "token-b"))
    def collect(body: bytes) -> None:
        payloads.append(body)

    collect()
    return payloads


def _record(key: str) -> Queued:
    return Queued(
        id=0, key=key, kind="feedback", body='{"ok":1}', size=8, created_at=1.0, attempts=0
    )


def test_fuzzed_payloads_are_refused_counted_and_never_redelivered(
    make_receiver: ReceiverFactory, make_mosquitto: MosquittoFactory
) -> None:
    broker = make_mosquitto()
    receiver = make_receiver(
        mqtt={"host": broker.host, "port": broker.port, "client_id": "cloud-receiver",
              "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        max_body_bytes=2_000_000,
    )  # fmt: skip
    _wait_for(receiver, lambda h: h["mqtt"] == "subscribed", "the receiver never subscribed")

    fuzzed = _fuzzed()
    assert len(fuzzed) == FUZZED
    deep = json.dumps(valid_batch("site-b", "token-b")).replace(
        '{"n": 0}', "[" * 100_000 + "]" * 100_000
    )
    nan = json.dumps(valid_batch("site-b", "token-b")).replace(
        '"created_at": 1.0', '"created_at": NaN', 1
    )
    bomb = gzip.compress(b"0" * 5_000_000)
    bad = [*fuzzed, deep.encode(), nan.encode(), gzip.compress(nan.encode()), bomb]

    replies_client, replies, _ = collect_messages(broker.port, f"{PREFIX}/site-b/ack")
    uplink = MqttUplink(
        broker.mqtt_settings(client_id="site-a-uplink"), topic_prefix=PREFIX, site=SITE,
        ack_timeout_s=120,
    )  # fmt: skip
    try:
        with MqttPublisher(broker.mqtt_settings(client_id="fuzzer")) as publisher:
            started = time.monotonic()
            for n, body in enumerate(bad):
                publisher.publish(f"{PREFIX}/site-b", body, qos=1)
                if n == len(bad) // 2:  # another site's good batch in the middle of it all
                    good = encode_batch(SITE, TOKEN, [_record("a-1"), _record("a-2")])
                    assert uplink.send(good, 2)[0] == Ack(2, 0)
            publisher.publish(f"{PREFIX}/nobody", b"{}", qos=1)
        total = len(bad) + 1
        _wait_for(receiver, lambda h: sum(h["refused"].values()) == total, "not all refused")
        elapsed = time.monotonic() - started
        health = receiver.health()
        print(f"{len(bad)} bad payloads ({FUZZED} fuzzed) refused in {elapsed:.1f} s: "
              f"{health['refused']}")  # fmt: skip
        assert set(health["refused"]) <= {"invalid", "unauthorized", "too_large", "unknown_site"}
        assert health["refused"]["unknown_site"] == 1 and health["refused"]["too_large"] == 1
        assert health["dead_letters"] == total
        assert [r.key for r in receiver.records()] == ["a-1", "a-2"]
        assert health["sites"] == {SITE: {"feedback": 2, "receipts": 2}}

        # every bad payload was answered on the site's reply topic, with its refusal
        deadline = time.monotonic() + 60
        while len(replies) < len(bad) and time.monotonic() < deadline:
            time.sleep(0.1)
        answers = [json.loads(r) for r in replies]
        assert len(answers) == len(bad)
        assert Counter(a["batch"] for a in answers) == Counter(batch_digest(b) for b in bad)
        assert {a["status"] for a in answers} <= {400, 401, 413}
        letters = receiver.dead_letters()
        assert {d.via for d in letters} == {"mqtt"}
        assert all(b"token-b" not in d.body for d in letters)

        # acknowledged to the broker: a restarted receiver is given none of them again
        receiver.stop()
        receiver.start()
        _wait_for(receiver, lambda h: h["mqtt"] == "subscribed", "no subscription after restart")
        after = encode_batch(SITE, TOKEN, [_record("a-3")])
        assert uplink.send(after, 1)[0] == Ack(1, 0)  # queued behind anything redelivered
        health = receiver.health()
        assert health["refused"] == {} and health["dead_letters"] == total
        assert [r.key for r in receiver.records()] == ["a-1", "a-2", "a-3"]
    finally:
        uplink.close()
        replies_client.disconnect()
        replies_client.loop_stop()
