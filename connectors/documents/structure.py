"""From pieces (paragraphs, tables, lists, code, headings) to text blocks with heading paths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.domain import TextBlock
from connectors.documents.headings import (
    _MAJOR,
    _HeadingState,
    _is_titleish,
    _match_outline,
    _match_section,
    _split_title,
    _trim_heading,
    _unlabeled_kind,
)
from connectors.documents.reading import _collapse


@dataclass(slots=True)
class _Piece:
    text: str
    page: int | None = None
    level: int | None = None  # explicit heading level (Markdown, HTML, DOCX)
    verbatim: bool = False  # table, list or code: never a heading
    lines: int = 1


@dataclass(slots=True)
class _Item:
    text: str  # block text; empty for a bare heading
    page: int | None
    heading: str | None = None
    level: int = 0
    line: str = ""  # the original line of a bare heading, kept in case it is demoted
    closes: bool = False  # a numbered paragraph closes the headings at its level and below
    outline: bool = False
    explicit: bool = False
    leadin: bool = False


def _structure(
    pieces: Sequence[_Piece], *, heuristics: bool, first_line_title: bool
) -> tuple[str, list[TextBlock]]:
    """Turn pieces into blocks with heading paths; return (title from the first line, blocks)."""
    title = ""
    rest = list(pieces)
    if heuristics and first_line_title and len(rest) > 1 and _is_document_title(rest[0]):
        title = _trim_heading(rest[0].text)
        rest = rest[1:]
    items = _classify(rest, heuristics=heuristics)
    _demote_empty_headings(items)
    return title, _emit(items)


def _is_document_title(piece: _Piece) -> bool:
    text = piece.text.strip()
    return (
        piece.level is None
        and not piece.verbatim
        and piece.lines == 1
        and not text.endswith(":")
        and _match_outline(text) is None
        and _match_section(text) is None
        and _MAJOR.match(text) is None
        and _is_titleish(text, max_words=16, max_chars=150)
    )


def _classify(pieces: Sequence[_Piece], *, heuristics: bool) -> list[_Item]:
    items: list[_Item] = []
    state = _HeadingState()
    leadin: _Item | None = None
    for piece in pieces:
        if piece.level is not None:
            state.enter(piece.level, sets_section=True)
            item = _Item("", piece.page, heading=piece.text, level=piece.level, explicit=True)
        elif heuristics and not piece.verbatim:
            item = _classify_piece(piece, state)
        else:
            item = _Item(piece.text, piece.page)
        if item.leadin:
            if leadin is not None:
                items.append(leadin)
            leadin = item
            continue
        if leadin is not None:
            if item.heading is None and not item.closes:
                separator = "\n" if "\n" in item.text else " "
                item.text = f"{leadin.text}{separator}{item.text}"
            else:
                items.append(leadin)
            leadin = None
        items.append(item)
    if leadin is not None:
        items.append(leadin)
    return items


def _classify_piece(piece: _Piece, state: _HeadingState) -> _Item:
    text = piece.text
    outline = _match_outline(text)
    if outline is not None:
        level = state.base + state.outline.place(outline.token)
        title, has_body = _split_title(outline.rest)
        if title is None:
            return _Item(text, piece.page, level=level, closes=True, outline=True)
        heading = f"{outline.shown} {title}"
        body = text if has_body else ""
        return _Item(body, piece.page, heading=heading, level=level, line=text, outline=True)
    section = _match_section(text)
    if section is not None:
        title, has_body = _split_title(section.rest)
        if title is None:
            return _Item(text, piece.page)
        state.enter(section.depth, sets_section=True)
        heading = f"{section.shown} {title}"
        body = text if has_body else ""
        return _Item(body, piece.page, heading=heading, level=section.depth, line=text)
    kind, title, has_body = _unlabeled_kind(text)
    if kind == "leadin":
        return _Item(text, piece.page, leadin=True)
    if kind == "major":
        level = 1
        state.enter(level, sets_section=True)
    elif kind == "minor":
        level = state.section + 1
        state.enter(level, sets_section=False)
    else:
        return _Item(text, piece.page)
    body = text if has_body else ""
    return _Item(body, piece.page, heading=title, level=level, line=text)


def _demote_empty_headings(items: list[_Item]) -> None:
    """Turn a guessed heading with nothing under it back into a paragraph, so no text is lost."""
    for index, item in enumerate(items):
        if item.heading is None or item.explicit or item.text:
            continue
        following = items[index + 1] if index + 1 < len(items) else None
        if following is None or (
            (following.heading is not None or following.closes) and following.level <= item.level
        ):
            item.heading = None
            item.text = item.line
            item.closes = item.outline


def _emit(items: Sequence[_Item]) -> list[TextBlock]:
    """Build blocks, keeping each guessed heading line as text of the first block under it."""
    path: list[tuple[int, str]] = []
    blocks: list[TextBlock] = []
    pending: list[str] = []
    page: int | None = None
    for item in items:
        page = item.page
        if item.heading is not None or item.closes:
            path = [entry for entry in path if entry[0] < item.level]
        if item.heading is not None and _collapse(item.heading):
            path.append((item.level, _collapse(item.heading)))
        if item.heading is not None and not item.text and not item.explicit:
            pending.append(item.line)
        elif item.text:
            text = "\n".join([*pending, item.text])
            pending = []
            blocks.append(TextBlock(text, tuple(heading for _, heading in path), item.page))
    if pending:
        blocks.append(TextBlock("\n".join(pending), tuple(heading for _, heading in path), page))
    return blocks
