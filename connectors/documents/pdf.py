"""PDF files: text per page through pypdf, structured like plain text."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from assistant.domain import TextBlock
from assistant.errors import DocumentError
from connectors.documents.limits import DocumentLimits, check_pdf_pages
from connectors.documents.reading import _PLACEHOLDER_TITLES, _collapse, _short
from connectors.documents.structure import _Piece, _structure
from connectors.documents.text import _Splitter


@contextmanager
def _reading(source: str) -> Iterator[None]:
    """Turn whatever pypdf raises on a broken or hostile file into a DocumentError."""
    try:
        yield
    except (DocumentError, MemoryError):  # MemoryError: the parsing sandbox refuses the file
        raise
    except PyPdfError as exc:
        raise DocumentError(source, f"corrupt or unreadable PDF: {_short(exc)}") from exc
    except Exception as exc:  # last guard: parsers raise anything on hostile files
        reason = f"corrupt or unreadable PDF: {type(exc).__name__}: {_short(exc)}"
        raise DocumentError(source, reason) from exc


def _check_pdf(data: bytes, path: Path, limits: DocumentLimits) -> None:
    """Raise DocumentError when a PDF is unreadable or has more pages than the limit."""
    source = str(path)
    with _reading(source):
        reader = PdfReader(io.BytesIO(data))
        _unlock(reader, source)
        check_pdf_pages(reader, source, limits)


def _load_pdf(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    with _reading(source):
        reader = PdfReader(io.BytesIO(data))
        _unlock(reader, source)
        title = _pdf_title(reader)
        pages = [page.extract_text() or "" for page in reader.pages]
    pieces: list[_Piece] = []
    for number, page_text in enumerate(pages, start=1):
        widths = [len(line.strip()) for line in page_text.splitlines()]
        wrap = max(widths, default=0)
        splitter = _Splitter(number, wrap_width=wrap if wrap >= 40 else None)
        pieces.extend(splitter.split(page_text))
    _, blocks = _structure(pieces, heuristics=True, first_line_title=False)
    return title, blocks


def _unlock(reader: PdfReader, source: str) -> None:
    if not reader.is_encrypted:
        return
    try:
        result = reader.decrypt("")
    except (DependencyError, PyPdfError, NotImplementedError) as exc:
        raise DocumentError(source, f"encrypted PDF: cannot decrypt ({_short(exc)})") from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise DocumentError(source, "encrypted PDF: a password is required")


def _pdf_title(reader: PdfReader) -> str:
    metadata = reader.metadata
    title = _collapse(str(metadata.title or "")) if metadata is not None else ""
    return "" if title.lower() in _PLACEHOLDER_TITLES else title
