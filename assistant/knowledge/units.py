"""Cut a chunk into answer units: sentences, list items and steps, and table rows.

A chunk's text is blocks separated by blank lines (see chunking). Each block is one of:

* a table: every line has cells separated by ``|`` (Markdown ``| a | b |``, or ``a | b`` from
  DOCX and HTML). The first line is the header; every other row becomes one unit rendered
  with the header ("Pump-end 6311-C3: Quantity per regrease 17 g; Interval every 2,000 running
  hours or 3 months"), its span being the row's line;
* a list: lines that open with a bullet or a number ("1.", "2)", "-", "•"); a line without one
  continues the item above. Each item is a unit that keeps its marker; numbered items are
  steps. The list's lead-in is the last sentence of the block before it;
* running text: cut into sentences by the project's one splitter. A paragraph that carries an
  inline numbered sequence ("1. Close V-1. 2. Lock it.", as PDFs often give) is cut into steps.

Offsets are into the chunk's text, so a quote can always be checked: ``text[start:end]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from assistant.domain import AnswerUnit, Chunk, UnitKind
from assistant.knowledge.sentences import sentence_spans

_BULLET = re.compile(
    r"^\s*([-*+•▪◦‣]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|\((?:[ivxlc]{1,5}|[IVXLC]{1,5})\))\s+(?=\S)"
)
_NUMBERED = re.compile(r"^\(?(\d{1,3})[.)]$")
_INLINE_STEP = re.compile(r"(?:^|(?<=[.;:!?]\s)|(?<=[.;:!?]\s\s))(\d{1,2})[.)]\s+(?=[A-Z`\"(])")
_RULE_ROW = re.compile(r"^\|?[\s:|-]+\|?$")
_EMPTY_CELL = frozenset({"", "-", "\u2014", "\u2013", "n/a", "N/A"})


def chunk_units(chunk: Chunk) -> list[AnswerUnit]:
    """Return the answer units of a chunk, in reading order."""
    units: list[AnswerUnit] = []
    state = _ListState()
    previous: tuple[int, int] | None = None
    for start, end in _blocks(chunk.text):
        lines = list(_lines(chunk.text, start, end))
        kind = _block_kind(chunk.text, lines)
        if kind == "text":
            # "Sequence of Lockout" on one line, "(1) Notify ..." on the next: a lead-in line
            # and the list it opens, in one block.
            opens = next((i for i, (a, b) in enumerate(lines) if _BULLET.match(chunk.text[a:b])), 0)
            if opens:
                head = (lines[0][0], lines[opens - 1][1])
                units += _text_units(chunk, *head, -1, len(units))
                previous, lines, kind = head, lines[opens:], "list"
        if kind == "table":
            units += _table_units(chunk, lines, state.new_group(), len(units))
            state.close()
        elif kind == "list":
            first = _BULLET.match(chunk.text[lines[0][0] : lines[0][1]])
            marker = first.group(1) if first else ""
            group = state.group_for(marker)
            lead = (
                state.lead
                if state.continues
                else (_lead_in(chunk.text, previous) if previous else "")
            )
            made = _list_units(chunk, lines, group, len(units), lead)
            state.opened(group, made[-1].marker if made else marker, lead)
            units += made
        else:
            made = _inline_steps(chunk, start, end, state.new_group(), len(units))
            if not made:
                made = _text_units(chunk, start, end, -1, len(units))
            units += made
        previous = (start, end)
    return units


class _ListState:
    """Numbers the lists of a chunk; a numbered item that continues the last list's numbering
    in the same style joins it, even with a note paragraph between them (as in OSHA's sample
    procedure)."""

    def __init__(self) -> None:
        self.next = 0
        self.group = -1
        self.style = ""
        self.number = -1
        self.lead = ""
        self.continues = False

    def new_group(self) -> int:
        self.next += 1
        return self.next - 1

    def close(self) -> None:
        self.group, self.style, self.number = -1, "", -1

    def group_for(self, marker: str) -> int:
        style, number = _style(marker)
        self.continues = (
            self.group >= 0 and number >= 0 and style == self.style and number == self.number + 1
        )
        return self.group if self.continues else self.new_group()

    def opened(self, group: int, last_marker: str, lead: str) -> None:
        self.group, (self.style, self.number), self.lead = group, _style(last_marker), lead


def _style(marker: str) -> tuple[str, int]:
    """Return a marker's style ("(1)", "1.", "1)", "-") and its number (-1 for bullets)."""
    digits = re.search(r"\d+", marker)
    if digits is None:
        return marker[:1], -1
    shape = marker.replace(digits.group(0), "1")
    return shape, int(digits.group(0))


def _text_units(chunk: Chunk, start: int, end: int, group: int, first: int) -> list[AnswerUnit]:
    # A line break inside running text is meaningful (loaders join a paragraph's wrapped
    # lines): records of a CSV file or a log are units of their own.
    spans = [
        span
        for line in _lines(chunk.text, start, end)
        for span in sentence_spans(chunk.text, *line)
    ]
    return [
        AnswerUnit(chunk.id, first + i, "sentence", a, b, chunk.text[a:b])
        for i, (a, b) in enumerate(spans)
    ]


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in re.finditer(r"\n[ \t]*\n", text):
        if text[start : match.start()].strip():
            yield start, match.start()
        start = match.end()
    if text[start:].strip():
        yield start, len(text)


def _lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    position = start
    for line in text[start:end].split("\n"):
        a, b = position, position + len(line)
        position = b + 1
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            yield a, b


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [cell.strip().strip("`").strip() for cell in body.split("|")]


