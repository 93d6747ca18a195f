"""Troubleshooting tables in plant documents, and the row that matches an alarm.

A troubleshooting table is any table (cut into rows by :func:`assistant.knowledge.units.
chunk_units`) whose header has a symptom column (symptom, problem, fault, condition, ...) and
a cause column (cause, reason, possible ...). A row matches an alarm when its symptom cell
names the alarm's tag, in backticks (`flow`, `P-101.flow`; another asset's tag does not count)
or in words ("bearing temperature"), with the alarm's direction next to it: "above", "over",
"high" for a high alarm, "below", "under", "low" for a low one. A threshold stated there
("above 0.35 bar") must agree with the alarm's value. The cause is the row's cause cell,
verbatim; the symptom names the work order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from assistant.domain import AnswerUnit, Chunk, TelemetryEvent
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.units import chunk_units
from assistant.plant import AssetSpec, TagSpec
from assistant.workorders.evidence import WORDS, DocumentReader, clip, mentions
from assistant.workorders.model import MAX_TITLE
from assistant.workorders.safety import is_lockout

Direction = Literal["high", "low"]

NOT_STATED = "not stated"

SYMPTOM_HEADER = re.compile(
    r"symptom|problem|fault|condition|issue|observ|indication|trouble", re.IGNORECASE
)
CAUSE_HEADER = re.compile(r"cause|reason|possible|why", re.IGNORECASE)
RULE = re.compile(r"^:?-*:?$")
EMPTY_CELL = frozenset({"", "-", "\u2014", "\u2013", "n/a", "N/A"})
LEVEL_DIRECTION: dict[str, Direction] = {"hi": "high", "hihi": "high", "lo": "low", "lolo": "low"}
LEVEL_WORDS = {"hihi": "high-high", "hi": "high", "lo": "low", "lolo": "low-low"}
_COMPARATOR = re.compile(
    r"[\s`'\"]*(?:(?:is|reads|rises|rising|falls|falling|goes|stays|drops|dropping)\s+)?"
    r"(?P<word>above|over|exceeds|exceeding|exceed|higher\s+than|greater\s+than|more\s+than"
    r"|below|under|less\s+than|lower\s+than|high|low|>|<)(?![a-z])"
    r"(?:\s*(?P<number>-?\d+(?:,\d{3})*(?:\.\d+)?))?",
    re.IGNORECASE,
)
_ADJECTIVE = re.compile(
    r"(?P<word>high-high|low-low|very\s+high|very\s+low|high|low|excessive|rising|falling)"
    r"[\s-]+$",
    re.IGNORECASE,
)
_HIGH_WORDS = ("above", "over", "exceed", "higher", "greater", "more", "high", ">", "excessive")


@dataclass(frozen=True, slots=True)
class TroubleRow:
    """One row of a troubleshooting table: its symptom and cause cells, verbatim."""

    chunk: Chunk
    unit: AnswerUnit
    symptom: str
    cause: str


@dataclass(frozen=True, slots=True)
class Symptom:
    """What a row is matched against: the asset, the tag, its alarm level and value."""

    asset: AssetSpec
    tag: TagSpec
    level: str
    value: float | None = None

    @property
    def direction(self) -> Direction | None:
        """Return high or low for a limit alarm, None for anything else."""
        return LEVEL_DIRECTION.get(self.level)


def split_cells(line: str) -> list[str]:
    """Return the cells of one table line as written (backticks kept)."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [cell.strip() for cell in body.split("|")]


@lru_cache(maxsize=256)
def columns(lead: str) -> tuple[int, int] | None:
    """Return the (symptom, cause) column indexes of a table header, or None."""
    header = lead.split(" | ")
    cause = next((n for n, name in enumerate(header) if CAUSE_HEADER.search(name)), None)
    if cause is None:
        return None
    symptom = next(
        (n for n, name in enumerate(header) if n != cause and SYMPTOM_HEADER.search(name)), None
    )
    return None if symptom is None else (symptom, cause)


def troubleshooting_rows(chunk: Chunk) -> list[TroubleRow]:
    """Return the rows of the troubleshooting tables in a chunk, in reading order."""
    rows: list[TroubleRow] = []
    for unit in chunk_units(chunk):
        if unit.kind != "row":
            continue
        found = columns(unit.lead)
        if found is None:
            continue
        cells = split_cells(chunk.text[unit.start : unit.end])
        if len(cells) <= max(found) or all(RULE.match(cell) for cell in cells):
            continue  # a Markdown rule line (|---|---|) is no row
        symptom, cause = (" ".join(cells[n].split()) for n in found)
        if symptom in EMPTY_CELL:
            continue
        rows.append(TroubleRow(chunk, unit, symptom, "" if cause in EMPTY_CELL else cause))
    return rows


def _number(text: str | None) -> float | None:
    return None if text is None else float(text.replace(",", ""))


def _direction(word: str) -> Direction:
    return "high" if word.lower().startswith(_HIGH_WORDS) else "low"


def _mentions_of(symptom: Symptom, cell: str) -> list[tuple[bool, int, int]]:
    """Return (explicit, start, end) of each place a cell names the tag of this asset."""
    owners = {symptom.asset.id.upper(), *(t.upper() for t in symptom.asset.document_tags)}
    found: list[tuple[bool, int, int]] = []
    tag = re.escape(symptom.tag.id)
    for match in re.finditer(rf"`(?:(?P<owner>[A-Za-z0-9][\w-]*)\.)?{tag}`", cell):
        owner = match.group("owner")
        if owner is None or owner.upper() in owners:
            found.append((True, match.start(), match.end()))
    phrases = {symptom.tag.id.replace("_", " "), symptom.tag.name}
    for phrase in sorted(p for p in phrases if p.strip()):
        words = r"[\s-]+".join(re.escape(w) for w in phrase.split())
        for match in re.finditer(rf"(?<![\w`.]){words}(?![\w`])", cell, re.IGNORECASE):
            found.append((False, match.start(), match.end()))
    return found


