"""Alarm acknowledgements in a real SQLite journal: migration 9, who and when, idempotence,
unknown ids and clears refused, and the record outliving the process that wrote it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.db import Database
from assistant.errors import TelemetryError
from assistant.migrations import MIGRATIONS
from assistant.telemetry.acks import AckError, AlarmAcks, UnknownAlarmError
from assistant.telemetry.history import AlarmHistory
from tests.assistant.telemetry.test_history import event


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """Return the path of a journal holding one raised and one cleared ST-101 event."""
    path = tmp_path / "journal.sqlite"
    db = Database(path)
    acks = AlarmAcks(db, AlarmHistory(db))
    acks.history.record(event("raised-1", "ST-101", 1_767_000_000.0))
    acks.history.record(event("cleared-1", "ST-101", 1_767_000_060.0, state="cleared"))
    db.close()
    return path


@pytest.fixture
def acks(journal: Path) -> Iterator[AlarmAcks]:
    """Open the journal's acknowledgements; close the journal after the test."""
    db = Database(journal)
    yield AlarmAcks(db, AlarmHistory(db))
    db.close()


def test_migration_nine_is_the_ack_table_and_an_older_journal_gains_it(tmp_path: Path) -> None:
    [(_, title, _)] = [m for m in MIGRATIONS if m[0] == 9]
    assert title.startswith("alarm acknowledgements")
    assert [m[0] for m in MIGRATIONS] == sorted(m[0] for m in MIGRATIONS)
    path = tmp_path / "journal.sqlite"
    old = Database(path, migrations=[m for m in MIGRATIONS if m[0] < 9])
    AlarmHistory(old).record(event("before-9", "P-101", 1_767_000_000.0))
    assert old.schema_version == 8
    old.close()
    upgraded = Database(path)
    try:
        assert upgraded.schema_version == MIGRATIONS[-1][0] >= 9
        acks = AlarmAcks(upgraded, AlarmHistory(upgraded))
        result = acks.acknowledge("before-9", "Ann", via="cli")
        assert result.created and result.ack.event_id == "before-9"
    finally:
        upgraded.close()


def test_an_ack_records_who_when_and_through_what(acks: AlarmAcks) -> None:
    before = datetime.now(UTC).replace(microsecond=0).timestamp()
    result = acks.acknowledge(
        "raised-1", "  Ann Operator ", via="api", key_id="k123", key_name="tablet 3"
    )
    after = datetime.now(UTC).timestamp()
    ack = result.ack
    assert result.created
    assert (ack.event_id, ack.by, ack.via, ack.key_id, ack.key_name) == (
        "raised-1",
        "Ann Operator",
        "api",
        "k123",
        "tablet 3",
    )
    assert ack.at.endswith("+00:00") and before <= ack.ts <= after
    assert acks.get("raised-1") == ack
    assert acks.for_events(["raised-1", "cleared-1", "nope"]) == {"raised-1": ack}


def test_a_second_ack_returns_the_first_record_unchanged(acks: AlarmAcks) -> None:
    first = acks.acknowledge("raised-1", "Ann", via="tui").ack
    again = acks.acknowledge("raised-1", "Bob", via="cli")
    assert not again.created and again.ack == first
    assert acks.get("raised-1") == first
    assert acks.db.query("SELECT COUNT(*) FROM alarm_acks")[0][0] == 1


def test_concurrent_acks_of_one_event_record_exactly_one(acks: AlarmAcks) -> None:
    results = []
    start = threading.Barrier(8)

    def ack(n: int) -> None:
        start.wait()
        results.append(acks.acknowledge("raised-1", f"operator {n}", via="api"))

    threads = [threading.Thread(target=ack, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.created for r in results) == 1
    assert len({r.ack for r in results}) == 1


def test_unknown_ids_clears_and_bad_names_are_refused_with_reasons(acks: AlarmAcks) -> None:
    with pytest.raises(UnknownAlarmError, match="no alarm event 'nope'"):
        acks.acknowledge("nope", "Ann", via="cli")
    with pytest.raises(AckError, match="is the clear of ST-101 flow lo, not an alarm"):
        acks.acknowledge("cleared-1", "Ann", via="cli")
    with pytest.raises(AckError, match="needs the operator's name"):
        acks.acknowledge("raised-1", "   ", via="cli")
    with pytest.raises(AckError, match="81 characters; the limit is 80"):
        acks.acknowledge("raised-1", "x" * 81, via="cli")
    with pytest.raises(AckError, match="via must be one of"):
        acks.acknowledge("raised-1", "Ann", via="email")  # type: ignore[arg-type]
    assert issubclass(UnknownAlarmError, TelemetryError) and issubclass(AckError, TelemetryError)
    assert acks.for_events(["raised-1", "cleared-1"]) == {}


def test_the_record_outlives_the_journal_connection(journal: Path) -> None:
    db = Database(journal)
    made = AlarmAcks(db, AlarmHistory(db)).acknowledge("raised-1", "Ann", via="tui").ack
    db.close()
    reopened = Database(journal)
    try:
        acks = AlarmAcks(reopened, AlarmHistory(reopened))
        assert acks.get("raised-1") == made
    finally:
        reopened.close()


def test_many_ids_are_looked_up_in_chunks(acks: AlarmAcks) -> None:
    for n in range(1200):
        acks.history.record(event(f"e{n}", "P-101", 1_767_001_000.0 + n))
    for n in range(0, 1200, 7):
        acks.acknowledge(f"e{n}", "Ann", via="cli")
    found = acks.for_events([f"e{n}" for n in range(1200)])
    assert sorted(found) == sorted(f"e{n}" for n in range(0, 1200, 7))
