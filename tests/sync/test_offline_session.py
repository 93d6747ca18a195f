"""Offline mode and the whole path: a demo session (ask, feedback, draft) runs offline under a
network guard, queues redacted summaries and feedback, and once online they reach the real
receiver exactly once, free of the planted personal data, and come out as SFT and DPO sets."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from assistant.cloud.export import export
from assistant.cloud.store import CloudStore
from assistant.errors import SyncError
from tests.assistant.workorders.helpers import plant_services
from tests.conftest import ServicesFactory
from tests.sync.conftest import ReceiverFactory, sync_settings
from tests.sync.netguard import network_guard
from tests.sync.seed import PII, PII_NEEDLES


def test_the_guard_refuses_and_records_non_loopback_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with network_guard(monkeypatch) as guard:
        with pytest.raises(OSError, match="network guard"):
            socket.create_connection(("192.0.2.1", 443), timeout=1)
        with socket.socket() as probe, pytest.raises(OSError, match="network guard"):
            probe.connect(("198.51.100.7", 80))
    assert guard.refused == [("192.0.2.1", 443), ("198.51.100.7", 80)]


def test_offline_session_then_delivery_redacted_once_and_exported(
    make_services: ServicesFactory,
    make_receiver: ReceiverFactory,
    plant_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    receiver = make_receiver()
    offline = sync_settings(receiver.url, offline=True, idle_s=3600.0)
    with network_guard(monkeypatch) as guard:
        site = plant_services(
            make_services, plant_template, tmp_path, "site", sync=offline, chat={"max_tokens": 96}
        )
        first = site.chat.ask(
            f"I am {PII['name']} ({PII['badge']}, {PII['phone']}). How do I clean strainer ST-101?"
        )
        assert first.turn_id is not None and first.conversation_id is not None
        second = site.chat.ask("Which valves do I close first?", first.conversation_id)
        assert second.turn_id is not None
        site.feedback.add(
            first.turn_id,
            "not_helpful",
            reason="incomplete",
            comment=f"mail me at {PII['email']}",
            corrected_answer=f"Start P-102, close the inlet valve, drain ST-101; {PII['surname']} "
            "signs the permit [D1].",
            by=PII["name"],
        )
        site.feedback.add(second.turn_id, "helpful", by=PII["name"])
        order = site.drafter.draft(
            "ST-101", conversation_id=first.conversation_id, created_by=PII["name"]
        )
        # not idle yet: only feedback is queued; closing the conversation summarises it
        assert site.sync.collect().feedback == 2
        assert site.sync.close_conversation(first.conversation_id).summaries == 1
        status = site.outbox.status()
        assert status.offline
        assert (status.backlog, status.by_kind) == (3, {"feedback": 2, "summary": 1})
        assert status.redacted["name"] > 0 and status.redacted["badge"] > 0
        with pytest.raises(SyncError, match="offline mode"):
            site.sync.send()
        assert site.outbox.status().backlog == 3
    assert guard.refused == []
    assert not any(a == (receiver.url, receiver.port) for a in guard.attempts)
    assert all(a[1] != receiver.port for a in guard.attempts if isinstance(a, tuple))

    online = make_services("site", sync=sync_settings(receiver.url, idle_s=3600.0))
    sent = online.sync.send()
    assert (sent.error, sent.sent, sent.backlog) == (None, 3, 0)
    again = online.sync.collect(close=[first.conversation_id])
    assert (again.summaries, again.feedback) == (0, 0)  # nothing new: nothing queued twice

    records = receiver.records()
    assert sorted(r.kind for r in records) == ["feedback", "feedback", "summary"]
    summary = next(r.body for r in records if r.kind == "summary")
    assert summary["conversation_id"] == first.conversation_id
    assert summary["turns"] == 2 and "ST-101" in summary["assets"]
    assert summary["summary"] and summary["summary_source"] in ("model", "code")
    assert summary["prompt_versions"] == ["ask-v1"]
    assert summary["model_sha256"] == [site.llm_sha256]
    assert [w["id"] for w in summary["work_orders"]] == [order.id]
    assert {c["chunk_id"] for c in summary["citations"]} == {
        c.chunk_id for c in (*first.citations, *second.citations)
    }
    rated = next(r.body for r in records if r.kind == "feedback" and r.body["corrected_answer"])
    assert rated["question"].startswith("I am [NAME] ([BADGE], [PHONE]).")
    assert rated["passage_ids"] and rated["citations"] == [
        {k: c.__getattribute__(k) for k in ("id", "chunk_id", "source", "section", "page")}
        for c in first.citations
    ]
    assert "by" not in rated and rated["redactions"]["name"] >= 2

    raw = b"".join(receiver.raw_bodies())
    assert raw.count(b'"key"') == 3
    stored = (receiver.data_dir / "cloud" / "cloud.sqlite3").read_bytes()
    for needle in PII_NEEDLES:
        assert needle.encode() not in raw, needle
        assert needle.encode() not in stored, needle

    store = CloudStore(receiver.data_dir / "cloud")
    try:
        assert export(store, "sft", tmp_path / "sft.jsonl") == 2
        assert export(store, "dpo", tmp_path / "dpo.jsonl") == 1
    finally:
        store.close()
    sft = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert {e["messages"][-1]["content"] for e in sft} == {
        rated["corrected_answer"],
        second.text,
    }
    (pair,) = [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert pair["chosen"][0]["content"] == rated["corrected_answer"]
    assert pair["rejected"][0]["content"] == rated["answer"]
    assert "[NAME] signs the permit" in rated["corrected_answer"]
