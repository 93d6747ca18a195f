"""Checks on a generated answer, sentence by sentence, as it streams.

The model is asked to cite ``[D#]``/``[T#]`` labels; small models forget, invent labels,
invent figures and loop. So each finished sentence is checked before anyone sees it:

* labels that were not given are dropped and counted;
* a sentence without a citation is attributed to the passage that supports it by word
  overlap; a claim no passage supports is withheld (every claim shown carries a citation);
* a sentence with a number that appears in no source (question, passages, telemetry) is
  withheld: figures come from documents and the telemetry store, never from the model;
* a sentence said twice is withheld, and a looping generation is stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from assistant.knowledge.sentences import sentence_spans
from assistant.knowledge.words import content_words

LABEL_GROUP = re.compile(r"\s?\[\s*((?:[A-Z]\d+)(?:\s*[,;]\s*[A-Z]\d+)*)\s*\]")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?![\w])")
TAG_LIKE = re.compile(r"\b[A-Za-z]{1,4}-\d+[A-Za-z]?\b")
LIST_MARKER = re.compile(r"(?:^|(?<=[\u201c\"(]))\s*\d+[.)]\s", re.MULTILINE)
MIN_CLAIM_WORDS = 4
SUPPORT_THRESHOLD = 0.5
LOOP_MIN_PERIOD = 6
LOOP_MAX_PERIOD = 160


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


def cited_labels(text: str) -> list[str]:
    """Return the labels cited in a text, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in LABEL_GROUP.finditer(text):
        for label in re.split(r"[,;]", match.group(1)):
            seen.setdefault(label.strip(), None)
    return list(seen)


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


def is_looping(text: str) -> bool:
    """Return whether the text ends with the same run of characters three times over."""
    tail = text[-3 * LOOP_MAX_PERIOD :]
    for period in range(LOOP_MIN_PERIOD, LOOP_MAX_PERIOD + 1):
        if len(tail) < 3 * period:
            break
        last = tail[-period:]
        if last.strip() and tail[-2 * period : -period] == last == tail[-3 * period : -2 * period]:
            return True
    return False


class SentenceSplitter:
    """Cuts streamed text into finished sentences (each with its trailing white space).

    It uses the project's one sentence splitter (:mod:`assistant.knowledge.sentences`): a
    sentence is finished once the next one has begun, or at a line break.
    """

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, piece: str) -> list[str]:
        """Add streamed text; return the sentences it completed."""
        self._buffer += piece
        done: list[str] = []
        while (cut := _first_boundary(self._buffer)) is not None:
            done.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
        return done

    def flush(self) -> str:
        """Return what is left (an unfinished last sentence)."""
        rest, self._buffer = self._buffer, ""
        return rest


def _first_boundary(text: str) -> int | None:
    """Return where the first finished sentence of a stream ends (after its white space)."""
    newline = text.find("\n")
    line_end = newline if newline >= 0 else len(text)
    spans = sentence_spans(text, 0, line_end)
    if len(spans) >= 2:
        return spans[1][0]
    if newline >= 0:
        rest = len(text) - len(text[newline:].lstrip("\n"))
        return rest if text[:newline].strip() else (rest if rest < len(text) else None)
    return None


@dataclass
class SentenceChecker:
    """Checks sentences against the passages given (label to text) and the known numbers."""

    passages: Mapping[str, str]
    known_numbers: set[str]
    dropped: int = 0
    attributed: int = 0
    unsupported_claims: list[str] = field(default_factory=list)
    unsupported_numbers: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    @classmethod
    def for_context(cls, passages: Mapping[str, str], context: Iterable[str]) -> SentenceChecker:
        """Build a checker whose known numbers come from all the context texts."""
        known: set[str] = set()
        for text in context:
            known |= numbers_in(text)
        return cls(passages=passages, known_numbers=known)

    def check(self, sentence: str) -> str | None:
        """Return the checked sentence (citations fixed), or None if it is withheld."""
        body = sentence.strip()
        if not body:
            return sentence
        text, dropped = strip_invalid_citations(sentence, set(self.passages))
        self.dropped += dropped
        strange = sorted(numbers_in(text) - self.known_numbers)
        key = " ".join(LABEL_GROUP.sub("", text).lower().split())
        if strange:
            self.unsupported_numbers.extend(n for n in strange if n not in self.unsupported_numbers)
            self.withheld.append(body)
            return None
        if key in self._seen:
            self.withheld.append(body)
            return None
        self._seen.add(key)
        if not LABEL_GROUP.search(text):
            attributed = self._attribute(text)
            if attributed is None:
                self.unsupported_claims.append(body)
                self.withheld.append(body)
                return None
            text = attributed
        return text

    def _attribute(self, sentence: str) -> str | None:
        words = content_words(sentence)
        if len(words) < MIN_CLAIM_WORDS:
            return sentence  # too short to be a claim ("Yes.", a heading)
        best_label, best = None, 0.0
        for label, passage in self.passages.items():
            share = len(words & content_words(passage)) / len(words)
            if share > best:
                best_label, best = label, share
        if best_label is None or best < SUPPORT_THRESHOLD:
            return None
        self.attributed += 1
        trailing = sentence[len(sentence.rstrip()) :]
        body = sentence.rstrip()
        end = len(body.rstrip(".!?:;"))
        return f"{body[:end]} [{best_label}]{body[end:]}{trailing}"


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """A whole answer after checking."""

    text: str
    cited: tuple[str, ...]
    dropped: int
    attributed: int
    unsupported_claims: tuple[str, ...]
    unsupported_numbers: tuple[str, ...]
    withheld: tuple[str, ...]


def check_answer(raw: str, passages: Mapping[str, str], context: Iterable[str]) -> CheckedAnswer:
    """Check a whole raw answer (the streaming path does the same sentence by sentence)."""
    checker = SentenceChecker.for_context(passages, context)
    splitter = SentenceSplitter()
    kept = [checker.check(s) for s in [*splitter.feed(raw), splitter.flush()]]
    text = "".join(s for s in kept if s is not None).strip()
    return CheckedAnswer(
        text=text,
        cited=tuple(cited_labels(text)),
        dropped=checker.dropped,
        attributed=checker.attributed,
        unsupported_claims=tuple(checker.unsupported_claims),
        unsupported_numbers=tuple(checker.unsupported_numbers),
        withheld=tuple(checker.withheld),
    )
