"""Evidence a draft rests on, gathered by code: the alarm event and the asset's abnormal live
values, passages, whole documents, conversations, and de-duplication.

An evidence line is listed once: two passages with the same chunk id, or with the same excerpt
(one text ingested twice, under two names), are one line; so are two telemetry lines of the
same reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.chat.assets import AssetResolver
from assistant.chat.citations import cited_labels
from assistant.chat.live import render_line
from assistant.domain import Chunk, TelemetryEvent
from assistant.journal import Turn
from assistant.knowledge.manifest import Manifest
from assistant.knowledge.store import ChunkStore
from assistant.plant import AssetSpec
from assistant.telemetry.store import TelemetryStore
from assistant.workorders.model import DocumentEvidence, TelemetryEvidence

WORDS = re.compile(r"[A-Za-z]{3}")
"""A run of three letters: text that says something in words, not only tags and figures."""
ABNORMAL = ("lolo", "lo", "hi", "hihi", "outside normal", "stale")
"""Live states worth a line of evidence."""


def clip(text: str, limit: int) -> str:
    """Return text with its whitespace collapsed, cut at a word to at most limit characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def mentions(chunk: Chunk, asset: AssetSpec) -> bool:
    """Return whether a chunk names the asset (its tags, title, section or text)."""
    tags = {t.upper() for t in asset.document_tags}
    if tags & {a.upper() for a in chunk.assets}:
        return True
    blob = f"{chunk.title} {chunk.section} {chunk.text}".upper()
    return any(re.search(rf"\b{re.escape(t)}\b", blob) for t in tags)


def passage_evidence(chunk: Chunk, excerpt: str | None = None) -> DocumentEvidence:
    """Return a passage as an evidence line: its source, section, page and an excerpt."""
    return DocumentEvidence(
        source=chunk.source,
        section=chunk.section,
        page=chunk.page,
        chunk_id=chunk.id,
        excerpt=clip(chunk.text if excerpt is None else excerpt, 600),
    )


def _same_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def unique_documents(items: Iterable[DocumentEvidence]) -> tuple[DocumentEvidence, ...]:
    """Return passages without repeats: the first of each chunk id and of each excerpt."""
    ids: set[str] = set()
    texts: set[str] = set()
    kept: list[DocumentEvidence] = []
    for item in items:
        text = _same_text(item.excerpt)
        if item.chunk_id in ids or (text and text in texts):
            continue
        ids.add(item.chunk_id)
        texts.add(text)
        kept.append(item)
    return tuple(kept)


def unique_telemetry(items: Iterable[TelemetryEvidence]) -> tuple[TelemetryEvidence, ...]:
    """Return telemetry lines without repeats: the first of each reading and of each text."""
    readings: set[tuple[str, str, float | None, str, str | None]] = set()
    texts: set[str] = set()
    kept: list[TelemetryEvidence] = []
    for item in items:
        reading = (item.asset.upper(), item.tag, item.ts, item.state, item.event_id)
        text = _same_text(item.text)
        if reading in readings or (text and text in texts):
            continue
        readings.add(reading)
        texts.add(text)
        kept.append(item)
    return tuple(kept)


def with_cause(
    documents: Sequence[DocumentEvidence], cause: DocumentEvidence | None, after: int, cap: int
) -> tuple[DocumentEvidence, ...]:
    """Return the passages with the cause's row among them (after the first ``after``), each
    once and at most ``cap``: a passage of the same chunk gives way to the row it holds."""
    if cause is None:
        return unique_documents(documents)[:cap]
    at = next((n for n, d in enumerate(documents) if d.chunk_id == cause.chunk_id), None)
    if at is not None and at < after:
        listed = [*documents[:at], cause, *documents[at + 1 :]]
    else:
        listed = [*documents[:after], cause, *documents[after:]]
    kept = unique_documents(d for d in listed if d is cause or d.chunk_id != cause.chunk_id)
    if cause not in kept[:cap]:
        kept = (*kept[: cap - 1], cause)
    return kept[:cap]


