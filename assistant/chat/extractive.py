"""The extractive answer: rank the answer units of the retrieved passages, quote the best verbatim.

Each unit (sentence, step, table row; see :mod:`assistant.knowledge.units`) is scored by

* its embedding similarity to the question (units are embedded with their section heading),
* lexical coverage: the share of the question's content words (idf-weighted over the candidate
  units) found in the unit, its lead-in or table header and its section heading,
* what the question asks for (:mod:`assistant.chat.intent`): a figure with a unit of measure,
  a time or interval, a reason, a place or an id, an action,
* the asset the question names (units about another asset lose a little),
* a small prior from the passage's retrieval rank.

The composer then quotes: a procedure question gets the best numbered list whole, in the
source's order (continued from the next chunk when a list was cut); a lead-in line brings the
list it opens; any question whose best units are items of one list gets that list. Otherwise
the answering passage (best unit plus half its second) gives its units within a share of its
best, other passages only near-ties, at most ``chat.max_quotes`` (three for a question that
asks one thing), grouped by passage in source order. Below ``chat.quote_floor`` nothing is
quoted and the answer says the documents do not cover the question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from assistant.chat.intent import Intent, question_intent
from assistant.chat.strict import FIGURE, IDENTIFIER, negates
from assistant.domain import AnswerUnit, Chunk
from assistant.knowledge.units import header_span, quote_text
from assistant.knowledge.words import content_words

Vector = npt.NDArray[np.float32]
UnitLoader = Callable[[Sequence[Chunk]], Mapping[str, list[tuple[AnswerUnit, Vector]]]]

W_SEMANTIC = 0.55
W_LEXICAL = 0.35
W_RANK = 0.06
BONUS_FIGURE = 0.12
BONUS_TIME = 0.10
BONUS_REASON = 0.08
BONUS_LOCATION = 0.08
BONUS_ACTION = 0.05
BONUS_STEP = 0.06
BONUS_ASSET = 0.05
BONUS_YES_NO = 0.05
PENALTY_NO_FIGURE = 0.06
SAME_GROUP_RATIO = 0.7
SAME_PASSAGE_RATIO = 0.75
SPECIFIC_PASSAGE_RATIO = 0.88
SPECIFIC_QUOTES = 3
OTHER_PASSAGE_RATIO = 0.93
LIST_VOTES = 3
PROCEDURE_MARGIN = 0.08
LIST_MARGIN = 0.05
LIST_POOL = 8

_TIME_FIGURE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:h|hours?|hrs?|min|minutes?|s|seconds?|days?|weeks?|months?|"
    r"years?)\b|\b(?:every|daily|weekly|monthly|annual|annually|yearly|each shift|before|"
    r"after|whichever comes first|at least once)\b",
    re.IGNORECASE,
)
_INTERVAL = re.compile(
    r"\bevery\b|\beach (?:shift|day|week|month|year)\b|\b(?:daily|weekly|monthly|quarterly|"
    r"annual|annually|yearly)\b|\b\d[\d,.]*\s*(?:h|hours?|days?|weeks?|months?|years?)\b"
    r"|\brunning hours\b|\bwhichever comes first\b|\bat least (?:once|annually)\b",
    re.IGNORECASE,
)
_REASON_CUE = re.compile(
    r"\b(?:because|so that|due to|means|indicates?|since|caused|causes|results? in|otherwise|"
    r"to prevent|to avoid|in order to|therefore|which is why|point(?:s)? to|can lead|leads to|"
    r"would|could)\b",
    re.IGNORECASE,
)
_LOCATION_CUE = re.compile(
    r"\b(?:cubicle|located|panel|mcc|switchboard|board|upstream|downstream|side|inlet|outlet|"
    r"isolat\w*|disconnector|breaker|valve|room|hall|at the|on the|in the)\b",
    re.IGNORECASE,
)
_IMPERATIVE = re.compile(
    r"^(?:\d+[.)]\s*)?(?:do not|never|always|if|when|at|above|below)?\s*,?\s*[A-Z][a-z]+\b"
)
OUTLINE_NUMBER = re.compile(r"^(?:\(?[0-9A-Za-z]{1,3}[.)]\)?)*(?:\d+(?:\.\d+)*\.?)?\s+")
ASSET_TAG = re.compile(r"\b[A-Z]{1,4}-\d{1,5}[A-Z]?\b")
_MODAL = re.compile(r"\b(?:must|may|only|shall|always|required|allowed|permitted)\b", re.I)
_NOT_VERB = frozenset(
    [
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "there",
        "each",
        "one",
        "both",
        "all",
    ]
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "s", "ly")


def stem(word: str) -> str:
    """Return a light stem of a word (so "cleaning", "cleaned" and "clean" meet)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def stems(text: str) -> set[str]:
    """Return the stems of the content words of a text."""
    return {stem(w) for w in content_words(text)}


@dataclass(frozen=True, slots=True)
class ScoredUnit:
    """A unit of a passage with its score for one question."""

    unit: AnswerUnit
    label: str
    chunk: Chunk
    score: float
    semantic: float
    lexical: float


@dataclass(frozen=True, slots=True)
class Quote:
    """Units quoted from one passage, in the source's order."""

    label: str
    chunk: Chunk
    units: tuple[AnswerUnit, ...]
    lead: str = ""
    listed: bool = False

    def render(self) -> str:
        """Return the quote as the answer shows it, with its citation label."""
        if self.listed:
            lines = [quote_text(u, listed=True) for u in self.units]
            if not self.lead:  # the rest of a list begun in the quote before
                return "\n".join([*lines[:-1], f"{lines[-1]} [{self.label}]"])
            return f"{self.lead} [{self.label}]\n" + "\n".join(lines)
        body = " ".join(f"\u201c{quote_text(u)}\u201d" for u in self.units)
        return f"{body} [{self.label}]"

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """Return the (start, end) offsets of the quoted units in the passage; a table row
        brings its table's header row, whose cells its rendering repeats."""
        spans: list[tuple[int, int]] = []
        for unit in self.units:
            header = header_span(self.chunk.text, unit)
            if header is not None and header not in spans:
                spans.append(header)
            spans.append((unit.start, unit.end))
        return tuple(sorted(spans))


@dataclass(frozen=True, slots=True)
class Extract:
    """The units chosen to answer a question, or why none was."""

    quotes: tuple[Quote, ...]
    best: float
    procedure: bool = False

    def confident(self, threshold: float) -> bool:
        """Return whether the best unit is clearly relevant (not just above the floor)."""
        return self.best >= threshold

    @property
    def covered(self) -> bool:
        """Return whether anything was quoted."""
        return bool(self.quotes)

    def render(self) -> str:
        """Return the answer body: each passage's quotes, one paragraph per passage."""
        return "\n".join(quote.render() for quote in self.quotes)


def _heading(chunk: Chunk) -> str:
    heading = chunk.section.rsplit(" > ", 1)[-1] if chunk.section else chunk.title
    heading = OUTLINE_NUMBER.sub("", heading).strip()  # "7.3 Cleaning steps": the citation
    return f"{heading}:" if heading else "From the document:"  # says where; no stray figure


class UnitRanker:
    """Scores the units of retrieved passages against a question."""

    def __init__(self, load_units: UnitLoader) -> None:
        self._load_units = load_units

    def rank(
        self,
        question: str,
        question_vector: Vector,
        passages: Sequence[tuple[str, Chunk]],
        *,
        context: str = "",
        intent: Intent | None = None,
    ) -> list[ScoredUnit]:
        """Return every unit of the passages, best first; ``context`` adds terms at low weight
        (the live alarm's tag, the previous question of a follow-up)."""
        intent = intent or question_intent(question)
        asked = {tag.upper() for tag in ASSET_TAG.findall(question)}
        units = self._load_units([chunk for _, chunk in passages])
        pool: list[tuple[int, str, Chunk, AnswerUnit, Vector]] = []
        for rank, (label, chunk) in enumerate(passages):
            for unit, vector in units.get(chunk.id, []):
                pool.append((rank, label, chunk, unit, vector))
        if not pool:
            return []
        texts = [_unit_terms(chunk, unit) for _, _, chunk, unit, _ in pool]
        lengths = [len(unit.text.split()) for _, _, _, unit, _ in pool]
        average = sum(lengths) / len(lengths)
        weights = _idf(texts)
        wanted = _weighted_terms(question, weights, 1.0)
        for term, weight in _weighted_terms(context, weights, 0.3).items():
            wanted.setdefault(term, weight)
        total = sum(wanted.values()) or 1.0
        matrix = np.stack([vector for *_, vector in pool])
        semantic = matrix @ np.asarray(question_vector, np.float32)
        scored = []
        for (rank, label, chunk, unit, _), terms, similarity, length in zip(
            pool, texts, semantic, lengths, strict=True
        ):
            lexical = sum(w for t, w in wanted.items() if t in terms) / total
            lexical *= _length_norm(length, average)
            score = (
                W_SEMANTIC * float(similarity)
                + W_LEXICAL * lexical
                + W_RANK / (1 + rank)
                + _intent_bonus(intent, unit)
                + _asset_bonus(asked, chunk, unit)
            )
            scored.append(ScoredUnit(unit, label, chunk, score, float(similarity), lexical))
        scored.sort(key=lambda s: -s.score)
        return scored


def _length_norm(length: int, average: float) -> float:
    """BM25's length normalisation (k1 1.2, b 0.75), 1 at the average length: a long table row
    matches many words by being long, not by being the answer."""
    k1, b = 1.2, 0.75
    return (1 + k1) / (1 + k1 * (1 - b + b * length / max(average, 1.0))) / ((1 + k1) / (1 + k1))


def _unit_terms(chunk: Chunk, unit: AnswerUnit) -> set[str]:
    return stems(f"{unit.text} {unit.lead} {chunk.section}")


def _idf(texts: Sequence[set[str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for terms in texts:
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
    n = len(texts)
    return {term: math.log(1 + n / df) for term, df in counts.items()}


def _weighted_terms(text: str, idf: Mapping[str, float], scale: float) -> dict[str, float]:
    if not text:
        return {}
    top = max(idf.values(), default=1.0)
    return {term: scale * idf.get(term, top) for term in stems(text)}


def _intent_bonus(intent: Intent, unit: AnswerUnit) -> float:
    text = unit.text
    bonus = 0.0
    has_figure = bool(FIGURE.search(text))
    if intent.figure:
        bonus += BONUS_FIGURE if has_figure else -PENALTY_NO_FIGURE
    if intent.time and _TIME_FIGURE.search(text):
        bonus += BONUS_TIME
    if intent.frequency and _INTERVAL.search(text):
        bonus += BONUS_TIME
    if intent.reason and _REASON_CUE.search(text):
        bonus += BONUS_REASON
    if intent.location and (_LOCATION_CUE.search(text) or IDENTIFIER.search(text)):
        bonus += BONUS_LOCATION
    if intent.action and (_is_imperative(text) or negates(text)):
        bonus += BONUS_ACTION
    if intent.procedure and unit.kind == "step":
        bonus += BONUS_STEP
    if intent.yes_no and (negates(text) or _MODAL.search(text)):
        bonus += BONUS_YES_NO
    return bonus


def _asset_bonus(asked: set[str], chunk: Chunk, unit: AnswerUnit) -> float:
    """Favour units about the asset the question names; disfavour those about other assets."""
    if not asked:
        return 0.0
    headings = chunk.section.split(" > ")
    if headings and headings[0] == chunk.title:
        headings = headings[1:]  # the document's title names every asset it covers
    named = {tag.upper() for tag in ASSET_TAG.findall(" ".join([unit.text, *headings]))}
    if named & asked:
        return BONUS_ASSET
    return -BONUS_ASSET if named else 0.0


def _is_imperative(text: str) -> bool:
    match = _IMPERATIVE.match(text)
    if match is None:
        return False
    word = text.split()[0].lower().strip(",")
    return word not in _NOT_VERB


def compose(
    scored: Sequence[ScoredUnit],
    intent: Intent,
    *,
    floor: float,
    max_quotes: int,
    whole_list: Callable[[str, Chunk, int], list[tuple[str, Chunk, list[AnswerUnit]]]],
    list_after: Callable[[str, Chunk, AnswerUnit], tuple[str, Chunk, int] | None],
) -> Extract:
    """Choose the units to quote, or none when the best is below the floor.

    ``whole_list`` returns a list's parts (label, chunk, units) in order, across the
    neighbouring chunks when chunking cut the list; ``list_after`` finds the list a lead-in
    line ("... as follows:") introduces, in its chunk or the next.
    """
    if not scored or scored[0].score < floor:
        return Extract((), scored[0].score if scored else 0.0)
    top = scored[0]
    group = _answering_list(scored, intent)
    if group is None and top.unit.text.rstrip().endswith(":"):
        group = list_after(top.label, top.chunk, top.unit)
    if group is not None:
        parts = whole_list(*group)
        quotes = [
            Quote(
                label,
                chunk,
                tuple(items),
                lead=_list_lead(items, chunk) if i == 0 else "",
                listed=True,
            )
            for i, (label, chunk, items) in enumerate(parts)
        ]
        return Extract(tuple(quotes), top.score, procedure=True)
    specific = _is_specific(intent)
    if specific:
        max_quotes = min(max_quotes, SPECIFIC_QUOTES)
    primary = _primary_passage(scored)
    lead = next(s for s in scored if s.label == primary)
    chosen = [lead]
    if lead is not top and top.score >= OTHER_PASSAGE_RATIO * lead.score:
        chosen.append(top)
    seen = {_key(s.unit) for s in chosen}
    ordered = [s for s in scored if s.label == primary] + [s for s in scored if s.label != primary]
    for candidate in ordered:
        if len(chosen) >= max_quotes:
            break
        if _key(candidate.unit) in seen:
            continue
        needed = _needed(chosen, candidate, top, specific)
        if candidate.label != primary:
            needed = max(needed, floor)  # a unit of the answering passage needs only its share
        if candidate.score < needed:
            continue
        seen.add(_key(candidate.unit))
        chosen.append(candidate)
    return Extract(_group_by_passage(chosen), top.score)


def _key(unit: AnswerUnit) -> str:
    return " ".join(unit.text.lower().split())


def _primary_passage(scored: Sequence[ScoredUnit]) -> str:
    """Return the label of the passage that answers best: its best unit plus half its second
    (the section that answers a question usually has more than one relevant unit)."""
    best: dict[str, list[float]] = {}
    for s in scored:
        kept = best.setdefault(s.label, [])
        if len(kept) < 2:
            kept.append(s.score)
    return max(best, key=lambda label: best[label][0] + 0.5 * sum(best[label][1:]))


def _is_specific(intent: Intent) -> bool:
    """Return whether a question asks for one thing (a value, a time, a place, a person, a yes
    or no) rather than an explanation or what to do."""
    asks_one = (
        intent.figure
        or intent.time
        or intent.frequency
        or intent.location
        or intent.who
        or intent.yes_no
    )
    return asks_one and not (intent.reason or intent.action or intent.procedure)


def _needed(
    chosen: Sequence[ScoredUnit], candidate: ScoredUnit, top: ScoredUnit, specific: bool
) -> float:
    """Return the score a further unit needs: rows of a table and units of a passage already
    quoted are parallel facts (a share of that unit's score); another passage must nearly tie
    with the best unit."""
    needed = OTHER_PASSAGE_RATIO * top.score
    for unit in chosen:
        if unit.label != candidate.label:
            continue
        same_group = unit.unit.group >= 0 and candidate.unit.group == unit.unit.group
        if same_group:
            ratio = SAME_GROUP_RATIO
        else:
            ratio = SPECIFIC_PASSAGE_RATIO if specific else SAME_PASSAGE_RATIO
        needed = min(needed, ratio * unit.score)
    return needed


def _answering_list(scored: Sequence[ScoredUnit], intent: Intent) -> tuple[str, Chunk, int] | None:
    """Return the list (label, chunk, group) that answers the question, if one does.

    For a procedure question: the best-scored list among the top units, when its best item is
    close to the best unit. For any question: a list several of whose items are among the best
    units (the list is the answer, not one of its items).
    """
    top = scored[0]
    pool = scored[:LIST_POOL]
    votes: dict[tuple[str, int], list[ScoredUnit]] = {}
    for s in pool:
        if s.unit.kind in ("step", "item") and s.unit.group >= 0:
            votes.setdefault((s.unit.chunk_id, s.unit.group), []).append(s)
    if not votes:
        return None
    if intent.procedure:
        best_list = _best_list(scored[: 2 * LIST_POOL])
        if best_list is not None and best_list[0] >= top.score - PROCEDURE_MARGIN:
            return best_list[1]
    if intent.figure or intent.time or intent.frequency or intent.location or intent.who:
        return None  # a value, a time, a place or a person is one item, not the whole list
    key, members = max(votes.items(), key=lambda kv: (len(kv[1]), kv[1][0].score))
    best = members[0]
    if len(members) >= LIST_VOTES and best.score >= top.score - LIST_MARGIN:
        return best.label, best.chunk, key[1]
    return None


def _best_list(pool: Sequence[ScoredUnit]) -> tuple[float, tuple[str, Chunk, int]] | None:
    """Return the numbered list whose items answer best, as (its best item's score, where):
    lists are ranked by their best item and the mean of their best three, so a list about the
    question beats a list with one item that happens to match."""
    members: dict[tuple[str, int], list[ScoredUnit]] = {}
    for s in pool:
        if s.unit.kind == "step" and s.unit.group >= 0:
            members.setdefault((s.unit.chunk_id, s.unit.group), []).append(s)
    if not members:
        return None

    def strength(items: list[ScoredUnit]) -> float:
        best3 = [s.score for s in items[:3]]
        return 0.5 * items[0].score + 0.5 * sum(best3) / len(best3)

    items = max(members.values(), key=strength)
    return items[0].score, (items[0].label, items[0].chunk, items[0].unit.group)


def _list_lead(items: Sequence[AnswerUnit], chunk: Chunk) -> str:
    lead = items[0].lead if items else ""
    if lead and lead.endswith(":"):
        return lead
    return _heading(chunk)


def _group_by_passage(chosen: Sequence[ScoredUnit]) -> tuple[Quote, ...]:
    order: list[str] = []
    by_label: dict[str, list[ScoredUnit]] = {}
    for s in chosen:
        if s.label not in by_label:
            order.append(s.label)
        by_label.setdefault(s.label, []).append(s)
    quotes = []
    for label in order:
        members = sorted(by_label[label], key=lambda s: s.unit.start)
        quotes.append(Quote(label, members[0].chunk, tuple(s.unit for s in members)))
    return tuple(quotes)
