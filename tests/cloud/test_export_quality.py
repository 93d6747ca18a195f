"""Training sets and drift: ``cloud export`` writes JSONL, Parquet (read back with pyarrow) and a
manifest whose cursor makes the next export incremental, on SQLite and PostgreSQL; answer
quality per site, model and day is computed from what real edges sent (``cloud status``,
``GET /v1/models/quality``) and the edge's ``/metrics`` counts the same for its own answers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from assistant.api.metrics import AnswerQuality, Metrics
from assistant.cloud.export import export_training_set
from assistant.cloud.postgres import PostgresStore
from assistant.cloud.store import CloudStore, RecordStore
from assistant.journal import PassageRef
from assistant.schema.sync import WireRecord
from assistant.services import Services
from tests.api.test_metrics import parse
from tests.cloud.receiver import clean_env, shiftmate
from tests.conftest import ServicesFactory
from tests.sync.conftest import SITE, TOKEN, ReceiverFactory, sync_settings

MODEL_A, MODEL_B = "aa" * 32, "bb" * 32


def _feedback(site: str, n: int, rating: str, corrected: str = "", **extra: Any) -> WireRecord:
    body = {
        "kind": "feedback",
        "turn_id": n,
        "feedback_id": n,
        "rating": rating,
        "reason": "wrong" if corrected else "",
        "corrected_answer": corrected,
        "question": f"question {n}?",
        "answer": f"original answer {n} [D1].",
        "prompt": f"Passages:\n[D1] ...\nQuestion: question {n}?",
        "system_prompt": "You are Shiftmate.",
        "prompt_version": "ask-v1",
        "model_sha256": MODEL_A,
        "redactions": {"name": n % 3, "phone": 1},
        **extra,
    }
    return WireRecord(f"{site}:feedback:{n}", "feedback", 1_764_000_000.0 + n * 86400, body)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordStore]:
    """Return an empty store of each kind."""
    opened: RecordStore
    if request.param == "sqlite":
        opened = CloudStore(tmp_path / "cloud")
    else:
        opened = PostgresStore(request.getfixturevalue("pg_url"), tmp_path / "cloud")
    yield opened
    opened.close()


def test_export_writes_parquet_and_a_manifest_and_resumes(
    store: RecordStore, tmp_path: Path
) -> None:
    store.store(
        "site-a",
        [
            _feedback("site-a", 1, "helpful"),
            _feedback("site-a", 2, "not_helpful", "corrected 2 [D1]."),
            _feedback("site-a", 3, "not_helpful"),  # teaches nothing
        ],
        "https",
    )
    store.store("site-b", [_feedback("site-b", 4, "helpful", model_sha256=MODEL_B)], "mqtt")
    first = export_training_set(store, "sft", tmp_path / "one" / "sft.jsonl")
    table = pq.read_table(tmp_path / "one" / "sft.parquet")
    lines = (tmp_path / "one" / "sft.jsonl").read_text().splitlines()
    assert table.num_rows == len(lines) == first["rows"] == 3
    assert table.to_pylist() == [json.loads(line) for line in lines]
    assert [r["metadata"]["target"] for r in table.to_pylist()] == [
        "answer",
        "correction",
        "answer",
    ]
    assert table.schema.field("messages").type.value_type.names == ["role", "content"]
    written = json.loads((tmp_path / "one" / "sft.manifest.json").read_text())
    assert written == first
    assert first["feedback_records"] == 4
    assert first["sites"] == {
        "site-a": {"feedback": 3, "rows": 2},
        "site-b": {"feedback": 1, "rows": 1},
    }
    assert first["date_range"] == {
        "first": "2025-11-25T16:00:00+00:00",
        "last": "2025-11-28T16:00:00+00:00",
    }
    assert first["model_sha256"] == {MODEL_A: 3, MODEL_B: 1}
    assert first["prompt_versions"] == {"ask-v1": 4}
    assert first["redactions"] == {"name": 1 + 2 + 0 + 1, "phone": 4}
    assert first["since"] is None and first["files"] == {
        "jsonl": "sft.jsonl",
        "parquet": "sft.parquet",
    }

    nothing = export_training_set(
        store, "dpo", tmp_path / "two" / "dpo.jsonl", since=first["cursor"]
    )
    assert (nothing["rows"], nothing["feedback_records"]) == (0, 0)
    assert pq.read_table(tmp_path / "two" / "dpo.parquet").num_rows == 0

    again = _feedback("site-a", 2, "not_helpful", "again")  # a key already stored: not new
    store.store(
        "site-a", [again, _feedback("site-a", 5, "not_helpful", "corrected 5 [D1].")], "https"
    )
    later = export_training_set(
        store, "dpo", tmp_path / "three" / "dpo.jsonl", since=first["cursor"]
    )
    assert later["since"] == first["cursor"] and later["cursor"] != first["cursor"]
    pairs = pq.read_table(tmp_path / "three" / "dpo.parquet").to_pylist()
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [
        ("corrected 5 [D1].", "original answer 5 [D1].")
    ]
    assert later["sites"] == {"site-a": {"feedback": 1, "rows": 1}}
    everything = export_training_set(store, "dpo", tmp_path / "four" / "dpo.jsonl")
    assert everything["rows"] == 2 and everything["feedback_records"] == 5


def test_cli_export_since_the_manifest_cursor(
    make_receiver: ReceiverFactory, tmp_path: Path
) -> None:
    receiver = make_receiver()
    store = CloudStore(receiver.data_dir / "cloud")
    try:
        store.store(SITE, [_feedback(SITE, 1, "helpful")], "https")
    finally:
        store.close()

    def export(out: Path, *since: str) -> dict[str, Any]:
        done = subprocess.run(
            shiftmate(receiver.config, receiver.data_dir, "cloud", "export", "--format", "sft",
                      *since, str(out)),
            capture_output=True, text=True, env=clean_env(), timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        manifest: dict[str, Any] = json.loads(out.with_suffix(".manifest.json").read_text())
        assert f"--since {manifest['cursor']}" in done.stdout
        return manifest

    first = export(tmp_path / "a.jsonl")
    assert first["rows"] == 1
    store = CloudStore(receiver.data_dir / "cloud")
    try:
        store.store(SITE, [_feedback(SITE, 2, "helpful")], "https")
    finally:
        store.close()
    second = export(tmp_path / "b.jsonl", "--since", first["cursor"])
    assert second["rows"] == 1
    assert json.loads((tmp_path / "b.jsonl").read_text())["metadata"]["turn_id"] == 2
    bad = subprocess.run(
        shiftmate(receiver.config, receiver.data_dir, "cloud", "export", "--format", "sft",
                  "--since", "xid:1", str(tmp_path / "c.jsonl")),
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "not one of this store" in bad.stderr


# (model, day, [(covered, answer, withheld sentences, rating, corrected answer)]) per conversation
TWO = "Close valve V-1 [D1]. Open drain D-2 [D1]."
NONE = "The documents do not cover this."
CONVERSATIONS = [
    (MODEL_A, "2026-11-20", [(True, TWO, 0, "helpful", ""),
                             (False, NONE, 0, "not_helpful", "Use P-2.")]),
    (MODEL_A, "2026-11-21", [(True, TWO, 1, "helpful", ""),
                             (True, "Close valve V-3 [D1]. Open drain D-4 [D1].", 2, None, "")]),
    (MODEL_B, "2026-11-21", [(True, TWO, 0, "not_helpful", ""),
                             (False, NONE, 0, "not_helpful", "Use P-2.")]),
]  # fmt: skip
EXPECTED = {
    # answers, not covered, sentences shown, withheld, rated, helpful, corrected -> rates
    (MODEL_A, "2026-11-20"): dict(answers=2, not_covered=1, sentences=3, withheld=0, rated=2,
                                  helpful=1, corrected=1, not_covered_rate=0.5, withheld_rate=0.0,
                                  helpful_rate=0.5, correction_rate=0.5),
    (MODEL_A, "2026-11-21"): dict(answers=2, not_covered=0, sentences=4, withheld=3, rated=1,
                                  helpful=1, corrected=0, not_covered_rate=0.0,
                                  withheld_rate=0.4286, helpful_rate=1.0, correction_rate=0.0),
    (MODEL_B, "2026-11-21"): dict(answers=2, not_covered=1, sentences=3, withheld=0, rated=2,
                                  helpful=0, corrected=1, not_covered_rate=0.5, withheld_rate=0.0,
                                  helpful_rate=0.0, correction_rate=0.5),
}  # fmt: skip


def _write_answers(site: Services) -> None:
    journal, feedback = site.journal, site.feedback
    for model, day, turns in CONVERSATIONS:
        cid = journal.new_conversation(f"valves on {day}")
        for n, (covered, answer, withheld, rating, corrected) in enumerate(turns):
            tid = journal.add_turn(
                cid, question=f"Which valve, turn {n}?", answer=answer, raw_answer=answer,
                prompt_user="Question: which valve?", passages=[PassageRef("D1", "c-1", True)],
                citations=[], telemetry=[], timings={},
                checks={"covered": covered, "withheld": [f"Claim {i}." for i in range(withheld)]},
                prompt_version="ask-v1", model_sha256=model,
            )  # fmt: skip
            with site.db.transaction() as conn:  # answered on that day (noon UTC)
                conn.execute("UPDATE turns SET created_at = ? WHERE id = ?",
                             (f"{day}T12:00:00+00:00", tid))  # fmt: skip
            if rating is not None:
                feedback.add(tid, rating, reason="wrong" if corrected else "",
                             corrected_answer=corrected)  # fmt: skip


def test_quality_per_site_model_and_day(
    make_services: ServicesFactory, make_receiver: ReceiverFactory, tmp_path: Path
) -> None:
    receiver = make_receiver()
    site = make_services("site", sync=sync_settings(receiver.url))
    _write_answers(site)
    collected = site.sync.collect()
    assert (collected.summaries, collected.feedback) == (3, 5)
    sent = site.sync.send()
    assert (sent.error, sent.sent) == (None, 8)

    figures = {
        (row["model_sha256"], row["day"]): {k: row[k] for k in EXPECTED[MODEL_A, "2026-11-20"]}
        for row in _quality(receiver.url, receiver.health_token, receiver.verify)
    }
    assert figures == EXPECTED
    own = _quality(receiver.url, TOKEN, receiver.verify)  # a site's token: its own figures
    assert {r["site"] for r in own} == {SITE} and len(own) == 3
    assert _quality(receiver.url, "token-b", receiver.verify) == []
    denied = httpx.get(f"{receiver.url}/v1/models/quality", timeout=10, trust_env=False)
    assert denied.status_code == 401

    status = subprocess.run(
        shiftmate(receiver.config, receiver.data_dir, "cloud", "status", "--json"),
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["quality"] == _quality(
        receiver.url, receiver.health_token, receiver.verify
    )
    text = subprocess.run(
        shiftmate(receiver.config, receiver.data_dir, "cloud", "status"),
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert f"{SITE} bbbbbbbbbbbb 2026-11-21: 2 answers, 50% not covered" in text.stdout

    # the edge's own counters, per model, from the same answers
    metrics = Metrics()
    metrics.add(AnswerQuality(site.db))
    _, samples = parse(metrics.render())

    def counted(name: str) -> dict[str, float]:
        return {labels["model"]: value for labels, value in samples[name + "_total"]}

    assert counted("shiftmate_answers") == {MODEL_A: 4, MODEL_B: 2}
    assert counted("shiftmate_answers_not_covered") == {MODEL_A: 1, MODEL_B: 1}
    assert counted("shiftmate_answer_sentences") == {MODEL_A: 7, MODEL_B: 3}
    assert counted("shiftmate_answer_sentences_withheld") == {MODEL_A: 3, MODEL_B: 0}
    assert counted("shiftmate_feedback_ratings") == {MODEL_A: 3, MODEL_B: 2}
    assert counted("shiftmate_feedback_helpful") == {MODEL_A: 2, MODEL_B: 0}
    assert counted("shiftmate_feedback_corrected") == {MODEL_A: 1, MODEL_B: 1}
    site.feedback.add(1, "helpful")  # counted from where the last scrape stopped
    _, samples = parse(metrics.render())
    assert counted("shiftmate_feedback_ratings") == {MODEL_A: 4, MODEL_B: 2}


def _quality(url: str, token: str, verify: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/v1/models/quality", headers={"Authorization": f"Bearer {token}"}, timeout=10,
        trust_env=False, verify=verify,
    )  # fmt: skip
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["quality"]
    return rows
