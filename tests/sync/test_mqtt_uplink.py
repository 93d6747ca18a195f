"""The MQTT uplink through a second real Mosquitto (the cloud broker, TLS with client
certificates) to the real receiver's subscriber: store and forward, exactly once, and a batch
delivered only when the receiver's answer arrives, not on the broker's PUBACK."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from assistant.schema.sync import Ack, UplinkError
from assistant.sync.uploader import Uploader
from connectors.mqtt.uplink import MqttUplink
from tests.brokers import MosquittoFactory, make_tls_files
from tests.cloud.receiver import CloudReceiver
from tests.conftest import ServicesFactory
from tests.sync.conftest import ReceiverFactory, sync_settings
from tests.sync.seed import PII_NEEDLES, seed


def _wait_for(receiver: CloudReceiver, check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check(receiver.health()):
        assert time.monotonic() < deadline, f"{what}: {receiver.health()} {receiver.log()}"
        time.sleep(0.1)


def _stored(health: dict[str, Any]) -> int:
    site = health["sites"].get("site-a", {})
    return int(site.get("feedback", 0) + site.get("summary", 0))


class _CrashAfterPublish:
    """The real MQTT uplink, but the process 'dies' after the broker acknowledged the batch
    and before the outbox recorded it: the batch stays queued and is published again."""

    def __init__(self, link: MqttUplink) -> None:
        self.link = link
        self.where = link.where

    def send(self, payload: bytes, count: int) -> tuple[Ack, int]:
        self.link.send(payload, count)
        raise UplinkError("crashed after PUBACK")

    def close(self) -> None:
        self.link.close()


def test_records_go_through_the_cloud_broker_once_with_tls_client_certs(
    make_services: ServicesFactory,
    make_receiver: ReceiverFactory,
    make_mosquitto: MosquittoFactory,
    tmp_path: Path,
) -> None:
    tls, client_cert, client_key = make_tls_files(tmp_path / "tls")
    broker = make_mosquitto(tls=tls)
    common = {
        "host": broker.host,
        "port": broker.port,
        "tls": True,
        "ca_file": tls.ca_file,
        "cert_file": client_cert,
        "key_file": client_key,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
    }
    receiver = make_receiver(mqtt={**common, "client_id": "cloud-receiver"})
    _wait_for(receiver, lambda h: h["mqtt"] == "subscribed", "the receiver never subscribed")

    sync = sync_settings(
        None, transport="mqtt", mqtt={**common, "client_id": "site-a-uplink"}, idle_s=1e9,
        batch_records=4, ack_timeout_s=2.0, timeout_s=20.0,  # connect: CI boxes may be loaded
    )  # fmt: skip
    site = make_services("site", sync=sync)
    seeded = seed(site, 10, turns_each=2)
    collected = site.sync.collect(close=seeded.conversations[:1])
    assert (collected.summaries, collected.feedback) == (1, 10)
    expected = set(site.outbox.keys())

    # a crash between the broker's acknowledgement and the outbox's: the batch goes twice
    link = MqttUplink(
        site.settings.sync.mqtt, topic_prefix="shiftmate/uplink", site="site-a", timeout_s=5
    )
    crashed = Uploader(site.outbox, _CrashAfterPublish(link), site.settings.sync).drain()
    link.close()
    assert crashed.error == "crashed after PUBACK"
    assert site.outbox.status().backlog == len(expected)
    _wait_for(receiver, lambda h: _stored(h) == 4, "the first batch did not arrive")

    # the receiver goes away: the broker takes the next batch (PUBACK) and holds it for the
    # receiver's session, but nobody answers, so nothing counts as delivered
    receiver.stop()
    down = site.sync.send()
    assert down.error is not None and "did not acknowledge it within 2 s" in down.error
    assert (down.sent, down.backlog) == (0, len(expected))
    assert site.outbox.status().sent == 0
    receiver.start()
    # the receiver stores the held batch (4 duplicates) and answers; the site's session holds
    # that answer, and the next send takes it instead of publishing the batch a third time
    _wait_for(receiver, lambda h: h["duplicates"] == 4, "the held batch was not de-duplicated")
    sent = site.sync.send()
    assert (sent.error, sent.backlog) == (None, 0)
    assert site.outbox.status().sent == len(expected)
    _wait_for(receiver, lambda h: _stored(h) == len(expected), "the queued batches never arrived")
    assert receiver.health()["duplicates"] == 4

    stored = [r.key for r in receiver.records()]
    assert sorted(stored) == sorted(expected)
    assert {r.kind for r in receiver.records()} == {"feedback", "summary"}
    raw = b"".join(receiver.raw_bodies())
    assert raw  # keep_raw holds what came through the broker too
    for needle in PII_NEEDLES:
        assert needle.encode() not in raw, needle
