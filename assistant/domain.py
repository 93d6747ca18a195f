"""Our own frozen domain types; no framework type ever crosses a layer boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One structural unit of a loaded document: a paragraph, table row group or page text.

    ``heading_path`` is the chain of headings the block sits under (outermost first);
    ``page`` is 1-based for paged formats (PDF) and ``None`` otherwise.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """A document turned into text blocks by a loader, before chunking."""

    source: str
    title: str
    blocks: tuple[TextBlock, ...]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document as stored in the knowledge base."""

    id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    assets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A chunk retrieved for a query, with its cosine similarity (higher is closer)."""

    chunk: Chunk
    score: float


UnitKind = Literal["sentence", "step", "item", "row"]


@dataclass(frozen=True, slots=True)
class AnswerUnit:
    """One quotable piece of a chunk: a sentence, a list item or step, or a table row.

    ``start``/``end`` are character offsets into the chunk's text; ``text`` is what an answer
    shows: the span itself, or for a table row the row rendered with its header ("Pump-end
    6311-C3: Quantity per regrease 17 g; Interval every 2,000 running hours"). ``marker`` is a
    list item's own number or bullet ("3.", "-"); ``group`` numbers the list or table the unit
    belongs to inside its chunk (-1 for running text); ``lead`` is the list's lead-in line or
    the table's header row.
    """

    chunk_id: str
    index: int
    kind: UnitKind
    start: int
    end: int
    text: str
    marker: str = ""
    group: int = -1
    lead: str = ""


@dataclass(frozen=True, slots=True)
class Citation:
    """A checked reference from an answer to a passage a person can open and read.

    ``quote`` is the exact text of the passage the answer used, ``text[start:end]``; a
    citation of the whole passage (a generated sentence attributed to it) has no quote and
    ``start``/``end`` of None. ``spans`` lists each quoted unit's (start, end) when the answer
    quoted several pieces of the passage; ``quote`` then runs from the first to the last.
    """

    id: str
    chunk_id: str
    source: str
    section: str
    page: int | None
    text: str
    quote: str = ""
    start: int | None = None
    end: int | None = None
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Timings:
    """Where the time of one answer went."""

    retrieval_ms: float
    ttft_ms: float
    total_ms: float
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished, checked answer to one question."""

    conversation_id: str
    question: str
    text: str
    citations: tuple[Citation, ...]
    timings: Timings
    dropped_citations: int = 0
    unsupported_numbers: tuple[str, ...] = ()
    unsupported_claims: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    stopped_looping: bool = False
    telemetry: tuple[TelemetryLine, ...] = ()
    cut: tuple[str, ...] = field(default=())
    covered: bool = True
    turn_id: int = 0
    mode: str = "extractive"


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry sample of one tag, as decoded from the plant network.

    ``ts`` is seconds since the Unix epoch (UTC). ``seq`` is the publisher's sequence number
    when the payload carries one (used to prove nothing was lost).
    """

    asset: str
    tag: str
    value: float
    ts: float
    unit: str = ""
    seq: int | None = None


EventKind = Literal["limit", "anomaly", "stale"]
EventState = Literal["raised", "cleared"]


@dataclass(frozen=True, slots=True)
class TelemetryEvent:
    """An alarm, anomaly or staleness event, raised or cleared, with the values behind it.

    ``tag`` is empty for asset-level events (the multivariate anomaly detector); ``level`` is
    one of lolo, lo, hi, hihi for limit alarms, "anomaly" or "stale" otherwise. ``values``
    holds the (tag, value) pairs that caused the event.
    """

    id: str
    asset: str
    tag: str
    kind: EventKind
    level: str
    state: EventState
    ts: float
    value: float | None
    message: str
    values: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class TelemetryLine:
    """One line of live telemetry given to the model and cited as ``[T#]``, rendered by code."""

    id: str
    asset: str
    tag: str
    value: float | None
    unit: str
    ts: float | None
    state: str
    trend: str
    text: str
