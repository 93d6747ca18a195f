"""Training sets from the received feedback: SFT in chat-messages format, DPO preference pairs.

SFT (``{"messages": [...], "metadata": {...}}``): every exchange rated helpful without a
correction teaches its own answer; every exchange with a corrected answer teaches the
correction. DPO (``{"prompt": [...], "chosen": [...], "rejected": [...], "metadata": {...}}``,
the conversational preference format of TRL): every corrected exchange, chosen = the
correction, rejected = the original answer. The prompt is the system prompt of the prompt
version that produced the answer and the exact user message the model saw (passages,
telemetry, question). An exchange rated more than once counts once per distinct target.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from assistant.cloud.store import CloudStore, StoredRecord
from assistant.errors import SyncError

Format = Literal["sft", "dpo"]


def _prompt(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = []
    if body.get("system_prompt"):
        messages.append({"role": "system", "content": str(body["system_prompt"])})
    messages.append({"role": "user", "content": str(body.get("prompt") or body["question"])})
    return messages


def _metadata(record: StoredRecord) -> dict[str, Any]:
    body = record.body
    return {
        "site": record.site,
        "key": record.key,
        "turn_id": body.get("turn_id"),
        "feedback_id": body.get("feedback_id"),
        "rating": body.get("rating"),
        "reason": body.get("reason"),
        "prompt_version": body.get("prompt_version"),
        "model_sha256": body.get("model_sha256"),
    }


def sft_examples(store: CloudStore) -> Iterator[dict[str, Any]]:
    """Yield SFT examples from well-rated or corrected exchanges."""
    seen: set[tuple[str, Any, str]] = set()
    for record in store.records(kind="feedback"):
        body = record.body
        correction = str(body.get("corrected_answer") or "").strip()
        if correction:
            target = correction
        elif body.get("rating") == "helpful" and str(body.get("answer") or "").strip():
            target = str(body["answer"])
        else:
            continue
        ident = (record.site, body.get("turn_id"), target)
        if ident in seen:
            continue
        seen.add(ident)
        yield {
            "messages": [*_prompt(body), {"role": "assistant", "content": target}],
            "metadata": {**_metadata(record), "target": "correction" if correction else "answer"},
        }


def dpo_pairs(store: CloudStore) -> Iterator[dict[str, Any]]:
    """Yield DPO pairs: chosen = the operator's correction, rejected = the original answer."""
    seen: set[tuple[str, Any, str]] = set()
    for record in store.records(kind="feedback"):
        body = record.body
        correction = str(body.get("corrected_answer") or "").strip()
        original = str(body.get("answer") or "").strip()
        if not correction or not original or correction == original:
            continue
        ident = (record.site, body.get("turn_id"), correction)
        if ident in seen:
            continue
        seen.add(ident)
        yield {
            "prompt": _prompt(body),
            "chosen": [{"role": "assistant", "content": correction}],
            "rejected": [{"role": "assistant", "content": original}],
            "metadata": _metadata(record),
        }


def export(store: CloudStore, fmt: Format, out: Path) -> int:
    """Write the SFT or DPO set as JSON lines to ``out``; return the number of lines."""
    rows = sft_examples(store) if fmt == "sft" else dpo_pairs(store)
    count = 0
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        tmp.replace(out)
    except OSError as exc:
        raise SyncError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return count
