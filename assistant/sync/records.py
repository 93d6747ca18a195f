"""The records that go to the cloud: conversation summaries and feedback, built from the journal.

A summary's prose comes from the local model (JSON-schema constrained, so even the 135M default
returns a parseable object); every fact beside it comes from code: assets, alarms, citations,
work orders, timings, the model file's sha256 and the prompt versions. When the model fails, a
code-written summary (the questions asked) takes its place and ``summary_source`` says so.

Feedback records carry the rating, reason, comment and corrected answer with what produced the
answer: the question, the answer, the exact user prompt, the passages given (chunk ids), the
cited passages and the live telemetry lines. The operator's name is not sent.

Nothing here redacts: every string of both records, the prompt with the passages and live
values it quoted included, goes through :class:`assistant.sync.redact.Redactor` in
``SyncService`` before it is queued (the one place that does it).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from assistant.chat.prompt import PROMPT_VERSION, SYSTEM_PROMPT
from assistant.errors import ModelError
from assistant.feedback import Feedback
from assistant.journal import Turn
from assistant.knowledge.sentences import split_sentences
from models.backend import ChatBackend
from models.types import Message

SUMMARY_PROMPT_VERSION = "summary-v1"
ALARM_STATES = ("lolo", "lo", "hi", "hihi")
TRANSCRIPT_CHARS = 6000
"""Most characters of the conversation given to the model (the latest turns are kept)."""

SUMMARY_SYSTEM = (
    "You summarise a conversation between a plant operator and Shiftmate, the plant's "
    "assistant, for the engineers who improve Shiftmate. In two or three plain sentences say "
    "what the operator wanted, what the answers said, and whether the question was resolved. "
    "Do not invent figures."
)
SUMMARY_STOPS = ("\n\n", "<|im_end|>")
SUMMARY_CHARS = 600


def iso_to_epoch(stamp: str) -> float:
    """Return the Unix time of an ISO 8601 timestamp."""
    return datetime.fromisoformat(stamp).timestamp()


def turn_versions(conn_rows: Sequence[sqlite3.Row]) -> dict[int, tuple[str, str]]:
    """Map turn ids to (prompt_version, model_sha256) from rows of the journal's turns table."""
    return {int(r["id"]): (str(r["prompt_version"]), str(r["model_sha256"])) for r in conn_rows}


def _transcript(turns: Sequence[Turn]) -> str:
    parts = [f"Operator: {t.question}\nShiftmate: {t.answer}" for t in turns]
    text = "\n\n".join(parts)
    return text[-TRANSCRIPT_CHARS:]


def _clean_summary(text: str) -> str:
    """Keep whole sentences, each once, within SUMMARY_CHARS (small models repeat themselves)."""
    sentences: list[str] = []
    for sentence in split_sentences(" ".join(text.split())):
        if sentence and sentence not in sentences:
            sentences.append(sentence)
    out = ""
    for sentence in sentences:
        if len(out) + len(sentence) + 1 > SUMMARY_CHARS:
            break
        out = f"{out} {sentence}".strip()
    return out


def model_summary(model: ChatBackend, turns: Sequence[Turn], max_tokens: int) -> dict[str, Any]:
    """Ask the local model for a short summary; fall back to the questions if it fails.

    Plain generation with stops, not JSON-schema constrained: on the 135M default the grammar
    made the model loop until the token limit (13 s for one summary against about 1 s).
    """
    messages = [
        Message("system", SUMMARY_SYSTEM),
        Message("user", "Conversation:\n" + _transcript(turns) + "\n\nSummary in two sentences:"),
    ]
    try:
        out = model.complete(messages, max_tokens=max_tokens, temperature=0.2, stop=SUMMARY_STOPS)
        text = _clean_summary(out.text)
        if not text:
            raise ModelError("the model wrote an empty summary")
        return {"summary": text, "summary_source": "model"}
    except ModelError as exc:
        asked = "; ".join(t.question for t in turns)
        return {
            "summary": f"The operator asked: {asked}"[:SUMMARY_CHARS],
            "summary_source": "code",
            "summary_error": str(exc)[:200],
        }


