"""The strict check of model-written text against the quoted units, and scaffolding removal.

A word-overlap check cannot tell "cubicle 4B" from "cubicle 4C", or "is not an isolation point"
from "is an isolation point". So a model-written sentence is shown only when

* every figure in it (a number, with its unit of measure when it has one) occurs in the units;
* every identifier in it (asset tags, valve and breaker ids, cubicle numbers, part numbers:
  any token mixing letters and digits) occurs in the units;
* its negations match: a sentence that negates must be backed by a unit that negates, and a
  sentence that shares its subject with a negating unit must negate too.

Prompt scaffolding and special tokens ("<|im_end|>", "The passage is:") are stripped first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.chat.citations import LABEL_GROUP, numbers_in
from assistant.knowledge.words import content_words

SPECIAL_TOKEN = re.compile(
    r"<\|[^|<>]{1,40}\|>|</?s>|<(?:start|end)_of_turn>|\[/?INST\]|<<\/?SYS>>|<unk>|<pad>"
    r"|<\|?(?:endoftext|im_start|im_end|eot_id)\|?>"
)
SCAFFOLD = re.compile(
    r"(?:^|(?<=[\s.:]))(?:the )?(?:passage|passages|answer|question|quote|quotes|response|"
    r"context|source|sources)(?: is| are)?\s*:\s*",
    re.IGNORECASE,
)
ROLE_LINE = re.compile(
    r"^[ \t]*(?:user|assistant|system|model)[ \t]*$", re.IGNORECASE | re.MULTILINE
)
IDENTIFIER = re.compile(
    r"(?<![\w.])(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:[-/][A-Za-z0-9]+)*"
)
UNIT_WORDS = (
    r"bar\(g\)|bar|barg|mbar|kpa|mpa|psi|pa|°c|°f|degc|k|mm/s|mm|cm|m3/h|m³/h|m3|l/min|l/s|"
    r"litres?|liters?|l|m|km|kg|g|t|kw|w|mw|kva|v|kv|a|ma|hz|rpm|n·m|nm|n\.m|n|%|ppm|"
    r"hours?|h|hrs?|minutes?|mins?|min|seconds?|secs?|s|days?|weeks?|months?|years?|"
    r"drops|strokes|turns|shims|bolts|mω|ω|db|μm|um|gal|gpm"
)
FIGURE = re.compile(rf"(?<![\w.])([-+]?\d+(?:[.,]\d+)*)\s?({UNIT_WORDS})(?![\w/])", re.IGNORECASE)
NEGATION = re.compile(
    r"\b(?:not|never|no|none|cannot|can't|don't|doesn't|isn't|aren't|mustn't|shouldn't|"
    r"won't|nor|without|neither|prohibited|forbidden)\b|n't\b",
    re.IGNORECASE,
)


def strip_scaffolding(text: str) -> str:
    """Remove special tokens, role lines and prompt scaffolding ("The answer is:") from text."""
    cleaned = SPECIAL_TOKEN.sub(" ", text)
    cleaned = ROLE_LINE.sub(" ", cleaned)
    cleaned = SCAFFOLD.sub("", cleaned)
    cleaned = re.sub(r"\s*\n\s*", "\n", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip()


def identifiers_in(text: str) -> set[str]:
    """Return the identifiers of a text (tokens mixing letters and digits), upper-cased."""
    bare = LABEL_GROUP.sub(" ", text)
    return {m.group(0).upper() for m in IDENTIFIER.finditer(bare) if not _is_figure_token(m)}


def _is_figure_token(match: re.Match[str]) -> bool:
    """A number glued to its unit ("35g", "120Nm") is a figure, not an identifier."""
    return bool(FIGURE.fullmatch(match.group(0)))


def figures_in(text: str) -> set[tuple[str, str]]:
    """Return the (number, unit) pairs of a text, normalised."""
    bare = LABEL_GROUP.sub(" ", text)
    found = set()
    for match in FIGURE.finditer(bare):
        numbers = numbers_in(match.group(1))
        if numbers:
            found.add((next(iter(numbers)), _unit(match.group(2))))
    return found


def _unit(unit: str) -> str:
    value = unit.lower().replace("³", "3").replace("n.m", "n·m").replace("nm", "n·m")
    aliases = {
        "hours": "h", "hour": "h", "hrs": "h", "hr": "h",
        "minutes": "min", "minute": "min", "mins": "min",
        "seconds": "s", "second": "s", "secs": "s", "sec": "s",
        "litres": "l", "litre": "l", "liters": "l", "liter": "l",
        "days": "day", "weeks": "week", "months": "month", "years": "year", "barg": "bar",
        "bar(g)": "bar",
    }  # fmt: skip
    return aliases.get(value, value)


def negates(text: str) -> bool:
    """Return whether a text contains a negation."""
    return bool(NEGATION.search(text))


@dataclass(frozen=True, slots=True)
class StrictResult:
    """The outcome of the strict check: ok, or the reason the sentence was refused."""

    ok: bool
    reason: str = ""


def check_strict(sentence: str, units: Sequence[str]) -> StrictResult:
    """Check a model-written sentence against the unit texts it may draw on."""
    body = LABEL_GROUP.sub(" ", sentence)
    joined = "\n".join(units)
    missing_numbers = numbers_in(body) - numbers_in(joined)
    if missing_numbers:
        return StrictResult(False, f"figure not in the quotes: {sorted(missing_numbers)[0]}")
    missing_figures = figures_in(body) - figures_in(joined)
    if missing_figures:
        number, unit = sorted(missing_figures)[0]
        return StrictResult(False, f"figure not in the quotes: {number} {unit}")
    missing_ids = identifiers_in(body) - identifiers_in(joined)
    if missing_ids:
        return StrictResult(False, f"identifier not in the quotes: {sorted(missing_ids)[0]}")
    return _negations_match(body, units)


def _negations_match(sentence: str, units: Sequence[str]) -> StrictResult:
    ids = identifiers_in(sentence)
    words = content_words(sentence)
    related = [
        unit
        for unit in units
        if (ids and ids & identifiers_in(unit))
        or (words and len(words & content_words(unit)) >= max(2, len(words) // 2))
    ]
    if negates(sentence):
        if not any(negates(unit) for unit in related):
            return StrictResult(False, "negation not in the quotes")
    elif any(negates(unit) for unit in related):
        return StrictResult(False, "the quotes negate what the sentence states")
    return StrictResult(True)
