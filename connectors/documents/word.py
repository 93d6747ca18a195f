"""Word (DOCX) files: paragraphs, heading styles and tables through python-docx."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from assistant.domain import TextBlock
from assistant.errors import DocumentError
from connectors.documents.reading import _PLACEHOLDER_TITLES, _collapse, _short
from connectors.documents.structure import _Piece, _structure

_DOCX_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _load_docx(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    try:
        document = docx.Document(io.BytesIO(data))
        core_title = _collapse(document.core_properties.title or "")
        pieces = [_docx_piece(part) for part in document.iter_inner_content()]
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError) as exc:
        raise DocumentError(source, f"corrupt or unreadable DOCX: {_short(exc)}") from exc
    except MemoryError:  # over the parsing process's limit: the sandbox refuses the file
        raise
    except Exception as exc:  # last guard: parsers raise anything on hostile files
        reason = f"corrupt or unreadable DOCX: {type(exc).__name__}: {_short(exc)}"
        raise DocumentError(source, reason) from exc
    kept = [piece for piece in pieces if piece is not None]
    explicit = any(piece.level is not None for piece in kept)
    first_line, blocks = _structure(kept, heuristics=not explicit, first_line_title=not explicit)
    if core_title and core_title.lower() not in _PLACEHOLDER_TITLES:
        return core_title, blocks
    for level in (0, 1):
        heading = next((p.text for p in kept if p.level == level and p.text.strip()), "")
        if heading:
            return heading, blocks
    return first_line, blocks


def _docx_piece(part: Paragraph | Table) -> _Piece | None:
    if isinstance(part, Table):
        rows = _docx_rows(part)
        return _Piece("\n".join(rows), verbatim=True, lines=len(rows)) if rows else None
    text = part.text
    if not text.strip():
        return None
    style = part.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return _Piece(text, level=0)
    heading = _DOCX_HEADING.match(name)
    return _Piece(text, level=int(heading.group(1)) if heading else None)


def _docx_rows(table: Table) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column
                continue
            seen.add(id(cell._tc))
            cells.append(_collapse(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows
