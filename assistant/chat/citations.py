"""Checks on a generated answer: citations given, claims supported, numbers found in sources.

The model is asked to cite ``[D#]`` labels; small models often forget or invent them. So:
labels that were not given are dropped and counted; a sentence with no citation is attributed to
the passage that supports it by word overlap, or flagged as unsupported; every number in the
answer must appear in the question or in a passage, else it is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LABEL_GROUP = re.compile(r"\s?\[\s*((?:[A-Z]\d+)(?:\s*[,;]\s*[A-Z]\d+)*)\s*\]")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?![\w])")
TAG_LIKE = re.compile(r"\b[A-Za-z]{1,4}-\d+[A-Za-z]?\b")
LIST_MARKER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "by",
        "with",
        "from",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "if",
        "then",
        "than",
        "so",
        "not",
        "no",
        "do",
        "does",
        "should",
        "must",
        "can",
        "may",
        "will",
        "you",
        "your",
        "we",
        "our",
        "there",
        "their",
        "they",
        "he",
        "she",
        "them",
        "his",
        "her",
        "which",
        "what",
        "when",
        "where",
        "who",
        "how",
        "also",
        "into",
        "out",
        "up",
    ]
)
MIN_CLAIM_WORDS = 4
SUPPORT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """The answer after checking, with what was dropped, attributed and flagged."""

    text: str
    cited: tuple[str, ...]
    dropped: int
    attributed: int
    unsupported_claims: tuple[str, ...]
    unsupported_numbers: tuple[str, ...]


def content_words(text: str) -> set[str]:
    """Return the lower-cased content words of a text (no stop words)."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def strip_invalid_citations(text: str, valid: set[str]) -> tuple[str, int]:
    """Remove citation labels that were not given; return the text and how many were dropped."""
    dropped = 0

    def keep_valid(match: re.Match[str]) -> str:
        nonlocal dropped
        labels = [label.strip() for label in re.split(r"[,;]", match.group(1))]
        kept = [label for label in labels if label in valid]
        dropped += len(labels) - len(kept)
        if not kept:
            return ""
        prefix = " " if match.group(0).startswith(" ") else ""
        return prefix + "".join(f"[{label}]" for label in kept)

    return LABEL_GROUP.sub(keep_valid, text), dropped


def cited_labels(text: str) -> list[str]:
    """Return the labels cited in a text, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in LABEL_GROUP.finditer(text):
        for label in re.split(r"[,;]", match.group(1)):
            seen.setdefault(label.strip(), None)
    return list(seen)


def _best_support(sentence: str, passages: Mapping[str, str]) -> tuple[str | None, float]:
    words = content_words(sentence)
    if len(words) < MIN_CLAIM_WORDS:
        return None, 1.0  # too short to be a claim ("Yes.", a heading)
    best_label, best = None, 0.0
    for label, text in passages.items():
        share = len(words & content_words(text)) / len(words)
        if share > best:
            best_label, best = label, share
    return best_label, best


def attribute_sentences(text: str, passages: Mapping[str, str]) -> tuple[str, int, list[str]]:
    """Cite uncited sentences by the passage that supports them; return unsupported ones."""
    pieces = SENTENCE_SPLIT.split(text)
    separators = SENTENCE_SPLIT.findall(text)
    attributed = 0
    unsupported: list[str] = []
    rebuilt: list[str] = []
    for index, sentence in enumerate(pieces):
        stripped = sentence.strip()
        if stripped and not LABEL_GROUP.search(sentence):
            label, share = _best_support(stripped, passages)
            if label is not None and share >= SUPPORT_THRESHOLD:
                body = sentence.rstrip()
                end = len(body.rstrip(".!?:;"))
                sentence = f"{body[:end]} [{label}]{body[end:]}"
                attributed += 1
            elif share < SUPPORT_THRESHOLD:
                unsupported.append(stripped)
        rebuilt.append(sentence)
        if index < len(separators):
            rebuilt.append(separators[index])
    return "".join(rebuilt), attributed, unsupported


def numbers_in(text: str) -> set[str]:
    """Return the numbers written in a text, normalised (decimal comma to point).

    Citation labels, asset tags such as P-101 and list markers such as "2." are not numbers.
    """
    without_labels = TAG_LIKE.sub(" ", LABEL_GROUP.sub(" ", text))
    without_markers = LIST_MARKER.sub(" ", without_labels)
    return {_normalise(n) for n in NUMBER.findall(without_markers)}


def _normalise(number: str) -> str:
    value = number.lstrip("+")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", value):
        value = value.replace(",", "")
    value = value.replace(",", ".")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


def check_answer(raw: str, passages: Mapping[str, str], context: Sequence[str]) -> CheckedAnswer:
    """Check a raw answer against the passages given (label to text) and all context text."""
    text, dropped = strip_invalid_citations(raw.strip(), set(passages))
    text, attributed, unsupported = attribute_sentences(text, passages)
    known = set().union(*(numbers_in(c) for c in context)) if context else set()
    strange = sorted(numbers_in(text) - known, key=lambda n: text.find(n))
    return CheckedAnswer(
        text=text,
        cited=tuple(cited_labels(text)),
        dropped=dropped,
        attributed=attributed,
        unsupported_claims=tuple(unsupported),
        unsupported_numbers=tuple(strange),
    )
