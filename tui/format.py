"""Text helpers shared by the panes: state colours, sparklines, values and answer markup."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from textual.content import Content

from assistant.domain import TelemetryEvent

BLOCKS = "▁▂▃▄▅▆▇█"
LABEL = re.compile(r"\[([DT]\d+)\]")
QUOTED = re.compile(r"\u201c[^\u201c\u201d]*\u201d")
"""A unit quoted verbatim in running text: \u201c...\u201d."""
LIST_LINE = re.compile(r"^\s*(?:\(?\d{1,3}[.)]|\(?[a-z][.)]|[-*+\u2022\u25aa\u25e6\u2023])\s")
"""A step or item of a quoted list, with its own marker."""
ENDS_WITH_DOCUMENT = re.compile(r"\[D\d+\]\s*$")
QUOTE_STYLE = "italic"
"""Words quoted from a document: curly-quoted units and the steps of a quoted procedure."""
LEAD_STYLE = "bold"
"""The lead line of a quoted procedure ("7.3 Cleaning steps: [D1]")."""

STATE_STYLE: dict[str, str] = {
    "normal": "$success",
    "outside normal": "$warning",
    "lo": "bold $warning",
    "hi": "bold $warning",
    "lolo": "bold $error",
    "hihi": "bold $error",
    "stale": "italic $warning",
    "no data": "$text-muted",
    "stopped": "$text-muted",
}
LEVEL_STYLE: dict[str, str] = {
    "hihi": "bold $error",
    "lolo": "bold $error",
    "hi": "bold $warning",
    "lo": "bold $warning",
    "anomaly": "bold $secondary",
    "stale": "italic $warning",
}


def sparkline(values: Sequence[float], width: int) -> str:
    """Return values as a line of block characters, at most ``width`` wide (right-aligned)."""
    if not values:
        return " " * width
    data = list(values)[-width:]
    low, high = min(data), max(data)
    span = high - low
    if span <= 0:
        return (BLOCKS[3] * len(data)).rjust(width)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - low) / span * top)] for v in data).rjust(width)


def number(value: float | None) -> str:
    """Return a measured value in a few significant figures (or a dash)."""
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def clock(ts: float | None) -> str:
    """Return a UTC wall-clock time such as 14:40:03 (or a dash)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def state_text(state: str) -> Content:
    """Return a tag state in its colour (alarms upper case)."""
    shown = state.upper() if state in ("lo", "hi", "lolo", "hihi") else state
    return Content.styled(shown, STATE_STYLE.get(state, ""))


def event_level(event: TelemetryEvent) -> Content:
    """Return an event's level in its colour."""
    return Content.styled(event.level.upper(), LEVEL_STYLE.get(event.level, "bold"))


def quote_ranges(text: str) -> list[tuple[int, int, str]]:
    """Return (start, end, style) for the document quotes in answer text.

    Curly-quoted units, and the lines of a quoted procedure: a lead line ending in its [D#]
    label, then its numbered or bulleted lines (a list continued from the passage before runs
    on without a lead of its own).
    """
    ranges = [(m.start(), m.end(), QUOTE_STYLE) for m in QUOTED.finditer(text)]
    position = 0
    in_list = False
    lines = text.split("\n")
    for i, line in enumerate(lines):
        end = position + len(line)
        if LIST_LINE.match(line):
            if in_list:
                ranges.append((position, end, QUOTE_STYLE))
        else:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            in_list = bool(ENDS_WITH_DOCUMENT.search(line)) and bool(LIST_LINE.match(following))
            if in_list:
                ranges.append((position, end, LEAD_STYLE))
        position = end + 1
    return sorted(ranges)


def answer_content(text: str) -> Content:
    """Return answer text with every [D#]/[T#] label a clickable link to its source and the
    document quotes styled as quotes (the text itself unchanged)."""
    parts: list[str | Content] = []
    position = 0
    for match in LABEL.finditer(text):
        parts.append(text[position : match.start()])
        label = match.group(1)
        parts.append(
            Content.from_markup(
                f"[bold $accent @click=screen.open_source('{label}')]\\[{label}][/]"
            )
        )
        position = match.end()
    parts.append(text[position:])
    content = Content.assemble(*parts)
    for start, end, style in quote_ranges(text):
        content = content.stylize(style, start, end)
    return content
