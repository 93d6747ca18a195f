"""Scoring for benchmarks/answer_quality.py: required facts, figures and ids, their support.

Pure text functions, no models, so they are unit tested on their own
(tests/benchmarks/test_answer_quality_scoring.py).

* A required fact is a list of acceptable alternatives; it is stated when one of them occurs
  in the answer, compared after :func:`normalise` (case, white space, typographic dashes and
  quotes, Markdown backticks and bold) and on word/number boundaries, so "17 g" is not found in
  "117 g" and "5 bar" not in "0.5 bar".
* Figures are numbers (0.35, 2,000 -> 2000, 17.5, 0.30 -> 0.3) and ids are tokens of letters
  and digits with at least one digit and one capital (V-101B, 4B, MCC-1, P-101, WO26-0047),
  read from the answer after removing its [D#]/[T#] citation labels and list markers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

LABELS = re.compile(r"\[\s*[A-Z]\d+(?:\s*[,;]\s*[A-Z]\d+)*\s*\]")
"""Citation labels such as [D1], [T2] or [D1, D3]."""

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
        "`": "",
    }
)
_SPACE = re.compile(r"\s+")

ID = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Z])"
    r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9_-])"
)
NUMBER = re.compile(
    r"(?<![\w.])(?<!\d,)(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)(?!\d|[.,]\d)"
)
LIST_MARKER = re.compile(
    r"(?:^|(?<=[.:;!?]\s)|(?<=[\u201c\"]))[ \t]*\d{1,2}[.)](?=\s+[^\s\d])", re.MULTILINE
)

NOT_COVERED_PHRASES = re.compile(
    r"\b(?:"
    r"do(?:es)? not (?:cover|mention|say|state|contain|specify|provide|include|answer|give)"
    r"|don't (?:cover|mention|say|know|have|contain|specify|provide)"
    r"|doesn't (?:cover|mention|say|contain|specify|provide)"
    r"|not (?:covered|mentioned|specified|provided|stated|given|found|included)"
    r"|no (?:information|mention|data)"
    r"|(?:cannot|can't|could not|couldn't|unable to) (?:answer|find|determine|say|tell)"
    r")\b",
    re.IGNORECASE,
)
_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def normalise(text: str) -> str:
    """Return text folded for matching: NFKC, dashes and quotes plain, no backticks or bold."""
    folded = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).replace("**", "")
    return _SPACE.sub(" ", folded).strip().lower()


def strip_labels(text: str) -> str:
    """Remove citation labels ([D1], [T2], [D1, D3]) from a text."""
    return LABELS.sub(" ", text)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    body = re.escape(normalise(phrase))
    first, last = phrase.strip()[:1], phrase.strip()[-1:]
    left = r"(?<![\w.])(?<!\d,)" if first.isdigit() else r"(?<!\w)" if first.isalnum() else ""
    right = r"(?!\d|[.,]\d)" if last.isdigit() else r"(?!\w)" if last.isalnum() else ""
    return re.compile(left + body + right)


def states(text: str, alternatives: Sequence[str]) -> bool:
    """Return whether the text states one of the alternatives of a required fact."""
    folded = normalise(strip_labels(text))
    return any(_phrase_pattern(alt).search(folded) for alt in alternatives)


def missing_facts(text: str, required: Sequence[Sequence[str]]) -> list[list[str]]:
    """Return the required facts (each a list of alternatives) that the text does not state."""
    return [list(alternatives) for alternatives in required if not states(text, alternatives)]


def _number(raw: str) -> str:
    thousands = re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw) is not None
    value = raw.replace(",", "") if thousands else raw.replace(",", ".")
    whole, _, fraction = value.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def figures(text: str) -> list[str]:
    """Return the figures and ids written in a text, normalised, in order, without repeats.

    Ids come out upper-cased ("v-101b" is not an id: it has no capital, but "V-101b" is);
    numbers lose thousands separators and trailing decimal zeros. Citation labels, list
    markers ("2. Close ...") and the digits inside ids are not figures.
    """
    plain = unicodedata.normalize("NFKC", strip_labels(text)).translate(_TRANSLATE)
    found: dict[str, None] = {}
    for match in ID.finditer(plain):
        found.setdefault(match.group(0).upper(), None)
    rest = LIST_MARKER.sub(" ", ID.sub(" ", plain))
    for match in NUMBER.finditer(rest):
        found.setdefault(_number(match.group(0)), None)
    return list(found)


def unsupported_figures(
    answer: str, supports: Iterable[str], ignore: Iterable[str] = ()
) -> list[str]:
    """Return the answer's figures and ids found in no supporting text and in no ignored text.

    ``supports`` are the texts an answer may take figures from (the cited quotes); ``ignore``
    holds texts whose figures never count against it (the question, live telemetry lines).
    """
    allowed = {f for text in [*supports, *ignore] for f in figures(text)}
    return [f for f in figures(answer) if f not in allowed]


def says_not_covered(text: str) -> bool:
    """Return whether a free answer opens by saying the passages do not answer the question.

    Only the first sentence counts: small models often answer and then add that the passages
    "do not mention" something else, which is not a refusal.
    """
    first = _FIRST_SENTENCE.split(text.strip(), maxsplit=1)[0]
    return NOT_COVERED_PHRASES.search(normalise(first)) is not None