def _score(symptom: Symptom, row: TroubleRow) -> int | None:
    """Return how well a row's symptom cell matches, or None when it does not."""
    wanted = symptom.direction
    if wanted is None:
        return None
    best: int | None = None
    for explicit, start, end in _mentions_of(symptom, row.symptom):
        after = _COMPARATOR.match(row.symptom, end)
        before = _ADJECTIVE.search(row.symptom[:start])
        word = after.group("word") if after else before.group("word") if before else None
        if word is None:
            continue
        if _direction(word) != wanted:
            return None  # the cell says the opposite of this alarm about this tag
        score = 2 if explicit else 1
        threshold = _number(after.group("number")) if after else None
        if threshold is not None and symptom.value is not None:
            beyond = symptom.value >= threshold if wanted == "high" else symptom.value <= threshold
            if not beyond:
                return None  # the row is about a value this alarm has not reached
            score += 1
        severe = bool(re.search(r"high-high|low-low|\btrip", row.symptom, re.IGNORECASE))
        score += 1 if severe == (symptom.level in ("hihi", "lolo")) else 0
        best = score if best is None else max(best, score)
    return best


def match_row(symptom: Symptom, rows: Sequence[TroubleRow]) -> TroubleRow | None:
    """Return the row whose symptom best matches the alarm (the first of equals), or None."""
    best: tuple[int, TroubleRow] | None = None
    for row in rows:
        score = _score(symptom, row)
        if score is not None and (best is None or score > best[0]):
            best = (score, row)
    return None if best is None else best[1]


def about(document: Sequence[Chunk], asset: AssetSpec) -> bool:
    """Return whether a document is about an asset: its title or its opening text names it."""
    return any(
        mentions(c, asset) for c in document if c.section in ("", c.title) or c is document[0]
    )


def document_rows(document: Sequence[Chunk], asset: AssetSpec) -> list[TroubleRow]:
    """Return the troubleshooting rows of a document that apply to an asset."""
    whole = about(document, asset)
    return [
        row
        for chunk in document
        if whole or mentions(chunk, asset)
        for row in troubleshooting_rows(chunk)
    ]


def find_row(
    retriever: Retriever,
    asset: AssetSpec,
    symptom: Symptom | None,
    passages: Sequence[Chunk],
    read: DocumentReader,
    k: int,
) -> TroubleRow | None:
    """Return the row matching the symptom in the troubleshooting tables of the documents
    about the asset: those retrieved, then those a search (``k`` hits) for its symptom finds.
    Lockout procedures are no troubleshooting tables."""
    if symptom is None or symptom.direction is None:
        return None
    words = alarm_words(symptom.tag, symptom.level)
    query = f"{asset.id} {asset.name} troubleshooting symptom likely causes {words}"
    hits = retriever.search(query, k)
    sources = dict.fromkeys(c.source for c in (*passages, *(h.chunk for h in hits)))
    rows: list[TroubleRow] = []
    for source in sources:
        document = read(source)
        if document and not is_lockout(document[0]):
            rows += document_rows(document, asset)
    return match_row(symptom, rows)


def symptom_title(row: TroubleRow, symptom: Symptom) -> str:
    """Return the words of a work order's title from a row: its symptom without the figures in
    brackets, then the tag and level when the symptom does not name the tag already."""
    head = re.sub(r"\s*\([^()]*\)", "", row.symptom).replace("`", "").strip(" .;:,")
    head = head or row.symptom.replace("`", "")
    named = [symptom.tag.id.replace("_", " "), symptom.tag.name]
    if any(n and re.search(rf"\b{re.escape(n)}\b", head, re.IGNORECASE) for n in named):
        severe = symptom.level in ("hihi", "lolo")
        return f"{head} ({LEVEL_WORDS[symptom.level]} alarm)" if severe else head
    return f"{head} ({alarm_words(symptom.tag, symptom.level).lower()})"


def alarm_words(tag: TagSpec, level: str) -> str:
    """Return a tag and an alarm level in words ("Differential pressure high")."""
    name = tag.name or tag.id.replace("_", " ")
    return f"{name[:1].upper()}{name[1:]} {LEVEL_WORDS.get(level, level)}"


def alarm_symptom(asset: AssetSpec, event: TelemetryEvent | None) -> Symptom | None:
    """Return what a troubleshooting row is matched against: the alarm's tag, level, value."""
    spec = asset.tag(event.tag) if event is not None and event.tag else None
    if event is None or spec is None:
        return None
    return Symptom(asset, spec, event.level, event.value)


def draft_title(
    asset: AssetSpec,
    event: TelemetryEvent | None,
    symptom: Symptom | None,
    row: TroubleRow | None,
    request: str | None,
) -> str:
    """Return the title code writes: the asset, then the matched row's symptom, else the
    alarm's tag and level in words, else the request; never a reading or a time."""
    if row is not None and symptom is not None:
        words = symptom_title(row, symptom)
    elif symptom is not None and event is not None:
        words = f"{alarm_words(symptom.tag, symptom.level)} alarm"
        words += " (cleared)" if event.state == "cleared" else ""
    elif event is not None:  # an asset-level event (the anomaly detector) or an unknown tag
        words = " ".join(dict.fromkeys((asset.name, event.tag, event.kind, event.level)))
        words = " ".join(words.split())
    elif request and WORDS.search(request):
        words = request
    else:
        words = f"Inspect {asset.name}"
    return clip(f"{asset.id}: {words}", MAX_TITLE)
