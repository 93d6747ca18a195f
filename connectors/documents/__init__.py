"""Turn plant documents (Markdown, text, PDF, HTML, DOCX, CSV) into our frozen text blocks.

Every loader returns a :class:`LoadedDocument` or raises :class:`DocumentError` with a reason
a person can act on; no parser exception escapes, so ingestion can go on with other files.
Documents without explicit headings (plain text, Markdown without ``#``, PDF) get their
structure from heuristics: legal and outline numbering such as ``(a)``/``(1)``/``(i)``,
section numbers such as ``1.2``, ``SECTION 3``, ALL-CAPS and Title Case lines.

What lives where: this module is the entry point (:func:`load_document`, the suffix table);
``reading`` reads files within the size limit, decodes and cleans text and holds the helpers
every loader shares; ``headings`` recognises heading-like lines and tracks outline nesting;
``structure`` turns pieces (paragraphs, tables, lists, headings) into blocks with heading
paths; ``text`` splits Markdown and plain text into pieces and loads those two formats;
``pdf``, ``html_pages``, ``word`` (DOCX) and ``csv_tables`` load one format each; ``limits``
refuses document bombs (a DOCX that unpacks too large or packs too tight, a PDF with too many
pages) from the container's own tables, before any content is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.domain import LoadedDocument, TextBlock
from assistant.errors import DocumentError
from assistant.settings import KnowledgeSettings
from connectors.documents.csv_tables import _load_csv
from connectors.documents.html_pages import _load_html
from connectors.documents.limits import DocumentLimits, check_zip
from connectors.documents.pdf import _check_pdf, _load_pdf
from connectors.documents.reading import _clean_blocks, _collapse, _read_limited, _stem_title
from connectors.documents.text import _load_markdown, _load_text
from connectors.documents.word import _load_docx

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentFiles",
    "DocumentLimits",
    "check_document",
    "load_document",
]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".md", ".markdown", ".txt", ".text", ".log", ".pdf", ".html", ".htm", ".docx", ".csv"}
)

_EMPTY = "empty: no text to index"
_NO_PDF_TEXT = "no extractable text (scanned PDF?)"


def load_document(
    path: Path, max_bytes: int, limits: DocumentLimits | None = None
) -> LoadedDocument:
    """Read one document file and return its title and text blocks, or raise DocumentError."""
    source = str(path)
    suffix, data = _read_checked(path, max_bytes, limits or DocumentLimits())
    title, blocks = _LOADERS[suffix](data, path)
    cleaned = tuple(_clean_blocks(blocks))
    if not cleaned:
        raise DocumentError(source, _NO_PDF_TEXT if suffix == ".pdf" else _EMPTY)
    title = _collapse(title) or _stem_title(path)
    return LoadedDocument(source=source, title=title, blocks=cleaned)


def check_document(path: Path, max_bytes: int, limits: DocumentLimits | None = None) -> None:
    """Raise DocumentError when a file is of an unsupported type, empty, or over a limit
    (size, pages, unpacked size, packing ratio); nothing but the container's tables is read."""
    _read_checked(path, max_bytes, limits or DocumentLimits())


def _read_checked(path: Path, max_bytes: int, limits: DocumentLimits) -> tuple[str, bytes]:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        shown = f"'{suffix}'" if suffix else "(no file suffix)"
        raise DocumentError(source, f"unsupported file type {shown} (supported: {supported})")
    data = _read_limited(path, max_bytes)
    if not data.strip():
        raise DocumentError(source, _EMPTY)
    if suffix == ".docx":
        check_zip(data, source, limits)
    elif suffix == ".pdf":
        _check_pdf(data, path, limits)
    return suffix, data


# Loaders: each returns (title or "", blocks)

_Loader = Callable[[bytes, Path], tuple[str, list[TextBlock]]]

_LOADERS: dict[str, _Loader] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".text": _load_text,
    ".log": _load_text,
    ".pdf": _load_pdf,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
    ".csv": _load_csv,
}


class DocumentFiles:
    """The document loader of ``assistant.ports.DocumentLoader``: every format above."""

    def __init__(self, settings: KnowledgeSettings | None = None) -> None:
        """Check documents against the limits of these settings (the defaults without)."""
        self._limits = DocumentLimits.from_settings(settings or KnowledgeSettings())

    @property
    def suffixes(self) -> frozenset[str]:
        """Return the suffixes this loader reads."""
        return SUPPORTED_SUFFIXES

    def load(self, path: Path, max_bytes: int) -> LoadedDocument:
        """Read one document (see ``load_document``)."""
        return load_document(path, max_bytes, self._limits)

    def check(self, path: Path, max_bytes: int) -> None:
        """Check one document against the limits without parsing it (see ``check_document``)."""
        check_document(path, max_bytes, self._limits)
