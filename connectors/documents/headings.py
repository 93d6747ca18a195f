"""Heading heuristics: outline and section labels, title-like lines, outline nesting."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connectors.documents.reading import _collapse, _word_set


@dataclass(frozen=True, slots=True)
class _OutlineLabel:
    shown: str
    token: str
    rest: str


@dataclass(frozen=True, slots=True)
class _SectionLabel:
    shown: str
    depth: int
    rest: str


_LABEL_TOKEN = r"(?P<tok>\d{1,3}|[a-z]{1,6}|[A-Z]{1,6})"
_OUTLINE_PAREN = re.compile(rf"^(?P<shown>\({_LABEL_TOKEN}\))\s+(?P<rest>\S.*)$")
_OUTLINE_RIGHT = re.compile(rf"^(?P<shown>{_LABEL_TOKEN}\))\s+(?P<rest>\S.*)$")
_SECTION_NUMBER = re.compile(r"^(?P<shown>(?P<tok>\d{1,3}(?:\.\d{1,3})*)\.?)\s+(?P<rest>[A-Z(].*)$")
_SECTION_LETTER = re.compile(r"^(?P<shown>(?P<tok>[A-Z]|[IVXLC]{1,6})\.)\s+(?P<rest>[A-Z].*)$")
_MAJOR = re.compile(
    r"^(?:section|chapter|part|appendix|annex|attachment|article)\s+"
    r"(?:\d{1,3}(?:\.\d{1,3})*|[A-Z]|[IVXLC]{1,6})\b",
    re.IGNORECASE,
)
_LEADIN = re.compile(
    r"^(?:notes?|caution|warning|danger|notice|important|tip|example|exceptions?)\s*[:!]?$"
    r"|^[A-Z][\w()/-]{0,24}:$",
    re.IGNORECASE,
)
_ROMAN = re.compile(r"^m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_TITLE_BODY_WIDE = re.compile(
    r"^(?P<title>.{2,100}?)(?:\.|\s*[\u2014\u2013]|:)\s{2,}(?P<body>\S.*)$"
)
_TITLE_BODY_NARROW = re.compile(r"^(?P<title>[^.:]{2,60}?)\.\s+(?P<body>[A-Z(].{30,})$")
_VERBS = _word_set(
    "is are was were be been being shall must will would should may might can cannot "
    "could does do did has have had not isn't aren't don't doesn't won't"
)
_SENTENCE_STARTERS = _word_set(
    "the this these those that each every all any if when where whenever before after "
    "it there we you they he she"
)
_DANGLING = _word_set("and or of the to for with a an by in on that which but nor")
_SMALL_WORDS = _word_set(
    "a an and as at but by for from in into nor of on or per the to via vs with"
)


def _match_outline(text: str) -> _OutlineLabel | None:
    match = _OUTLINE_PAREN.match(text) or _OUTLINE_RIGHT.match(text)
    if match is None or not _outline_candidates(match["tok"]):
        return None
    return _OutlineLabel(match["shown"], match["tok"], match["rest"])


def _match_section(text: str) -> _SectionLabel | None:
    match = _SECTION_NUMBER.match(text)
    if match is not None:
        return _SectionLabel(match["shown"], match["tok"].count(".") + 1, match["rest"])
    match = _SECTION_LETTER.match(text)
    if match is not None:
        return _SectionLabel(match["shown"], 1, match["rest"])
    return None


def _roman_value(token: str) -> int:
    lowered = token.lower()
    if not lowered or not _ROMAN.match(lowered):
        return 0
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    total = 0
    for index, char in enumerate(lowered):
        value = values[char]
        following = values[lowered[index + 1]] if index + 1 < len(lowered) else 0
        total += -value if value < following else value
    return total


def _outline_candidates(token: str) -> tuple[tuple[str, int], ...]:
    """Return the (numbering style, value) readings of a label such as ``1``, ``c`` or ``iv``."""
    if token.isdigit():
        return (("digit", int(token)),)
    case = "lower" if token.islower() else "upper"
    readings: list[tuple[str, int]] = []
    if len(token) == 1:
        readings.append((f"{case}-letter", ord(token.lower()) - ord("a") + 1))
    roman = _roman_value(token)
    if roman:
        readings.append((f"{case}-roman", roman))
    return tuple(readings)


class _Outline:
    """Track the nesting of outline labels: (a) > (1) > (i) > (A) > (1) ..."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, int]] = []

    def reset(self) -> None:
        self._stack.clear()

    def place(self, token: str) -> int:
        """Return the 1-based depth of the label ``token`` and remember it."""
        readings = _outline_candidates(token)
        for depth in range(len(self._stack), 0, -1):
            style, value = self._stack[depth - 1]
            for reading in readings:
                if reading == (style, value + 1):
                    return self._set(depth, reading)
        for reading in readings:
            if reading[1] == 1:
                return self._set(len(self._stack) + 1, reading)
        styles = {style for style, _ in readings}
        for depth in range(len(self._stack), 0, -1):
            style = self._stack[depth - 1][0]
            if style in styles:
                return self._set(depth, next(r for r in readings if r[0] == style))
        return self._set(len(self._stack) + 1, readings[0])

    def _set(self, depth: int, reading: tuple[str, int]) -> int:
        del self._stack[depth - 1 :]
        self._stack.append(reading)
        return depth


