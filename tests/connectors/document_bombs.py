"""Hostile documents built in a few seconds: a DOCX bomb and PDFs with thousands of pages."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx

WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_PARAGRAPHS = b"<w:p><w:r><w:t>Open valve V-1 slowly.</w:t></w:r></w:p>" * 1000


def write_docx_bomb(path: Path, unpacked_mb: int) -> Path:
    """Write a valid DOCX whose ``word/document.xml`` is ``unpacked_mb`` MB of paragraphs
    that deflate about 300:1 (a real document's XML packs 5-20:1)."""
    base = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Pump P-1 manual")
    document.save(base)
    head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{WORD_NS}"><w:body>'
    ).encode()
    with (
        zipfile.ZipFile(base) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for item in source.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(head)
            written = 0
            while written < unpacked_mb << 20:
                part.write(_PARAGRAPHS)
                written += len(_PARAGRAPHS)
            part.write(b"</w:body></w:document>")
    return path


def write_pdf(path: Path, pages: int, declared: int | None = None) -> Path:
    """Write a PDF of ``pages`` text pages; its page tree declares ``declared`` (default:
    the truth) as its /Count."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for number in range(1, pages + 1):
        text = f"BT /F1 12 Tf 72 720 Td (Page {number}: check pump P-{number % 97}.) Tj ET"
        stream = text.encode()
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % len(objects)
        )
        kids.append(b"%d 0 R" % len(objects))
    count = pages if declared is None else declared
    objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (count, b" ".join(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


def rss_mb() -> float:
    """Return this process's resident memory in MB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")