def _block_kind(text: str, lines: list[tuple[int, int]]) -> str:
    rows = [text[a:b] for a, b in lines]
    if len(rows) >= 2 and all("|" in row for row in rows):
        widths = {len(_cells(row)) for row in rows}
        if min(widths) >= 2:
            return "table"
    if _BULLET.match(rows[0]) and sum(1 for row in rows if _BULLET.match(row)) >= 1:
        return "list"
    return "text"


def render_row(header: list[str], cells: list[str]) -> str:
    """Render a table row with its header: "first cell: header value; header value"."""
    pairs = []
    for name, value in zip(header[1:], cells[1:], strict=False):
        if value in _EMPTY_CELL:
            continue
        pairs.append(f"{name} {_soften(value)}" if name else value)
    subject = cells[0] if cells and cells[0] not in _EMPTY_CELL else ""
    if not subject and header:
        subject = header[0]
    body = "; ".join(pairs)
    return f"{subject}: {body}" if subject and body else subject or body


def _soften(value: str) -> str:
    """Lower-case a leading capitalised word so "Interval Every 2,000 h" reads naturally."""
    first = value.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:].isalpha() and first[1:].islower():
        return value[0].lower() + value[1:]
    return value


def _table_units(
    chunk: Chunk, lines: list[tuple[int, int]], group: int, first: int
) -> list[AnswerUnit]:
    header_line = chunk.text[lines[0][0] : lines[0][1]]
    header = _cells(header_line)
    units: list[AnswerUnit] = []
    for a, b in lines[1:]:
        cells = _cells(chunk.text[a:b])
        if not any(cell not in _EMPTY_CELL for cell in cells) or _RULE_ROW.match(chunk.text[a:b]):
            continue  # an empty row, or a Markdown rule line |---|:---:|
        units.append(
            AnswerUnit(
                chunk.id,
                first + len(units),
                "row",
                a,
                b,
                render_row(header, cells),
                group=group,
                lead=" | ".join(header),
            )
        )
    return units


def _list_units(
    chunk: Chunk, lines: list[tuple[int, int]], group: int, first: int, lead: str
) -> list[AnswerUnit]:
    items: list[list[int]] = []  # [start, end] of each item
    markers: list[str] = []
    for a, b in lines:
        match = _BULLET.match(chunk.text[a:b])
        if match or not items:
            items.append([a, b])
            markers.append(match.group(1) if match else "")
        else:
            items[-1][1] = b  # a continuation line of the item above
    units: list[AnswerUnit] = []
    for (a, b), marker in zip(items, markers, strict=True):
        body_start = a + len(marker) if marker else a
        while body_start < b and chunk.text[body_start].isspace():
            body_start += 1
        kind: UnitKind = "step" if _NUMBERED.match(marker) else "item"
        units.append(
            AnswerUnit(
                chunk.id,
                first + len(units),
                kind,
                a,
                b,
                " ".join(chunk.text[body_start:b].split()),
                marker=marker,
                group=group,
                lead=lead,
            )
        )
    return units


def _inline_steps(chunk: Chunk, start: int, end: int, group: int, first: int) -> list[AnswerUnit]:
    """Cut a paragraph with an inline 1., 2., 3. sequence into steps (PDF text often has them)."""
    text = chunk.text
    found = [m for m in _INLINE_STEP.finditer(text, start, end)]
    expected, run = 1, []
    for match in found:
        number = int(match.group(1))
        if number == expected:
            run.append(match)
            expected += 1
        elif number == 1:
            run, expected = [match], 2
    if len(run) < 3:
        return []
    units: list[AnswerUnit] = []
    lead_end = run[0].start()
    lead = " ".join(text[start:lead_end].split())
    if lead:
        units += [
            AnswerUnit(chunk.id, first + i, "sentence", a, b, text[a:b])
            for i, (a, b) in enumerate(sentence_spans(text, start, lead_end))
        ]
    lead_sentence = units[-1].text if units else ""
    for index, match in enumerate(run):
        stop = run[index + 1].start() if index + 1 < len(run) else end
        a, b = match.start(), stop
        while b > a and text[b - 1].isspace():
            b -= 1
        body = " ".join(text[match.end() : b].split())
        units.append(
            AnswerUnit(
                chunk.id,
                first + len(units),
                "step",
                a,
                b,
                body,
                marker=f"{match.group(1)}.",
                group=group,
                lead=lead_sentence,
            )
        )
    return units


def _lead_in(text: str, block: tuple[int, int]) -> str:
    """Return the lead-in of a list: the last sentence of the block before it."""
    spans = sentence_spans(text, *block)
    if not spans:
        return ""
    a, b = spans[-1]
    return " ".join(text[a:b].split())


def quote_text(unit: AnswerUnit, *, listed: bool = False) -> str:
    """Return how a unit is shown in an answer: a step keeps its number; an item shown in its
    list keeps a bullet."""
    if unit.kind == "step":
        return f"{unit.marker} {unit.text}"
    if unit.kind == "item" and listed:
        return f"- {unit.text}"
    return unit.text


def unit_embedding_text(chunk: Chunk, unit: AnswerUnit) -> str:
    """Return the string embedded for a unit: its innermost heading, then the unit as shown."""
    heading = chunk.section.rsplit(" > ", 1)[-1] if chunk.section else chunk.title
    return f"{heading}: {quote_text(unit)}" if heading else quote_text(unit)


def header_span(text: str, unit: AnswerUnit) -> tuple[int, int] | None:
    """Return the offsets of the header row of a table row's table (its rendering uses it)."""
    if unit.kind != "row":
        return None
    block = text.rfind("\n\n", 0, unit.start)
    start = 0 if block < 0 else block + 2
    while start < unit.start and text[start].isspace():
        start += 1
    end = text.find("\n", start)
    if end < 0 or end >= unit.start:
        return None
    return start, end
