"""Permanent refusals against the real receiver (HTTPS and MQTT): the refused record goes to the
outbox's quarantine with its reason, the records around it still flow, ``sync status`` shows
it; a refusal that a resend may cure (a wrong token) is retried instead."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from assistant.services import Services
from assistant.sync.outbox import Item
from tests.brokers import MosquittoFactory
from tests.cloud.receiver import CloudReceiver, clean_env, shiftmate, write_config
from tests.conftest import ServicesFactory
from tests.sync.conftest import ReceiverFactory, sync_settings
from tests.sync.seed import seed

NO_SUMMARIES = 1e9  # idle_s: only feedback is collected (no model call)
DEEP_KEY = "site-a:feedback:deep"
LARGE_KEY = "site-a:feedback:large"
MQTT_CONNECT_S = 20.0  # the 3 s of sync_settings is for HTTP refusals; a loaded CI box needs more


def _nested(depth: int) -> dict[str, Any]:
    body: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        body = {"x": body}
    return body


def _queue_refusable(site: Services) -> None:
    """Queue, ahead of the site's feedback, a record nested too deep and one too large."""
    site.outbox.put(
        [
            Item(DEEP_KEY, "feedback", _nested(40)),
            Item(LARGE_KEY, "feedback", {"text": "x" * 300_000}),
        ]
    )


def _sync(config: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shiftmate(config, data_dir, "sync", *args),
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )  # fmt: skip


def _status(config: Path, data_dir: Path, *json_flag: str) -> str:
    done = _sync(config, data_dir, "status", *json_flag)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_https_refused_records_are_quarantined_and_the_rest_flows(
    make_services: ServicesFactory, make_receiver: ReceiverFactory, tmp_path: Path
) -> None:
    receiver = make_receiver(max_body_bytes=200_000)
    sync = sync_settings(receiver.url, idle_s=NO_SUMMARIES, batch_records=3)
    site = make_services("site", sync=sync)
    _queue_refusable(site)
    seeded = seed(site, 4, turns_each=1)
    site.sync.collect()
    drained = site.sync.send()
    assert (drained.error, drained.backlog, drained.quarantined) == (None, 0, 2)
    expected = sorted(f"site-a:feedback:{i}" for i in seeded.feedback)
    assert sorted(r.key for r in receiver.records()) == expected
    status = site.sync.status()
    assert (status.quarantined, status.failures, status.next_attempt_at) == (2, 0, None)
    assert status.quarantine_reasons == {"invalid": 1, "too_large": 1}
    assert {(q["key"], q["status"]) for q in site.outbox.quarantined()} == {
        (DEEP_KEY, 400),
        (LARGE_KEY, 413),
    }
    # a quarantined key is not queued again, and later records flow as before
    assert site.outbox.put([Item(DEEP_KEY, "feedback", {"n": 1})]).duplicates == 1
    more = seed(site, 2, turns_each=1)
    site.sync.collect()
    assert site.sync.send().sent == len(more.feedback)
    assert len(receiver.records()) == len(seeded.feedback) + len(more.feedback)

    config = write_config(tmp_path / "site.toml", {"sync": sync})
    text = _status(config, site.data_dir)
    assert "quarantined:  2 records (1 invalid, 1 too_large)" in text
    assert f"{DEEP_KEY}: 400 invalid" in text and "nested deeper than 32 levels" in text
    assert f"{LARGE_KEY}: 413 too_large" in text
    as_json = json.loads(_status(config, site.data_dir, "--json"))
    assert as_json["quarantined"] == 2
    assert as_json["quarantine_reasons"] == {"invalid": 1, "too_large": 1}
    assert {q["key"] for q in as_json["quarantine_recent"]} == {DEEP_KEY, LARGE_KEY}

    # the quarantine is listed whole, and a record can be sent again once its cause is fixed
    listed = _sync(config, site.data_dir, "quarantine", "--json")
    assert {q["key"] for q in json.loads(listed.stdout)} == {DEEP_KEY, LARGE_KEY}
    unknown = _sync(config, site.data_dir, "requeue", "site-a:feedback:nope")
    assert unknown.returncode != 0
    assert "not in the quarantine: site-a:feedback:nope" in unknown.stderr
    assert _sync(config, site.data_dir, "requeue", LARGE_KEY).stdout.startswith("requeued 1 ")
    status = site.sync.status()
    assert (status.backlog, status.quarantined) == (1, 1)
    assert _sync(config, site.data_dir, "requeue", "--all").stdout.startswith("requeued 1 ")
    assert site.sync.status().backlog == 2
    # still refused by this receiver: back to the quarantine, nothing stuck in the queue
    again = site.sync.send()
    assert (again.error, again.backlog, again.quarantined) == (None, 0, 2)
    assert _sync(config, site.data_dir, "requeue", "--all").returncode == 0
    assert site.sync.status().quarantined == 0


def test_a_wrong_token_is_retried_not_quarantined(
    make_services: ServicesFactory, make_receiver: ReceiverFactory
) -> None:
    receiver = make_receiver()
    sync = sync_settings(receiver.url, idle_s=NO_SUMMARIES, token="not-the-token-of-site-a")
    site = make_services("site", sync=sync)
    seed(site, 2, turns_each=1)
    site.sync.collect()
    failed = site.sync.send()
    assert failed.error is not None and "answered 401" in failed.error
    assert (failed.backlog, failed.quarantined) == (2, 0)
    assert site.sync.status().quarantined == 0
    assert receiver.records() == []


def _wait_subscribed(receiver: CloudReceiver) -> None:
    deadline = time.monotonic() + 30
    while receiver.health()["mqtt"] != "subscribed":
        assert time.monotonic() < deadline, receiver.log()
        time.sleep(0.1)


def test_mqtt_refusals_are_answered_and_quarantined(
    make_services: ServicesFactory,
    make_receiver: ReceiverFactory,
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto()
    common = {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.2}
    receiver = make_receiver(mqtt={**common, "client_id": "cloud-receiver"}, max_body_bytes=200_000)
    _wait_subscribed(receiver)
    sync = sync_settings(
        None, transport="mqtt", mqtt={**common, "client_id": "site-a-uplink"},
        idle_s=NO_SUMMARIES, batch_records=3, ack_timeout_s=20.0, timeout_s=MQTT_CONNECT_S,
    )  # fmt: skip
    site = make_services("site", sync=sync)
    _queue_refusable(site)
    seeded = seed(site, 4, turns_each=1)
    site.sync.collect()
    drained = site.sync.send()
    assert (drained.error, drained.backlog, drained.quarantined) == (None, 0, 2)
    assert sorted(r.key for r in receiver.records()) == sorted(
        f"site-a:feedback:{i}" for i in seeded.feedback
    )
    status = site.sync.status()
    assert status.quarantine_reasons == {"invalid": 1, "too_large": 1}
    details = {q["key"]: q["detail"] for q in status.quarantine_recent}
    assert "refused the batch (400 invalid)" in details[DEEP_KEY]
    assert "refused the batch (413 too_large)" in details[LARGE_KEY]
    health = receiver.health()
    # the batch of three was too large, then each refused record alone: all dead-lettered
    assert health["refused"] == {"too_large": 2, "invalid": 1}
    assert health["dead_letters"] == 3
