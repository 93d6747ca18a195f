"""The PostgreSQL store against a real server: numbered migrations (fresh, upgraded, raced),
exactly once per (site, key) enforced by the database under concurrent writers, the export
cursor, and the password kept out of every message."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from assistant.cloud.postgres import MIGRATIONS, PostgresStore, redact_url
from assistant.cloud.store import CloudStore
from assistant.errors import SyncError
from assistant.schema.sync import Ack, WireRecord
from tests.cloud.postgres import PostgresServer


def _records(keys: list[str], kind: str = "feedback") -> list[WireRecord]:
    return [WireRecord(k, kind, 1.0, {"key": k, "text": "ü\u0000"}) for k in keys]


def test_a_fresh_database_gets_every_migration_once(pg_url: str, tmp_path: Path) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(pg_url, tmp_path))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]  # receivers starting together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    assert {s.schema_version() for s in stores} == {MIGRATIONS[-1][0]} == {3}
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes").fetchall()}
    assert [v[0] for v in versions] == [1, 2, 3]
    assert {"records_by_xid", "receipts_by_site", "records_pkey"} <= indexes
    for store in stores:
        store.close()


def test_an_older_schema_is_upgraded_in_place(pg_url: str, tmp_path: Path) -> None:
    version, description, sql = MIGRATIONS[0]
    with psycopg.connect(pg_url) as conn:  # a database left by a receiver of migration 1 only
        conn.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL)"
        )
        for statement in sql.split(";"):
            conn.execute(statement.encode())
        conn.execute("INSERT INTO schema_version VALUES (%s, %s, 0)", (version, description))
        conn.execute(
            "INSERT INTO records (site, key, kind, created_at, received_at, body)"
            " VALUES ('s', 'old', 'feedback', 1, 1, '{\"n\": 1}')"
        )
    store = PostgresStore(pg_url, tmp_path)
    try:
        assert store.schema_version() == 3
        assert [(r.key, r.body) for r in store.records()] == [("old", {"n": 1})]
        assert store.store("s", _records(["old", "new"]), "https") == Ack(1, 1)
    finally:
        store.close()


def test_concurrent_writers_store_each_key_once(pg_url: str, tmp_path: Path) -> None:
    # 6 writers (own connections, as 6 receivers would have), 300 keys, each key sent by 3 of them
    keys = [f"k{i}" for i in range(300)]
    plans = [[k for i, k in enumerate(keys) if i % 6 in {w, (w + 1) % 6, (w + 2) % 6}]
             for w in range(6)]  # fmt: skip
    stores = [PostgresStore(pg_url, tmp_path) for _ in plans]
    accepted = [0] * len(plans)
    duplicates = [0] * len(plans)
    start = threading.Barrier(len(plans))

    def write(n: int) -> None:
        start.wait()
        mine = plans[n]
        for i in range(0, len(mine), 10):
            ack = stores[n].store("site-a", _records(mine[i : i + 10]), "https")
            accepted[n] += ack.accepted
            duplicates[n] += ack.duplicates

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(accepted) == len(keys)
    assert sum(duplicates) == 2 * len(keys)
    stored = [r.key for r in stores[0].records()]
    assert sorted(stored) == sorted(keys)
    assert stores[0].counts() == {"site-a": {"feedback": 300, "receipts": 900}}
    assert stores[0].records(kind="feedback").__next__().body["text"] == "ü\u0000"
    for store in stores:
        store.close()


def test_the_export_cursor_returns_each_record_once(pg_url: str, tmp_path: Path) -> None:
    store = PostgresStore(pg_url, tmp_path)
    other = PostgresStore(pg_url, tmp_path)
    try:
        store.store("a", _records(["f1", "f2"]) + _records(["s1"], "summary"), "https")
        first = store.since(None, "feedback")
        assert [r.key for r in first.records] == ["f1", "f2"]
        assert store.since(first.cursor, "feedback").records == []
        other.store("b", _records(["f3"]), "mqtt")
        store.store("a", _records(["f1", "f4"]), "https")  # f1 again: not stored, not exported
        second = store.since(first.cursor, "feedback")
        assert sorted((r.site, r.key) for r in second.records) == [("a", "f4"), ("b", "f3")]
        assert second.cursor != first.cursor
        assert [r.key for r in store.since(None).records] == ["f1", "f2", "s1", "f3", "f4"]
        with pytest.raises(SyncError, match="not one of this store"):
            store.since("seq:3")
    finally:
        store.close()
        other.close()


def test_sqlite_keeps_a_schema_version_and_a_cursor(tmp_path: Path) -> None:
    store = CloudStore(tmp_path)
    try:
        assert store.schema_version() == 1
        store.store("a", _records(["f1", "f2"]), "https")
        first = store.since(None, "feedback")
        store.store("a", _records(["f2", "f3"]), "https")
        assert [r.key for r in store.since(first.cursor, "feedback").records] == ["f3"]
        with pytest.raises(SyncError, match="not one of this store"):
            store.since("xid:9")
    finally:
        store.close()
    reopened = CloudStore(tmp_path)
    try:
        assert reopened.schema_version() == 1 and len(list(reopened.records())) == 3
    finally:
        reopened.close()


def test_the_password_never_shows(postgres: PostgresServer, pg_url: str, tmp_path: Path) -> None:
    assert postgres.password in pg_url
    store = PostgresStore(pg_url, tmp_path)
    try:
        assert postgres.password not in store.where and "***" in store.where
    finally:
        store.close()
    wrong = pg_url.replace(postgres.password, "wrong-" + postgres.password)
    with pytest.raises(SyncError) as raised:
        PostgresStore(wrong, tmp_path)
    assert "password authentication failed" in str(raised.value)
    assert postgres.password not in str(raised.value) and "***" in str(raised.value)
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
