"""Document bombs: a DOCX's unpacked size and packing ratio, and a PDF's page count, checked
from the container's own tables before any content is parsed.

A zip's central directory gives each part's packed and unpacked size; Python's ``zipfile``
never inflates a part past the unpacked size its directory declares (a lying part fails its
CRC), so the declared sizes bound what parsing can unpack. A PDF's page count comes from its
page tree. Whatever these checks miss (a hostile content stream, a parser stuck in a loop) is
stopped by the memory and time limits of the parsing process (``assistant.knowledge.sandbox``).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from pypdf import PdfReader

from assistant.errors import DocumentError
from assistant.settings import KnowledgeSettings
from connectors.documents.reading import _human_size, _short

MAX_ZIP_MEMBERS = 10_000
"""More parts than any real DOCX has; a directory of millions of tiny entries is refused."""
RATIO_FLOOR_BYTES = 1 << 20
"""Parts smaller than this unpacked are never a bomb, however well they pack."""


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The limits a document is checked against before its content is parsed."""

    max_pages: int = 2000
    max_unpacked_bytes: int = 200 << 20
    max_ratio: float = 100.0

    @classmethod
    def from_settings(cls, settings: KnowledgeSettings) -> DocumentLimits:
        """Return the limits of the ``knowledge`` settings."""
        return cls(
            max_pages=settings.max_pages,
            max_unpacked_bytes=int(settings.max_uncompressed_mb * 1024 * 1024),
            max_ratio=settings.max_compression_ratio,
        )


def check_zip(data: bytes, source: str, limits: DocumentLimits) -> None:
    """Raise DocumentError when a zip container (DOCX) unpacks too large or packs too tight."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise DocumentError(source, f"corrupt or unreadable DOCX: {_short(exc)}") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise DocumentError(
            source,
            f"refused: the archive has {len(members)} parts, more than {MAX_ZIP_MEMBERS}",
            code="zip_bomb",
        )
    total = sum(member.file_size for member in members)
    if total > limits.max_unpacked_bytes:
        raise DocumentError(
            source,
            f"refused: unpacks to {_human_size(total)}, limit is "
            f"{_human_size(limits.max_unpacked_bytes)} (knowledge.max_uncompressed_mb)",
            code="too_large_unpacked",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise DocumentError(
                source,
                f"refused as a zip bomb: part {member.filename[:80]!r} packs "
                f"{_human_size(member.file_size)} into {_human_size(member.compress_size)} "
                f"(ratio {ratio:.0f}, limit {limits.max_ratio:g}, "
                "knowledge.max_compression_ratio)",
                code="zip_bomb",
            )


def check_pdf_pages(reader: PdfReader, source: str, limits: DocumentLimits) -> None:
    """Raise DocumentError when a PDF has more pages than the limit.

    The page tree's declared count is checked first (no page is read); then the pages are
    counted, which walks the tree, so a tree that under-declares is caught too.
    """
    tree = reader.root_object.get("/Pages")
    declared = tree.get_object().get("/Count", 0) if tree is not None else 0
    _refuse_pages(int(declared) if isinstance(declared, int) else 0, source, limits)
    _refuse_pages(len(reader.pages), source, limits)


def _refuse_pages(pages: int, source: str, limits: DocumentLimits) -> None:
    if pages > limits.max_pages:
        raise DocumentError(
            source,
            f"refused: {pages} pages, limit is {limits.max_pages} (knowledge.max_pages)",
            code="too_many_pages",
        )
