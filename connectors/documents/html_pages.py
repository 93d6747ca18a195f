"""HTML files: walk the parsed tree into pieces; explicit ``<h1>``-``<h6>`` headings only."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

from assistant.domain import TextBlock
from assistant.errors import DocumentError
from connectors.documents.reading import _collapse, _decode_text, _short, _word_set
from connectors.documents.structure import _Piece, _structure
from connectors.documents.text import _load_text

_HTML_DROP = (
    "script",
    "style",
    "nav",
    "footer",
    "noscript",
    "template",
    "head",
    "title",
    "svg",
    "iframe",
    "object",
)
_HTML_INLINE = _word_set(
    "a abbr b bdi bdo cite code data del dfn em font i img input ins kbd label mark q "
    "s samp small span strike strong sub sup time tt u var wbr"
)
_HTML_PARAGRAPHS = _word_set("p dt dd figcaption summary address caption")
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class _HtmlWalker:
    """Collect pieces from an HTML tree in reading order."""

    def __init__(self) -> None:
        self.pieces: list[_Piece] = []
        self._inline: list[str] = []

    def walk(self, node: Tag) -> None:
        """Add the pieces under ``node``."""
        for child in node.children:
            if isinstance(child, PreformattedString):
                continue
            if isinstance(child, NavigableString):
                self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._tag(child)

    def finish(self) -> list[_Piece]:
        """Return all pieces, flushing any trailing loose text."""
        self._flush()
        return self.pieces

    def _flush(self) -> None:
        text = "".join(self._inline)
        self._inline = []
        if text.strip():
            self.pieces.append(_Piece(text))

    def _tag(self, tag: Tag) -> None:
        name = tag.name
        if name in _HTML_INLINE:
            self._inline.append(tag.get_text())
            return
        self._flush()
        if name in _HTML_HEADINGS:
            self.pieces.append(_Piece(tag.get_text(" "), level=_HTML_HEADINGS[name]))
        elif name == "table":
            self._table(tag)
        elif name == "pre":
            self.pieces.append(_Piece(tag.get_text(), verbatim=True))
        elif name in _HTML_PARAGRAPHS:
            self.pieces.append(_Piece(tag.get_text()))
        elif name == "li":
            self._list_item(tag)
        else:
            self.walk(tag)
            self._flush()

    def _list_item(self, item: Tag) -> None:
        nested: list[Tag] = []
        parts: list[str] = []
        for child in item.children:
            if isinstance(child, Tag) and child.name in ("ul", "ol", "table"):
                nested.append(child)
            elif isinstance(child, Tag):
                parts.append(child.get_text())
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                parts.append(str(child))
        if "".join(parts).strip():
            self.pieces.append(_Piece("".join(parts)))
        for child in nested:
            self._tag(child)

    def _table(self, table: Tag) -> None:
        rows: list[str] = []
        caption = table.find("caption")
        if isinstance(caption, Tag) and caption.get_text(strip=True):
            rows.append(_collapse(caption.get_text(" ")))
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue  # a row of a nested table; its text is in the enclosing cell
            cells = [
                _collapse(cell.get_text(" "))
                for cell in row.find_all(["th", "td"], recursive=False)
            ]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.pieces.append(_Piece("\n".join(rows), verbatim=True, lines=len(rows)))


def _load_html(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    text = _decode_text(data, source)
    if "<" not in text:
        return _load_text(data, path)
    try:
        soup = BeautifulSoup(_XML_DECLARATION.sub("", text), "html.parser")
        title = _html_title(soup)
        for tag in soup.find_all(_HTML_DROP):
            tag.decompose()
        for line_break in soup.find_all("br"):
            line_break.replace_with("\n")
        walker = _HtmlWalker()
        walker.walk(soup.body if soup.body is not None else soup)
        pieces = walker.finish()
    except MemoryError:  # over the parsing process's limit: the sandbox refuses the file
        raise
    except Exception as exc:  # last guard: parsers raise anything on hostile files
        reason = f"corrupt or unreadable HTML: {type(exc).__name__}: {_short(exc)}"
        raise DocumentError(source, reason) from exc
    _, blocks = _structure(pieces, heuristics=False, first_line_title=False)
    return title, blocks


def _html_title(soup: BeautifulSoup) -> str:
    for candidate in (soup.title, soup.find("h1")):
        if isinstance(candidate, Tag) and candidate.get_text(strip=True):
            return _collapse(candidate.get_text(" "))
    return ""
