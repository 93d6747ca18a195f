"""Markdown and plain text: split lines into pieces, and load ``.md``/``.txt``/``.log`` files."""

from __future__ import annotations

import re
from pathlib import Path

from assistant.domain import TextBlock
from connectors.documents.headings import (
    _match_outline,
    _match_section,
    _SectionLabel,
    _split_title,
    _unlabeled_kind,
)
from connectors.documents.reading import _decode_text
from connectors.documents.structure import _Piece, _structure

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-{2,})\s*$")
_RULE = re.compile(r"^\s*([-*_=~])(?:\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")
_MD_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+\S")
_TEXT_BULLET = re.compile(r"^\s*[-*+•▪◦‣]\s+\S")
_ENDS_CLAUSE = re.compile(r"[.!?:;]['\")\]]*$")
_PARA, _TABLE, _LIST, _CODE = "para", "table", "list", "code"


class _Splitter:
    """Group the lines of one text (or one PDF page) into pieces."""

    def __init__(
        self,
        page: int | None = None,
        *,
        markdown: bool = False,
        heuristics: bool = True,
        line_mode: bool = False,
        wrap_width: int | None = None,
    ) -> None:
        self._page = page
        self._markdown = markdown
        self._heuristics = heuristics
        self._line_mode = line_mode
        self._wrap_width = wrap_width
        self._pieces: list[_Piece] = []
        self._lines: list[str] = []
        self._kind = _PARA
        self._in_code = False

    def split(self, text: str) -> list[_Piece]:
        """Return the pieces of ``text`` in reading order."""
        for raw in text.splitlines():
            self._line(raw.rstrip())
        self._flush()
        return self._pieces

    def _flush(self) -> None:
        if self._lines:
            verbatim = self._kind != _PARA
            joined = ("\n" if verbatim else " ").join(self._lines)
            self._pieces.append(
                _Piece(joined, self._page, verbatim=verbatim, lines=len(self._lines))
            )
        self._lines = []
        self._kind = _PARA

    def _start(self, kind: str) -> None:
        if self._kind != kind:
            self._flush()
            self._kind = kind

    def _alone(self, line: str) -> None:
        self._flush()
        self._lines.append(line)
        self._flush()

    def _line(self, raw: str) -> None:
        stripped = raw.strip()
        if self._markdown and _FENCE.match(raw):
            self._flush()
            self._in_code = not self._in_code
            self._kind = _CODE if self._in_code else _PARA
            return
        if self._in_code:
            self._lines.append(raw)
            return
        if not stripped:
            self._flush()
            return
        if self._markdown and self._markdown_structure(raw, stripped):
            return
        if _RULE.match(stripped):
            self._flush()
            return
        if stripped.startswith("|"):
            if not (self._markdown and _TABLE_RULE.match(stripped)):
                self._start(_TABLE)
                self._lines.append(stripped)
            return
        if (_MD_BULLET if self._markdown else _TEXT_BULLET).match(raw):
            self._start(_LIST)
            self._lines.append(stripped)
            return
        if self._kind == _LIST and raw[:1].isspace():
            self._lines.append(stripped)
            return
        if self._kind != _PARA:
            self._flush()
        if self._line_mode:
            self._alone(stripped)
            return
        if self._heuristics and self._structural_line(stripped):
            return
        self._lines.append(stripped)
        if (
            self._wrap_width
            and stripped.endswith((".", "!", "?", ":"))
            and len(stripped) < 0.75 * self._wrap_width
        ):
            self._flush()

    def _markdown_structure(self, raw: str, stripped: str) -> bool:
        heading = _MD_HEADING.match(raw)
        if heading:
            self._flush()
            self._pieces.append(_Piece(heading.group(2), self._page, level=len(heading.group(1))))
            return True
        underline = _SETEXT.match(raw)
        if underline and self._kind == _PARA and len(self._lines) == 1:
            level = 1 if stripped.startswith("=") else 2
            self._pieces.append(_Piece(self._lines[0], self._page, level=level))
            self._lines = []
            return True
        return False

    def _structural_line(self, stripped: str) -> bool:
        """Start a new piece at a numbered line or a heading-like line; say if one was taken."""
        label = _match_outline(stripped) or _match_section(stripped)
        if label is not None:
            if isinstance(label, _SectionLabel) and _split_title(label.rest)[0] is None:
                return False
            self._flush()
            self._lines.append(stripped)
            title, has_body = _split_title(label.rest)
            if title is not None and not has_body:
                self._flush()
            return True
        at_boundary = not self._lines or bool(_ENDS_CLAUSE.search(self._lines[-1]))
        if at_boundary and _unlabeled_kind(stripped)[0] in ("major", "minor", "leadin"):
            self._alone(stripped)
            return True
        return False


def _has_markdown_headings(text: str) -> bool:
    in_code = False
    previous = ""
    for raw in text.splitlines():
        if _FENCE.match(raw):
            in_code = not in_code
            continue
        if in_code:
            continue
        if _MD_HEADING.match(raw):
            return True
        if previous and _SETEXT.match(raw) and not _MD_BULLET.match(previous):
            return True
        previous = raw.strip()
    return False


def _load_markdown(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    text = _decode_text(data, str(path))
    if not _has_markdown_headings(text):
        pieces = _Splitter(markdown=True, heuristics=True).split(text)
        return _structure(pieces, heuristics=True, first_line_title=True)
    pieces = _Splitter(markdown=True, heuristics=False).split(text)
    _, blocks = _structure(pieces, heuristics=False, first_line_title=False)
    title = next((piece.text for piece in pieces if piece.level == 1), "")
    return title, blocks


def _load_text(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    text = _decode_text(data, str(path))
    line_mode = path.suffix.lower() == ".log"
    pieces = _Splitter(line_mode=line_mode).split(text)
    return _structure(pieces, heuristics=True, first_line_title=not line_mode)
