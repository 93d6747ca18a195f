"""Procedures copied from the documents: their steps verbatim, in order, and their stated time.

A procedure is the section a retrieved passage sits in when that heading, or failing it the
heading above, names a procedure ("... steps", "... replacement", "Cleaning", "How to ...");
its steps are the numbered steps of the section and its subsections, in document order, cut
by :func:`assistant.knowledge.units.chunk_units`. The duration is the one the procedure states
("Estimated time: 6 to 8 hours for two technicians" gives 8 h, the upper value) in its own section
or the section above it, never a guess: without such a statement it is None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.domain import AnswerUnit, Chunk
from assistant.knowledge.units import chunk_units
from assistant.workorders.evidence import clip
from assistant.workorders.model import MAX_STEP, MAX_STEPS
from assistant.workorders.safety import is_lockout

PROCEDURE_HEADING = re.compile(r"procedure|steps|cleaning|replacement|how to", re.IGNORECASE)
NUMBERED_STEP = re.compile(r"(?:^|(?<=\s))(\d{1,2})\.\s+(?=[A-Z`])")
DURATION_STATEMENT = re.compile(
    r"\b(?:estimated\s+(?:time|duration)|time\s+required|duration)\b\s*(?:is\s+)?[:=\-\u2013\u2014]?\s*"
    r"(?:about\s+|approximately\s+|approx\.\s+|up\s+to\s+|around\s+|~\s*)?"
    r"(?P<low>\d+(?:[.,]\d+)?)"
    r"(?:\s*(?:-|\u2013|\u2014|to)\s*(?P<high>\d+(?:[.,]\d+)?))?"
    r"\s*(?P<unit>hours?|hrs?|h|minutes?|mins?|min)\b",
    re.IGNORECASE,
)
MIN_STEPS = 3

Reader = Callable[[str], list[Chunk]]


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure found in a document: where it is, its steps and its stated duration."""

    source: str
    section: str
    steps: tuple[str, ...]
    duration_h: float | None


def procedure_steps(text: str) -> list[str]:
    """Return the numbered steps 1, 2, 3, ... of a procedure text, in order."""
    starts: list[tuple[int, int]] = []
    expected = 1
    for match in NUMBERED_STEP.finditer(text):
        if int(match.group(1)) == expected:
            starts.append((match.start(), match.end()))
            expected += 1
    if len(starts) < MIN_STEPS:
        return []
    steps = []
    for n, (_start, end) in enumerate(starts):
        stop = starts[n + 1][0] if n + 1 < len(starts) else len(text)
        step = " ".join(text[end:stop].split())
        if step:
            steps.append(clip(step, MAX_STEP))
    return steps[:MAX_STEPS]


def stated_duration(text: str) -> float | None:
    """Return the hours a text states as a procedure's time ("Estimated time: 6 to 8 hours"
    gives 8.0, "Time required: 45 min" 0.75), or None when it states none."""
    match = DURATION_STATEMENT.search(text)
    if match is None:
        return None
    value = float((match.group("high") or match.group("low")).replace(",", "."))
    hours = value / 60 if match.group("unit").lower().startswith("m") else value
    return round(hours, 2) if 0 < hours <= 1000 else None


def _under(chunk: Chunk, section: str) -> bool:
    return chunk.section == section or chunk.section.startswith(section + " > ")


def procedure_section(chunk: Chunk) -> str | None:
    """Return the section path of the procedure a passage belongs to, or None."""
    if is_lockout(chunk):
        return None
    parts = chunk.section.split(" > ")
    if PROCEDURE_HEADING.search(parts[-1]) and chunk.section != chunk.title:
        return chunk.section
    if len(parts) >= 2 and parts[-2] != chunk.title and PROCEDURE_HEADING.search(parts[-2]):
        return " > ".join(parts[:-1])
    return None


def _step_units(chunks: Sequence[Chunk]) -> list[AnswerUnit]:
    return [unit for chunk in chunks for unit in chunk_units(chunk) if unit.kind == "step"]


def _continues(steps: Sequence[AnswerUnit]) -> bool:
    """Return whether a section's steps continue a numbering begun before it ("4.", "5.")."""
    first = re.match(r"\(?(\d+)", steps[0].marker) if steps else None
    return first is not None and int(first.group(1)) > 1


def section_steps(chunks: Sequence[Chunk]) -> list[str]:
    """Return the numbered steps of a section's chunks, in document order, verbatim."""
    steps = [clip(unit.text, MAX_STEP) for unit in _step_units(chunks)]
    return steps if len(steps) >= MIN_STEPS else []


def find_procedure(passages: Sequence[Chunk], read: Reader) -> Procedure | None:
    """Return the procedure of the first retrieved passage that is part of one, with steps.

    A section whose steps continue the numbering of the section before it ("4." first) is
    part of a longer procedure: the section above it, whole, is the procedure then.
    """
    tried: set[tuple[str, str]] = set()
    for chunk in passages:
        section = procedure_section(chunk)
        if section is None or (chunk.source, section) in tried:
            continue
        tried.add((chunk.source, section))
        document = read(chunk.source) or [chunk]
        members = [c for c in document if _under(c, section)] or [chunk]
        parent = section.rsplit(" > ", 1)[0] if " > " in section else ""
        if parent == chunk.title:
            parent = ""
        if parent and _continues(_step_units(members)):
            section, members = parent, [c for c in document if _under(c, parent)]
            parent = ""
        steps = section_steps(members)
        if not steps:
            continue
        duration = _duration(members)
        if duration is None and parent:
            duration = _duration([c for c in document if _under(c, parent)])
        return Procedure(
            source=chunk.source,
            section=section,
            steps=tuple(steps),
            duration_h=duration,
        )
    return None


def _duration(chunks: Sequence[Chunk]) -> float | None:
    for chunk in chunks:
        hours = stated_duration(chunk.text)
        if hours is not None:
            return hours
    return None
