"""The outbox: durable, idempotent, in priority order, with explicit and counted retention."""

from __future__ import annotations

import random
from pathlib import Path

from assistant.db import Database
from assistant.errors import SyncError
from assistant.settings import SyncSettings
from assistant.sync.outbox import SCHEMA, Item, Outbox
from assistant.sync.uploader import backoff_delay


def _item(key: str, kind: str = "feedback", size: int = 10) -> Item:
    return Item(key=key, kind=kind, body={"text": "x" * size})


def test_records_survive_reopening_and_keys_are_queued_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    first = outbox.put([_item("a"), _item("b", "summary")], state={"cursor": "7"})
    again = outbox.put([_item("a"), _item("c")])
    outbox.close()
    reopened = Outbox(path)
    assert (first.added, again.added, again.duplicates) == (2, 1, 1)
    assert reopened.keys() == ["a", "c", "b"]  # feedback before summaries
    assert reopened.get_state("cursor") == "7"
    assert reopened._query("PRAGMA journal_mode")[0][0] == "wal"
    status = reopened.status()
    assert status.backlog == 3
    assert status.by_kind == {"feedback": 2, "summary": 1}
    assert status.bytes == sum(len('{"text":"xxxxxxxxxx"}') for _ in range(3))
    assert status.oldest_at is not None
    assert status.last_success_at is None
    reopened.close()


def test_batches_respect_limits_and_ack_removes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put([_item(f"k{i}", size=100) for i in range(10)])
    assert len(outbox.batch(4, 1_000_000)) == 4
    assert len(outbox.batch(100, 250)) == 2
    assert len(outbox.batch(100, 1)) == 1  # at least one, however large
    batch = outbox.batch(3, 1_000_000)
    outbox.ack([r.id for r in batch])
    status = outbox.status()
    assert status.backlog == 7
    assert status.sent == 3
    assert status.last_success_at is not None
    assert next(r.key for r in outbox.batch(100, 10**9)) == "k3"


def test_failures_are_recorded_with_the_next_attempt(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put([_item("a")])
    ids = [r.id for r in outbox.batch(10, 10**6)]
    assert outbox.fail(ids, "receiver down", 123.0) == 1
    assert outbox.fail(ids, "still down", 456.0) == 2
    status = outbox.status()
    assert (status.last_error, status.failures, status.next_attempt_at) == ("still down", 2, 456.0)
    assert outbox.batch(10, 10**6)[0].attempts == 2
    outbox.ack(ids)
    status = outbox.status()
    assert (status.failures, status.next_attempt_at, status.backlog) == (0, None, 0)
    assert status.last_error == "still down"  # kept after recovery, with its time


def test_drop_oldest_drops_summaries_first_and_counts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_records=3, overflow="drop_oldest")
    outbox.put([_item("s1", "summary"), _item("f1"), _item("s2", "summary")])
    result = outbox.put([_item("f2"), _item("f3")])
    assert result.dropped == 2
    assert outbox.keys() == ["f1", "f2", "f3"]
    status = outbox.status()
    assert (status.dropped, status.rejected, status.backlog) == (2, 0, 3)
    assert outbox.counters()["dropped_summary"] == 2


def test_reject_new_refuses_and_counts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_bytes=1024, overflow="reject_new")
    result = outbox.put([_item(f"k{i}", size=300) for i in range(5)])
    assert (result.added, result.rejected) == (3, 2)
    assert outbox.keys() == ["k0", "k1", "k2"]
    assert outbox.status().rejected == 2
    assert outbox.counters()["rejected_feedback"] == 2


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    settings = SyncSettings(backoff_min_s=1.0, backoff_max_s=60.0)
    rng = random.Random(7)
    for failures, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)):
        delays = [backoff_delay(settings, failures, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not a fixed delay


def test_a_version_1_outbox_is_migrated_with_its_records(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    old = Database(path, migrations=SCHEMA[:1], error=SyncError, name="outbox")
    with old.transaction() as conn:
        conn.execute(
            "INSERT INTO records (key, kind, priority, body, size, created_at)"
            " VALUES ('old', 'feedback', 0, '{}', 2, 1.0)"
        )
    assert old.schema_version == 1
    old.close()
    outbox = Outbox(path)
    assert outbox._db.schema_version == SCHEMA[-1][0] == 2
    assert outbox.keys() == ["old"]
    assert outbox.status().quarantined == 0
    outbox.close()


def test_quarantine_moves_records_with_the_reason_and_clears_the_backoff(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.put([_item("a"), _item("b"), _item("c", "summary")])
    ids = {r.key: r.id for r in outbox.batch(10, 10**6)}
    outbox.fail(list(ids.values()), "receiver down", 999.0)
    moved = outbox.quarantine([ids["a"], ids["c"]], status=400, reason="invalid", detail="bad")
    assert moved == 2
    assert outbox.keys() == ["b"]
    status = outbox.status()
    assert (status.backlog, status.quarantined, status.failures) == (1, 2, 0)
    assert status.next_attempt_at is None
    assert status.quarantine_reasons == {"invalid": 2}
    assert [q["key"] for q in outbox.quarantined()] == ["a", "c"]
    assert outbox.counters()["quarantined_summary"] == 1
    assert outbox.quarantine([ids["a"]], status=400, reason="invalid", detail="again") == 0
    assert outbox.put([_item("a")]).duplicates == 1  # never queued again
    outbox.close()
    reopened = Outbox(path)
    assert reopened.status().quarantine_reasons == {"invalid": 2}
    reopened.close()
