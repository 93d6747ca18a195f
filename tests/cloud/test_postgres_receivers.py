"""Several ``cloud serve`` processes against one real PostgreSQL: three sites drain their
outboxes into two receivers at once over HTTPS, one receiver is SIGKILLed mid-drain, and every
record is stored exactly once; ``cloud status`` and ``cloud export`` read the same database
(``SHIFTMATE_CLOUD__DATABASE_URL``) and never print its password. Over MQTT two receivers in
one shared-subscription group split the batches and store each once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq

from assistant.schema.sync import Ack, encode_batch
from assistant.sync.outbox import Queued
from connectors.mqtt.uplink import MqttUplink
from tests.brokers import MosquittoFactory, make_tls_files
from tests.cloud.postgres import PostgresServer
from tests.cloud.receiver import CloudReceiver, clean_env, shiftmate, write_config
from tests.conftest import ServicesFactory
from tests.sync.conftest import sync_settings
from tests.sync.seed import seed

SITES = {f"site-{n}": f"token-site-{n}-0123456789" for n in range(3)}
PER_SITE = 30


def _sync_now(config: Path, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        shiftmate(config, data_dir, "sync", "now", "--no-collect"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=clean_env(),
    )  # fmt: skip


def _wait_sending(process: subprocess.Popen[str]) -> None:
    assert process.stderr is not None
    while True:
        line = process.stderr.readline()
        assert line, f"sync now ended before sending: rc {process.wait()}"
        if line.startswith("sending "):
            return


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a ``sync now`` and return its exit status and the rest of its stderr."""
    _, rest = process.communicate(timeout=120)
    return process.returncode, rest