def telemetry_evidence(
    asset: AssetSpec, event: TelemetryEvent | None, telemetry: TelemetryStore | None
) -> tuple[TelemetryEvidence, ...]:
    """Return the alarm event's line (if any), then the asset's abnormal live values."""
    lines: list[TelemetryEvidence] = []
    if event is not None:
        spec = asset.tag(event.tag) if event.tag else None
        lines.append(
            TelemetryEvidence(
                asset=event.asset,
                tag=event.tag or "(asset)",
                value=event.value,
                unit=spec.unit if spec else "",
                ts=event.ts,
                state=f"{event.level} {event.state}",
                text=clip(event.message, 600),
                event_id=event.id,
            )
        )
    if telemetry is not None:
        statuses = telemetry.asset_status(asset.id)
        for n, status in enumerate(s for s in statuses if s.state in ABNORMAL):
            line = render_line(f"T{n + 1}", status)
            lines.append(
                TelemetryEvidence(
                    asset=status.asset,
                    tag=status.tag,
                    value=status.value,
                    unit=status.unit,
                    ts=status.ts,
                    state=status.state,
                    text=clip(line.text, 600),
                )
            )
    return tuple(lines)


class DocumentReader:
    """Reads whole ingested documents in document order, each from the store once."""

    def __init__(self, manifest: Manifest, chunks: ChunkStore) -> None:
        self.manifest = manifest
        self.chunks = chunks
        self._read: dict[str, list[Chunk]] = {}

    def __call__(self, source: str) -> list[Chunk]:
        """Return every chunk of an ingested document, in document order."""
        if source not in self._read:
            entry = self.manifest.get(source)
            if entry is None:
                self._read[source] = []
            else:
                order = {chunk_id: n for n, chunk_id in enumerate(entry.chunk_ids)}
                found = self.chunks.get(list(entry.chunk_ids))
                self._read[source] = sorted(found, key=lambda c: order.get(c.id, 0))
        return self._read[source]


@dataclass(frozen=True)
class ConversationEvidence:
    """What an operator's conversation contributes to a draft: its questions and what the
    checked answers cited (passages and live values), taken from the journal by code."""

    conversation_id: str
    questions: tuple[str, ...]
    assets: tuple[str, ...]
    documents: tuple[DocumentEvidence, ...]
    telemetry: tuple[TelemetryEvidence, ...]


def conversation_evidence(
    conversation_id: str, turns: Sequence[Turn], resolver: AssetResolver
) -> ConversationEvidence:
    """Collect a conversation's questions, the assets it is about and the sources it cited.

    The assets are those the operator's questions name; only when no question names one, those
    the answers name (an answer quoting a manual names every asset the passage does). Only
    citations that survived the answer checks count (the journal keeps them per turn), and
    only live values an answer actually cited (``[T#]`` in its text).
    """
    documents: list[DocumentEvidence] = []
    telemetry: list[TelemetryEvidence] = []
    asked: list[str] = []
    answered: list[str] = []
    for turn in turns:
        asked += resolver.resolve(turn.question)
        answered += resolver.resolve(turn.answer)
        documents += [
            DocumentEvidence(
                source=c["source"],
                section=c["section"],
                page=c["page"],
                chunk_id=c["chunk_id"],
                excerpt=clip(c["text"], 600),
            )
            for c in turn.citations
        ]
        cited = set(cited_labels(turn.answer))
        telemetry += [
            TelemetryEvidence(
                asset=line["asset"],
                tag=line["tag"],
                value=line["value"],
                unit=line["unit"],
                ts=line["ts"],
                state=line["state"],
                text=clip(line["text"], 600),
            )
            for line in turn.telemetry
            if line["id"] in cited
        ]
    return ConversationEvidence(
        conversation_id=conversation_id,
        questions=tuple(t.question for t in turns),
        assets=tuple(dict.fromkeys(asked or answered)),
        documents=unique_documents(documents),
        telemetry=unique_telemetry(telemetry),
    )
