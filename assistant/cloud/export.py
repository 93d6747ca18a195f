"""Training sets from the received feedback: SFT in chat-messages format, DPO preference pairs.

SFT (``{"messages": [...], "metadata": {...}}``): every exchange rated helpful without a
correction teaches its own answer; every exchange with a corrected answer teaches the
correction. DPO (``{"prompt": [...], "chosen": [...], "rejected": [...], "metadata": {...}}``,
the conversational preference format of TRL): every corrected exchange, chosen = the
correction, rejected = the original answer. The prompt is the system prompt of the prompt
version that produced the answer and the exact user message the model saw (passages,
telemetry, question). An exchange rated more than once counts once per distinct target.

:func:`export_training_set` writes the set three ways: ``OUT.jsonl``, ``OUT.parquet`` (the same
rows, nested columns; ``pyarrow.parquet.read_table`` or ``datasets.load_dataset("parquet")``
read it) and ``OUT.manifest.json``: rows per site, the date range of the feedback, the prompt
and model versions, the redaction counts the records carry, and the ``cursor`` to pass as
``--since`` next time, so that the next export holds only feedback stored since this one.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from assistant.cloud.store import RecordStore, StoredRecord
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


def _feedback(source: RecordStore | Iterable[StoredRecord]) -> Iterable[StoredRecord]:
    if isinstance(source, Iterable):
        return (r for r in source if r.kind == "feedback")
    return source.records(kind="feedback")


def sft_examples(source: RecordStore | Iterable[StoredRecord]) -> Iterator[dict[str, Any]]:
    """Yield SFT examples from well-rated or corrected exchanges (a store's, or those given)."""
    seen: set[tuple[str, Any, str]] = set()
    for record in _feedback(source):
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


def dpo_pairs(source: RecordStore | Iterable[StoredRecord]) -> Iterator[dict[str, Any]]:
    """Yield DPO pairs: chosen = the operator's correction, rejected = the original answer."""
    seen: set[tuple[str, Any, str]] = set()
    for record in _feedback(source):
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


_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_METADATA = [
    ("site", pa.string()),
    ("key", pa.string()),
    ("turn_id", pa.int64()),
    ("feedback_id", pa.int64()),
    ("rating", pa.string()),
    ("reason", pa.string()),
    ("prompt_version", pa.string()),
    ("model_sha256", pa.string()),
]
SCHEMAS = {
    "sft": pa.schema(
        [
            ("messages", _MESSAGES),
            ("metadata", pa.struct([*_METADATA, ("target", pa.string())])),
        ]
    ),
    "dpo": pa.schema(
        [
            ("prompt", _MESSAGES),
            ("chosen", _MESSAGES),
            ("rejected", _MESSAGES),
            ("metadata", pa.struct(_METADATA)),
        ]
    ),
}
"""The Parquet schema of each format (the JSONL rows, column for column)."""


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    meta = dict(row["metadata"])
    meta["turn_id"] = _int_or_none(meta.get("turn_id"))
    meta["feedback_id"] = _int_or_none(meta.get("feedback_id"))
    for name in ("site", "key", "rating", "reason", "prompt_version", "model_sha256"):
        meta[name] = None if meta.get(name) is None else str(meta[name])
    return {**row, "metadata": meta}


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def manifest(
    fmt: Format,
    records: list[StoredRecord],
    rows: list[dict[str, Any]],
    *,
    since: str | None,
    cursor: str,
    files: dict[str, str],
) -> dict[str, Any]:
    """Return the manifest of an export: what went in, from where, and the next cursor."""
    per_site: dict[str, dict[str, int]] = {}
    for record in records:
        per_site.setdefault(record.site, {"feedback": 0, "rows": 0})["feedback"] += 1
    for row in rows:
        site = str(row["metadata"]["site"])
        per_site.setdefault(site, {"feedback": 0, "rows": 0})["rows"] += 1
    redactions: Counter[str] = Counter()
    for record in records:
        counts = record.body.get("redactions")
        if isinstance(counts, dict):
            for kind, n in counts.items():
                if isinstance(n, int) and not isinstance(n, bool):
                    redactions[str(kind)] += n
    created = [r.created_at for r in records]
    return {
        "format": fmt,
        "rows": len(rows),
        "feedback_records": len(records),
        "sites": dict(sorted(per_site.items())),
        "date_range": {
            "first": _iso(min(created)) if created else None,
            "last": _iso(max(created)) if created else None,
        },
        "prompt_versions": dict(Counter(str(r.body.get("prompt_version")) for r in records)),
        "model_sha256": dict(Counter(str(r.body.get("model_sha256")) for r in records)),
        "redactions": dict(sorted(redactions.items())),
        "since": since,
        "cursor": cursor,
        "exported_at": _iso(time.time()),
        "files": files,
    }


def _replace(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    tmp.replace(path)


def export_training_set(
    store: RecordStore, fmt: Format, out: Path, *, since: str | None = None
) -> dict[str, Any]:
    """Write OUT.jsonl, OUT.parquet and OUT.manifest.json of the feedback after ``since``.

    ``since`` is the ``cursor`` of an earlier export's manifest (None: everything); the
    manifest returned (and written) holds the cursor for the next export.
    """
    window = store.since(since, kind="feedback")
    rows = list(sft_examples(window.records) if fmt == "sft" else dpo_pairs(window.records))
    jsonl = out if out.suffix == ".jsonl" else out.with_name(out.name + ".jsonl")
    parquet = jsonl.with_suffix(".parquet")
    meta_path = jsonl.with_suffix(".manifest.json")
    files = {"jsonl": jsonl.name, "parquet": parquet.name}
    document = manifest(fmt, window.records, rows, since=since, cursor=window.cursor, files=files)

    def write_jsonl(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write_parquet(tmp: Path) -> None:
        table = pa.Table.from_pylist([_parquet_row(r) for r in rows], schema=SCHEMAS[fmt])
        pq.write_table(table, tmp)

    def write_manifest(tmp: Path) -> None:
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")

    try:
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        _replace(jsonl, write_jsonl)
        _replace(parquet, write_parquet)
        _replace(meta_path, write_manifest)  # last: a manifest means the files are complete
    except OSError as exc:
        raise SyncError(f"cannot write the export {jsonl}: {exc.strerror or exc}") from exc
    except pa.ArrowException as exc:
        raise SyncError(f"cannot write {parquet}: {exc}") from exc
    return document


def export(store: RecordStore, fmt: Format, out: Path, *, since: str | None = None) -> int:
    """Write the SFT or DPO set (JSONL, Parquet, manifest) to ``out``; return the rows."""
    return int(export_training_set(store, fmt, out, since=since)["rows"])