def _stored(url: str) -> tuple[Counter[tuple[str, str]], int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT site, key FROM records").fetchall()
        receipts = conn.execute("SELECT COUNT(*) FROM receipts").fetchone()
    assert receipts is not None
    return Counter((r[0], r[1]) for r in rows), int(receipts[0])


def test_two_receivers_one_killed_every_record_once(
    make_services: ServicesFactory, postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    tls, _, _ = make_tls_files(tmp_path / "tls")
    https: dict[str, Any] = {
        "ssl_certfile": tls.cert_file,
        "ssl_keyfile": tls.key_file,
        "ca_file": tls.ca_file,
    }
    receivers = [  # one names the database in its settings file, one in the environment
        CloudReceiver(tmp_path / "receiver-0", SITES, database_url=pg_url, keep_raw=False, **https),
        CloudReceiver(
            tmp_path / "receiver-1", SITES, keep_raw=False,
            env={"SHIFTMATE_CLOUD__DATABASE_URL": pg_url}, **https,
        ),
    ]  # fmt: skip
    for receiver in receivers:
        receiver.start()
    try:
        edges: list[tuple[Any, dict[str, Any], set[str]]] = []
        for site, token in SITES.items():
            sync = sync_settings(None, site_id=site, token=token, idle_s=1e9)
            services = make_services(site, sync=sync)
            seed(services, PER_SITE, turns_each=1)
            assert services.sync.collect().feedback == PER_SITE
            edges.append((services, sync, set(services.outbox.keys())))
        expected = {
            (site, key)
            for (services, _, keys), site in zip(edges, SITES, strict=True)
            for key in keys
        }
        assert len(expected) == 3 * PER_SITE

        def config(n: int, receiver: CloudReceiver, paced: bool) -> Path:
            _, sync, _ = edges[n]
            values = {**sync, "endpoint": receiver.url, "ca_file": tls.ca_file}
            if (
                paced
            ):  # batches of 2 at 3 kB/s: several seconds of sending, so the kill lands mid-drain
                values.update(batch_records=2, bandwidth_bytes_s=3000)
            name = f"edge{n}-{receiver.port}-{paced}.toml"
            return write_config(tmp_path / name, {"sync": values})

        doomed, survivor = receivers
        # site-0 and site-2 drain into the receiver that is killed, site-1 into the other
        targets = [doomed, survivor, doomed]
        processes = [
            _sync_now(config(n, target, paced=True), edges[n][0].data_dir)
            for n, target in enumerate(targets)
        ]
        for process in processes:
            _wait_sending(process)
        time.sleep(1.0)
        os.kill(doomed.pid, signal.SIGKILL)
        finished = [_finish(p) for p in processes]
        codes = [code for code, _ in finished]
        assert codes[1] == 0, finished[1][1]
        stored_mid, _ = _stored(pg_url)
        left = {n: edges[n][0].sync.status().backlog for n in (0, 2)}
        assert any(left.values()), f"the kill came after the drains: {left} {codes}"
        assert max(stored_mid.values()) == 1

        # the killed receiver's sites drain into the survivor at the same time
        again = [_sync_now(config(n, survivor, paced=False), edges[n][0].data_dir) for n in (0, 2)]
        for process in again:
            code, rest = _finish(process)
            assert code == 0, rest
        for services, _, _ in edges:
            assert services.sync.status().backlog == 0
        stored, receipts = _stored(pg_url)
        assert set(stored) == expected
        assert max(stored.values()) == 1
        assert receipts >= len(expected)
        print(f"stored {len(stored)} once each of {receipts} deliveries; left at the kill: {left}")

        # status and export read the same database, named by the environment
        env = {**clean_env(), "SHIFTMATE_CLOUD__DATABASE_URL": pg_url}
        settings_file = write_config(tmp_path / "ops.toml", {"cloud": {"tokens": SITES}})
        status = subprocess.run(
            shiftmate(settings_file, tmp_path / "ops", "cloud", "status", "--json"),
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        held = json.loads(status.stdout)
        assert {s: k["feedback"] for s, k in held["sites"].items()} == dict.fromkeys(
            SITES, PER_SITE
        )
        assert postgres.password not in status.stdout + status.stderr
        assert held["store"].startswith("postgresql://shiftmate:***@")
        out = tmp_path / "export" / "sft.jsonl"
        done = subprocess.run(
            shiftmate(settings_file, tmp_path / "ops", "cloud", "export", "--format", "sft",
                      str(out)),
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        manifest = json.loads(out.with_suffix(".manifest.json").read_text())
        assert manifest["feedback_records"] == 3 * PER_SITE
        assert pq.read_table(out.with_suffix(".parquet")).num_rows == manifest["rows"] > 0
        shown = subprocess.run(
            shiftmate(settings_file, tmp_path / "ops", "config", "show"),
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert "database_url = (set, secret: not shown)" in shown.stdout
        for receiver in receivers:
            assert postgres.password not in receiver.log()
        assert postgres.password not in shown.stdout + shown.stderr + done.stdout + done.stderr
    finally:
        for receiver in receivers:
            receiver.close()


def _queued(key: str) -> Queued:
    return Queued(
        id=0, key=key, kind="feedback", body='{"ok":1}', size=8, created_at=1.0, attempts=0
    )


def test_a_shared_subscription_splits_batches_between_receivers(
    make_mosquitto: MosquittoFactory, pg_url: str, tmp_path: Path
) -> None:
    broker = make_mosquitto()
    receivers = [
        CloudReceiver(
            tmp_path / f"receiver-{n}", SITES, database_url=pg_url, mqtt_shared_group="ingest",
            mqtt={"host": broker.host, "port": broker.port, "client_id": f"cloud-{n}",
                  "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        ).start()
        for n in range(2)
    ]  # fmt: skip
    uplink = MqttUplink(
        broker.mqtt_settings(client_id="site-0-uplink"), topic_prefix="shiftmate/uplink",
        site="site-0", ack_timeout_s=60,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not all(r.health()["mqtt"] == "subscribed" for r in receivers):
            assert time.monotonic() < deadline, [r.log() for r in receivers]
            time.sleep(0.1)
        batches = 40
        for n in range(batches):
            body = encode_batch("site-0", SITES["site-0"], [_queued(f"m{n}"), _queued(f"m{n}b")])
            assert uplink.send(body, 2)[0] == Ack(2, 0)
        shares = [r.health()["batches"] for r in receivers]
        assert sum(shares) == batches and min(shares) > 0, shares
        stored, receipts = _stored(pg_url)
        assert len(stored) == 2 * batches and max(stored.values()) == 1
        assert receipts == 2 * batches  # no batch went to both receivers
        print(f"MQTT batches per receiver: {shares}")
    finally:
        uplink.close()
        for receiver in receivers:
            receiver.close()