def conversation_facts(
    conversation_id: str,
    title: str,
    turns: Sequence[Turn],
    versions: dict[int, tuple[str, str]],
    work_orders: Sequence[dict[str, Any]],
    asset_pattern: str,
) -> dict[str, Any]:
    """Return the code-written facts of a conversation (everything but the prose)."""
    finder = re.compile(asset_pattern)
    assets: set[str] = set()
    alarms: dict[tuple[str, str, str], dict[str, Any]] = {}
    citations: dict[str, dict[str, Any]] = {}
    for turn in turns:
        assets.update(finder.findall(turn.question))
        for line in turn.telemetry:
            assets.add(str(line.get("asset", "")))
            state = str(line.get("state", ""))
            if state in ALARM_STATES or state == "stale":
                key = (str(line.get("asset")), str(line.get("tag")), state)
                alarms[key] = {
                    "asset": line.get("asset"),
                    "tag": line.get("tag"),
                    "state": state,
                    "value": line.get("value"),
                    "unit": line.get("unit"),
                    "ts": line.get("ts"),
                    "turn_id": turn.id,
                }
        for citation in turn.citations:
            chunk_id = str(citation.get("chunk_id", ""))
            citations.setdefault(
                chunk_id,
                {
                    "chunk_id": chunk_id,
                    "source": citation.get("source"),
                    "section": citation.get("section"),
                    "page": citation.get("page"),
                    "turns": [],
                },
            )["turns"].append(turn.id)
    assets.discard("")
    timings = [t.timings for t in turns]

    def total(name: str) -> float:
        return float(sum(float(t.get(name) or 0) for t in timings))

    started, ended = turns[0].created_at, turns[-1].created_at
    return {
        "conversation_id": conversation_id,
        "title": title,
        "started_at": started,
        "ended_at": ended,
        "duration_s": round(iso_to_epoch(ended) - iso_to_epoch(started), 3),
        "turns": len(turns),
        "answered": all(t.checks.get("covered") is not False for t in turns),
        "turn_ids": [t.id for t in turns],
        "questions": [t.question for t in turns],
        "assets": sorted(assets),
        "alarms": list(alarms.values()),
        "citations": list(citations.values()),
        "work_orders": list(work_orders),
        "timings": {
            "total_ms": round(total("total_ms"), 1),
            "mean_total_ms": round(total("total_ms") / len(turns), 1),
            "mean_ttft_ms": round(total("ttft_ms") / len(turns), 1),
            "retrieval_ms": round(total("retrieval_ms"), 1),
            "prompt_tokens": int(total("prompt_tokens")),
            "completion_tokens": int(total("completion_tokens")),
        },
        "checks": {
            "not_covered": sum(1 for t in turns if t.checks.get("covered") is False),
            "withheld": sum(len(t.checks.get("withheld") or []) for t in turns),
            "unsupported_numbers": sum(
                len(t.checks.get("unsupported_numbers") or []) for t in turns
            ),
            "dropped_citations": sum(int(t.checks.get("dropped_citations") or 0) for t in turns),
        },
        "prompt_versions": sorted({versions[t.id][0] for t in turns if t.id in versions}),
        "model_sha256": sorted({versions[t.id][1] for t in turns if t.id in versions}),
        "turn_checks": [turn_checks(t, versions.get(t.id, ("", ""))) for t in turns],
    }


def answer_sentences(answer: str) -> int:
    """Return how many sentences an answer shows (what the withheld share is taken of)."""
    return sum(1 for s in split_sentences(" ".join(answer.split())) if s.strip())


def turn_checks(turn: Turn, versions: tuple[str, str]) -> dict[str, Any]:
    """Return one answer's quality facts: when, which model, covered, sentences shown, withheld.

    Sent with each summary (``turn_checks``, added after version 1 of the record: a receiver
    finds it missing in older summaries) so that the cloud can chart drift per model.
    """
    return {
        "turn_id": turn.id,
        "asked_at": turn.created_at,
        "prompt_version": versions[0],
        "model_sha256": versions[1],
        "covered": turn.checks.get("covered") is not False,
        "sentences": answer_sentences(turn.answer),
        "withheld": len(turn.checks.get("withheld") or []),
    }


def feedback_record(
    feedback: Feedback,
    turn: Turn,
    versions: tuple[str, str],
) -> dict[str, Any]:
    """Return the record of one feedback with the exchange that produced the rated answer."""
    prompt_version, model_sha256 = versions
    return {
        "feedback_id": feedback.id,
        "turn_id": turn.id,
        "conversation_id": turn.conversation_id,
        "rating": feedback.rating,
        "reason": feedback.reason,
        "comment": feedback.comment,
        "corrected_answer": feedback.corrected_answer,
        "rated_at": feedback.created_at,
        "asked_at": turn.created_at,
        "question": turn.question,
        "answer": turn.answer,
        "prompt": turn.prompt_user,
        "system_prompt": SYSTEM_PROMPT if prompt_version == PROMPT_VERSION else None,
        "passage_ids": [p.chunk_id for p in turn.passages if p.included],
        "citations": [
            {
                "id": c.get("id"),
                "chunk_id": c.get("chunk_id"),
                "source": c.get("source"),
                "section": c.get("section"),
                "page": c.get("page"),
            }
            for c in turn.citations
        ],
        "telemetry": [
            {k: line.get(k) for k in ("id", "asset", "tag", "value", "unit", "ts", "state", "text")}
            for line in turn.telemetry
        ],
        "checks": turn.checks,
        "prompt_version": prompt_version,
        "model_sha256": model_sha256,
    }
