"""Alarm history in a real SQLite journal: migration 3, round trip, ordering, filters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from assistant.db import Database
from assistant.domain import Reading, TelemetryEvent
from assistant.migrations import MIGRATIONS
from assistant.plant import load_plant
from assistant.settings import TelemetrySettings
from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.store import TelemetryStore

SAMPLE_PLANT = Path(__file__).resolve().parents[3] / "assistant" / "sample_plant" / "plant.toml"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """Open a fresh journal and close it after the test."""
    database = Database(tmp_path / "journal.sqlite")
    yield database
    database.close()


def event(id: str, asset: str, ts: float, **changes: Any) -> TelemetryEvent:
    """Return a limit event with the given fields changed."""
    base = TelemetryEvent(
        id=id,
        asset=asset,
        tag="flow",
        kind="limit",
        level="lo",
        state="raised",
        ts=ts,
        value=190.25,
        message=f"{asset} flow 190.25 m3/h below lo limit 200 m3/h",
        values=(("flow", 190.25),),
    )
    return replace(base, **changes)


def test_migration_three_is_the_telemetry_history(tmp_path: Path) -> None:
    assert MIGRATIONS[2][:2] == (3, "telemetry alarm and anomaly history")
    db = Database(tmp_path / "journal.sqlite")
    assert db.schema_version == MIGRATIONS[-1][0] >= 3
    tables = {row[0] for row in db.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "telemetry_events" in tables
    db.close()
    reopened = Database(tmp_path / "journal.sqlite")  # migrating again is a no-op
    assert reopened.schema_version == MIGRATIONS[-1][0]
    reopened.close()


def test_round_trip_of_every_field(tmp_path: Path) -> None:
    db = Database(tmp_path / "journal.sqlite")
    history = AlarmHistory(db)
    limit = event("a1", "P-101", 1_767_000_000.123456)
    anomaly = event(
        "b2",
        "C-3",
        1_767_000_001.5,
        tag="",
        kind="anomaly",
        level="anomaly",
        value=2.75,
        message="C-3 is unlike its learned normal behaviour",
        values=(("oil_temp", 68.125), ("discharge_temp", 101.5)),
    )
    stale = event(
        "c3", "HX-12", 1_767_000_002.0, kind="stale", level="stale", value=None, values=()
    )
    for e in (limit, anomaly, stale):
        history.record(e)
    assert history.get("a1") == limit
    assert history.get("b2") == anomaly
    assert history.get("c3") == stale
    assert history.get("missing") is None
    history.record(limit)  # idempotent on the id
    assert len(history.recent()) == 3
    db.close()
    again = Database(tmp_path / "journal.sqlite")
    assert AlarmHistory(again).get("b2") == anomaly
    again.close()


def test_recent_is_newest_first_with_limit_and_asset_filter(db: Database) -> None:
    history = AlarmHistory(db)
    for i in range(10):
        history.record(event(f"e{i}", "P-101" if i % 2 else "C-3", 1000.0 + i))
    assert [e.id for e in history.recent(limit=3)] == ["e9", "e8", "e7"]
    assert [e.id for e in history.recent(asset="c-3")] == ["e8", "e6", "e4", "e2", "e0"]
    assert history.recent(asset="P-999") == []


def test_the_store_can_write_its_events_straight_into_history(db: Database) -> None:
    history = AlarmHistory(db)
    store = TelemetryStore(
        load_plant(SAMPLE_PLANT), TelemetrySettings(anomaly=False), on_event=history.record
    )
    store.add(Reading("P-102", "motor_current", 90.0, 1999.0))  # running: alarms apply
    for i, value in enumerate([4.0, 5.2, 5.7, 4.0]):
        store.add(Reading("P-102", "discharge_pressure", value, 2000.0 + i))
    assert [(e.level, e.state) for e in reversed(history.recent())] == [
        ("hi", "raised"),
        ("hihi", "raised"),
        ("hihi", "cleared"),
        ("hi", "cleared"),
    ]
