"""The one sentence splitter of the project: chunking, answer units and the answer checker use it.

A sentence ends at ``.``, ``!`` or ``?`` (with any closing quotes or brackets) followed by white
space and a capital, a digit, a section sign or an opening quote, unless the word before the
stop is an abbreviation ("approx. 3 bar", "e.g. the", "Fig. 2", "(a) ...") or a decimal.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?][\"')\]\u2019\u201d]*(?=\s+[\"'(\[\u2018\u201c]?[A-Z0-9§])")
_ABBREVIATION_TEXT = (
    "e.g. i.e. etc. vs. no. nos. fig. figs. approx. ref. refs. vol. pp. p. para. min. max. "
    "mr. mrs. ms. dr. st. jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec. inc. "
    "ltd. co. corp. dept. ca. art. sec. ch. eq. tab. resp. cf. incl. nom. rev. pt. avg."
)
ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
_LETTER_MARK = re.compile(r"\(?[a-zA-Z]\.")
_LIST_MARKER = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z])[.)]")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return the (start, end) offsets of the sentences of ``text[start:end]``, trimmed."""
    stop = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _SENTENCE_END.finditer(text, start, stop):
        if _is_abbreviation(text, begin, match.start()):
            continue
        spans.append((begin, match.end()))
        begin = match.end()
    spans.append((begin, stop))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))[1] > trimmed[0]]


def split_sentences(text: str) -> list[str]:
    """Return the sentences of a text, trimmed."""
    return [text[a:b] for a, b in sentence_spans(text)]


def _is_abbreviation(text: str, begin: int, stop_at: int) -> bool:
    if _LIST_MARKER.fullmatch(text[begin : stop_at + 1].strip()):
        return True  # "8." opening a list item is its number, not a sentence
    before = text[begin : stop_at + 1].rsplit(None, 1)
    if not before:
        return False
    word = before[-1].lower().lstrip("(\"'")
    return word in ABBREVIATIONS or bool(_LETTER_MARK.fullmatch(word))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
