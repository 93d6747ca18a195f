"""benchmarks/cloud_ingest.py at a tiny size: real receivers on SQLite and a real PostgreSQL."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from assistant.cloud.store import CloudStore
from assistant.schema.sync import WireRecord
from benchmarks.cloud_ingest import Batches, IngestError, check_once, prepare, run_all


@pytest.fixture(scope="module")
def batches() -> Batches:
    """Return 60 records in batches of 7 dealt to 3 senders (9 batches, the last of 4)."""
    return prepare(60, 7, 3, conversations=2)


def test_batches_are_the_wire_format_with_every_key_once(batches: Batches) -> None:
    decoded = [json.loads(gzip.decompress(b)) for sender in batches.bodies for b in sender]
    assert [len(sender) for sender in batches.bodies] == [3, 3, 3]
    assert batches.per_site == [21, 21, 18]
    keys = [(d["site"], r["key"]) for d in decoded for r in d["records"]]
    assert len(keys) == len(set(keys)) == 60
    owners = [site for site in batches.sites for _ in range(3)]
    for d, (site, token) in zip(decoded, owners, strict=True):
        assert (d["v"], d["site"], d["token"]) == (1, site, token)
        assert {r["kind"] for r in d["records"]} == {"feedback"}
    assert batches.wire_bytes < batches.json_bytes


def test_every_configuration_stores_each_record_once(batches: Batches, tmp_path: Path) -> None:
    results = run_all(batches, tmp_path, rounds=1)
    assert [m.name for m in results] == ["SQLite x1", "PostgreSQL x1", "PostgreSQL x2"]
    assert all(m.records == 60 and m.seconds > 0 for m in results)
    # senders 0 and 2 post to the first PostgreSQL receiver, sender 1 to the second
    assert [m.per_receiver for m in results] == [[9], [9], [6, 3]]


def test_check_once_refuses_a_store_missing_a_record(batches: Batches, tmp_path: Path) -> None:
    store = CloudStore(tmp_path / "cloud")
    try:
        for sender, (site, _) in zip(batches.bodies, batches.sites, strict=True):
            records = [
                WireRecord(r["key"], r["kind"], r["created_at"], r["body"])
                for body in sender
                for r in json.loads(gzip.decompress(body))["records"]
            ]
            store.store(site, records, "https")
        check_once("complete", store, batches)
        site = batches.sites[0][0]
        store._conn.execute("DELETE FROM records WHERE rowid = (SELECT MIN(rowid) FROM records)")
        with pytest.raises(IngestError, match=f"site {site} sent 21 records; the store holds 20"):
            check_once("one lost", store, batches)
    finally:
        store.close()