def _words(text: str) -> list[str]:
    return [word.strip("()[],.;:!?\"'“”\u2018\u2019").lower() for word in text.split()]


def _is_titleish(text: str, max_words: int, max_chars: int = 80) -> bool:
    """Tell whether ``text`` reads like a short title rather than a sentence."""
    stripped = text.strip()
    if len(stripped) > max_chars + 8 or stripped.endswith((",", ";")):
        return False
    core = _trim_heading(stripped)
    if not core or len(core) > max_chars:
        return False
    if not (core[0].isupper() or core[0].isdigit() or core[0] in "(§"):
        return False
    words = [word for word in _words(core) if word]
    if not words or len(words) > max_words:
        return False
    if words[0] in _SENTENCE_STARTERS or words[-1] in _DANGLING:
        return False
    return not any(word in _VERBS for word in words)


def _trim_heading(text: str) -> str:
    return _collapse(re.sub(r"[\s.:;,\u2014\u2013-]+$", "", text))


def _is_title_case(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'\u2019/-]*", text)
    significant = [word for word in words if word.lower() not in _SMALL_WORDS]
    return bool(significant) and all(word[0].isupper() for word in significant)


def _is_all_caps(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return len(letters) >= 3 and all(char.isupper() for char in letters)


def _split_title(rest: str) -> tuple[str | None, bool]:
    """Split the text after a label into (title, has_body); the title is None for a sentence."""
    stripped = rest.strip()
    if _is_titleish(stripped, max_words=8):
        return _trim_heading(stripped), False
    wide = _TITLE_BODY_WIDE.match(stripped)
    if wide and _is_titleish(wide["title"], max_words=12):
        return _trim_heading(wide["title"]), True
    narrow = _TITLE_BODY_NARROW.match(stripped)
    if narrow and _is_titleish(narrow["title"], max_words=5):
        return _trim_heading(narrow["title"]), True
    return None, False


def _unlabeled_kind(text: str) -> tuple[str | None, str, bool]:
    """Classify an unnumbered piece as ("major" | "minor" | "leadin" | None, title, has_body)."""
    stripped = text.strip()
    if _LEADIN.match(stripped):
        return "leadin", "", False
    if len(stripped) <= 120:
        if _MAJOR.match(stripped) and _is_titleish(stripped, max_words=16, max_chars=120):
            return "major", _trim_heading(stripped), False
        if _is_all_caps(stripped) and _is_titleish(stripped, max_words=10):
            return "major", _trim_heading(stripped), False
        if stripped.endswith(":") and len(stripped.split()) >= 2 and _is_titleish(stripped, 8):
            return "minor", _trim_heading(stripped), False
        if (
            not stripped.endswith((".", "!", "?", ":"))
            and _is_title_case(stripped)
            and _is_titleish(stripped, max_words=8, max_chars=60)
        ):
            return "minor", _trim_heading(stripped), False
    narrow = _TITLE_BODY_NARROW.match(stripped)
    if narrow:
        title = narrow["title"]
        capitalised = [word for word in title.split() if word[:1].isupper()]
        if len(capitalised) >= 2 and _is_title_case(title) and _is_titleish(title, 5):
            return "minor", _trim_heading(title), True
    return None, "", False


@dataclass(slots=True)
class _HeadingState:
    outline: _Outline = field(default_factory=_Outline)
    base: int = 0  # level of the last heading that outline numbering nests under
    section: int = 0  # level of the last major or numbered-section heading

    def enter(self, level: int, *, sets_section: bool) -> None:
        self.outline.reset()
        self.base = level
        if sets_section:
            self.section = level
