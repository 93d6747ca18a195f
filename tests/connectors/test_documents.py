"""Document loaders on real files built here, on hostile files, and on the OSHA lockout standard."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import docx
import pytest
from reportlab.lib import pdfencrypt
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from assistant.domain import LoadedDocument, TextBlock
from assistant.errors import DocumentError
from connectors.documents import (
    SUPPORTED_SUFFIXES,
    DocumentLimits,
    check_document,
    load_document,
)
from tests.connectors.document_bombs import write_docx_bomb, write_pdf

LIMIT = 1_000_000
OSHA = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "documents"
    / "osha"
    / "29-CFR-1910.147.md"
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _reason(path: Path, max_bytes: int = LIMIT) -> str:
    with pytest.raises(DocumentError) as caught:
        load_document(path, max_bytes)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    return caught.value.reason


def _paths(doc: LoadedDocument) -> set[tuple[str, ...]]:
    return {block.heading_path for block in doc.blocks}


def _block_with(doc: LoadedDocument, phrase: str) -> TextBlock:
    found = [block for block in doc.blocks if phrase in block.text]
    assert len(found) == 1, f"{phrase!r} is in {len(found)} blocks"
    return found[0]


def _make_pdf(path: Path, *, title: str | None = None) -> Path:
    """Write a two-page manual: a numbered heading and two paragraphs per page."""
    pdf = canvas.Canvas(str(path), pagesize=A4)
    if title is not None:
        pdf.setTitle(title)
    pages = [
        (
            "1. PUMP STARTUP",
            [
                "Open the suction valve V-12 fully before starting pump P-101.",
                "",
                "Start the motor and watch the discharge pressure rise to 4.5 bar.",
            ],
        ),
        (
            "2. SHUTDOWN",
            ["Close the discharge valve slowly, then stop the motor of P-101."],
        ),
    ]
    for heading, lines in pages:
        y = 800.0
        pdf.setFont("Helvetica-Bold", 14)
        pdf.drawString(72, y, heading)
        y -= 30
        pdf.setFont("Helvetica", 11)
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16 if line else 24
        pdf.showPage()
    pdf.save()
    return path


# --- Markdown -----------------------------------------------------------------------------------

MARKDOWN = """\
# Pump P-101 Manual

Intro paragraph about the pump.

## Startup

Open valve V-12 before starting.
Keep the casing vented.

- Check oil level
- Check coupling guard
  (it must be closed)

| Step | Action |
|------|--------|
| 1 | Open V-12 |
| 2 | Start P-101 |

### Checks

```bash
# not a heading, a shell comment
systemctl status pump
```

## Shutdown

Stop the motor.
"""


def test_markdown_headings_paragraphs_lists_tables_and_code(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "manual.md", MARKDOWN), LIMIT)

    assert doc.title == "Pump P-101 Manual"
    assert doc.source == str(tmp_path / "manual.md")
    intro = _block_with(doc, "Intro paragraph")
    assert intro.heading_path == ("Pump P-101 Manual",)
    assert intro.page is None
    paragraph = _block_with(doc, "Open valve V-12")
    assert paragraph.text == "Open valve V-12 before starting. Keep the casing vented."
    assert paragraph.heading_path == ("Pump P-101 Manual", "Startup")
    listing = _block_with(doc, "Check oil level")
    assert "Check coupling guard" in listing.text and "(it must be closed)" in listing.text
    table = _block_with(doc, "Open V-12 |")
    assert "| 2 | Start P-101 |" in table.text and "----" not in table.text
    code = _block_with(doc, "systemctl status pump")
    assert "# not a heading" in code.text and "```" not in code.text
    assert code.heading_path == ("Pump P-101 Manual", "Startup", "Checks")
    assert _block_with(doc, "Stop the motor").heading_path == ("Pump P-101 Manual", "Shutdown")
    assert all("not a heading" not in part for path in _paths(doc) for part in path)


def test_markdown_without_hash_headings_gets_structure_from_numbering(tmp_path: Path) -> None:
    text = "Pump P-101 Lockout Rules\n\n(a) Scope —\n\n(1) General.\n\n(i) Rules apply.\n"
    doc = load_document(_write(tmp_path / "rules.md", text), LIMIT)

    assert doc.title == "Pump P-101 Lockout Rules"
    block = _block_with(doc, "Rules apply")
    assert block.heading_path == ("(a) Scope", "(1) General")


# --- Plain text ---------------------------------------------------------------------------------

PLAIN = """\
PUMP P-101 OPERATING MANUAL

SECTION 3 - MAINTENANCE

3.1 Daily checks
Check the oil level through the sight glass every shift.

Required tools:
Torque wrench and feeler gauge.

3.2 Weekly checks
Grease the bearings with two shots of EP2 grease.

NOTE:
Never grease a running pump.
"""


def test_plain_text_headings_are_detected(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "p101_manual.txt", PLAIN), LIMIT)

    assert doc.title == "PUMP P-101 OPERATING MANUAL"
    oil = _block_with(doc, "sight glass")
    assert oil.heading_path == ("SECTION 3 - MAINTENANCE", "3.1 Daily checks")
    tools = _block_with(doc, "Torque wrench")
    assert tools.heading_path == (
        "SECTION 3 - MAINTENANCE",
        "3.1 Daily checks",
        "Required tools",
    )
    grease = _block_with(doc, "EP2 grease")
    assert grease.heading_path == ("SECTION 3 - MAINTENANCE", "3.2 Weekly checks")
    note = _block_with(doc, "Never grease")
    assert note.text == "NOTE: Never grease a running pump."
    assert note.heading_path == grease.heading_path


def test_numbered_sentence_stays_a_paragraph_with_its_number(tmp_path: Path) -> None:
    text = (
        "Valve rules\n\n(a) Valves —\n\n"
        "(1) The operator shall close valve V-3 before opening the drain line.\n\n"
        "(2) Labels.\n\n(i) Every valve carries a tag.\n"
    )
    doc = load_document(_write(tmp_path / "valves.txt", text), LIMIT)

    sentence = _block_with(doc, "shall close valve V-3")
    assert sentence.text == (
        "(a) Valves —\n(1) The operator shall close valve V-3 before opening the drain line."
    )
    assert sentence.heading_path == ("(a) Valves",)
    assert _block_with(doc, "carries a tag").heading_path == ("(a) Valves", "(2) Labels")


def test_title_case_line_in_running_text_without_heading_is_kept_as_text(tmp_path: Path) -> None:
    text = "Shift notes\n\n(1) Pump Room.\n\n(2) Boiler House.\n"
    doc = load_document(_write(tmp_path / "notes.txt", text), LIMIT)

    assert [block.text for block in doc.blocks] == ["(1) Pump Room.", "(2) Boiler House."]


def test_log_lines_become_blocks(tmp_path: Path) -> None:
    text = "2024-05-01 06:00 P-101 started\n2024-05-01 06:05 P-101 pressure 4.4 bar\n"
    doc = load_document(_write(tmp_path / "pump_events.log", text), LIMIT)

    assert doc.title == "pump events"
    assert [block.text for block in doc.blocks] == text.splitlines()


def test_whitespace_is_collapsed(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "w.txt", "a sentence\twith   many    spaces.\n"), LIMIT)

    assert [block.text for block in doc.blocks] == ["a sentence with many spaces."]


def test_cp1252_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Maximum bearing temperature: 80 °C \u2013 see note.\n".encode("cp1252"))

    doc = load_document(path, LIMIT)

    assert "80 °C \u2013 see note" in doc.blocks[0].text


def test_utf8_bom_and_utf16_text_are_decoded(tmp_path: Path) -> None:
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfPressure limit 6 bar.\n")
    wide = tmp_path / "wide.txt"
    wide.write_bytes("Flow limit 12 m³/h.\n".encode("utf-16"))

    assert load_document(bom, LIMIT).blocks[0].text == "Pressure limit 6 bar."
    assert load_document(wide, LIMIT).blocks[0].text == "Flow limit 12 m³/h."


# --- PDF ----------------------------------------------------------------------------------------


def test_pdf_pages_headings_and_metadata_title(tmp_path: Path) -> None:
    doc = load_document(_make_pdf(tmp_path / "manual.pdf", title="Pump P-101 Manual"), LIMIT)

    assert doc.title == "Pump P-101 Manual"
    start = _block_with(doc, "watch the discharge pressure")
    assert start.page == 1
    assert start.heading_path == ("1. PUMP STARTUP",)
    stop = _block_with(doc, "Close the discharge valve slowly")
    assert stop.page == 2
    assert stop.heading_path == ("2. SHUTDOWN",)
    assert {block.page for block in doc.blocks} == {1, 2}


def test_pdf_without_metadata_title_uses_the_file_stem(tmp_path: Path) -> None:
    doc = load_document(_make_pdf(tmp_path / "pump_p-101_manual.pdf"), LIMIT)

    assert doc.title == "pump p 101 manual"


def test_pdf_encrypted_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = tmp_path / "open.pdf"
    lock = pdfencrypt.StandardEncryption("", ownerPassword="owner")
    pdf = canvas.Canvas(str(path), encrypt=lock)
    pdf.drawString(72, 700, "Readable without a password.")
    pdf.save()

    assert load_document(path, LIMIT).blocks[0].text == "Readable without a password."


def test_pdf_needing_a_password_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.pdf"
    pdf = canvas.Canvas(str(path), encrypt="secret")
    pdf.drawString(72, 700, "Hidden text.")
    pdf.save()

    assert "encrypted PDF" in _reason(path)


def test_pdf_with_only_images_is_refused_as_scanned(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.rect(100, 100, 200, 200, fill=1)
    pdf.save()

    assert _reason(path) == "no extractable text (scanned PDF?)"


def test_pdf_of_random_bytes_is_refused_as_corrupt(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(4000)
    path = tmp_path / "noise.pdf"
    path.write_bytes(b"%PDF-1.4\n" + noise)

    assert _reason(path).startswith("corrupt or unreadable PDF: ")


def test_truncated_pdf_is_refused_as_corrupt(tmp_path: Path) -> None:
    whole = _make_pdf(tmp_path / "whole.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(whole[: len(whole) // 2])

    assert _reason(path).startswith("corrupt or unreadable PDF: ")


# --- DOCX ---------------------------------------------------------------------------------------


def _make_docx(path: Path, *, core_title: str = "") -> Path:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_heading("Boiler B-2 Procedures", level=0)
    document.add_paragraph("General introduction to the boiler.")
    document.add_heading("Startup", level=1)
    document.add_paragraph("Purge the furnace for five minutes.")
    document.add_heading("Limits", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, (name, value) in zip(
        table.rows, [("Tag", "Limit"), ("PT-201", "12 bar"), ("TT-202", "180 °C")], strict=True
    ):
        row.cells[0].text = name
        row.cells[1].text = value
    document.add_heading("Shutdown", level=1)
    document.add_paragraph("Close the fuel valve first.")
    document.save(str(path))
    return path


def test_docx_headings_drive_paths_and_tables_become_rows(tmp_path: Path) -> None:
    doc = load_document(_make_docx(tmp_path / "boiler.docx"), LIMIT)

    assert doc.title == "Boiler B-2 Procedures"
    root = "Boiler B-2 Procedures"
    assert _block_with(doc, "General introduction").heading_path == (root,)
    assert _block_with(doc, "Purge the furnace").heading_path == (root, "Startup")
    table = _block_with(doc, "PT-201")
    assert table.text == "Tag | Limit\nPT-201 | 12 bar\nTT-202 | 180 °C"
    assert table.heading_path == (root, "Startup", "Limits")
    assert _block_with(doc, "fuel valve").heading_path == (root, "Shutdown")


def test_docx_core_title_wins(tmp_path: Path) -> None:
    doc = load_document(_make_docx(tmp_path / "b.docx", core_title="Boiler Book"), LIMIT)

    assert doc.title == "Boiler Book"


def test_docx_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")

    assert _reason(path).startswith("corrupt or unreadable DOCX: ")


def test_docx_zip_without_a_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hollow.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "nothing here")

    assert _reason(path).startswith("corrupt or unreadable DOCX: ")


def test_docx_with_broken_xml_is_refused_with_the_parser_error(tmp_path: Path) -> None:
    good = _make_docx(tmp_path / "good.docx")
    path = tmp_path / "garbled.docx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            body = source.read(name)
            target.writestr(name, b"<w:document garbage" if name == "word/document.xml" else body)

    assert _reason(path).startswith("corrupt or unreadable DOCX: XMLSyntaxError: ")


# --- HTML ---------------------------------------------------------------------------------------

HTML = """\
<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html><head><title>Compressor C-7 Guide</title><style>p { color: red }</style></head>
<body>
<nav>Home | Products | Contact</nav>
<h1>Compressor C-7</h1>
<p>The compressor feeds the <b>instrument air</b> header.</p>
<!-- a comment that must not show -->
<h2>Alarms</h2>
<ul><li>High discharge temperature<ul><li>Trip at 110 °C</li></ul></li><li>Low oil</li></ul>
<table><tr><th>Tag</th><th>Limit</th></tr><tr><td>TT-701</td><td>110 °C</td></tr></table>
<pre>alarm  reset
  --force</pre>
<div>Loose text in a div.</div>
<script>var secret = "do not index";</script>
<footer>Copyright ACME</footer>
</body></html>
"""


def test_html_blocks_headings_lists_and_tables(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "c7.html", HTML), LIMIT)

    assert doc.title == "Compressor C-7 Guide"
    feed = _block_with(doc, "instrument air")
    assert feed.text == "The compressor feeds the instrument air header."
    assert feed.heading_path == ("Compressor C-7",)
    assert _block_with(doc, "High discharge").text == "High discharge temperature"
    trip = _block_with(doc, "Trip at 110")
    assert trip.heading_path == ("Compressor C-7", "Alarms")
    assert _block_with(doc, "TT-701").text == "Tag | Limit\nTT-701 | 110 °C"
    assert _block_with(doc, "alarm reset").text == "alarm reset\n--force"
    assert _block_with(doc, "Loose text").heading_path == ("Compressor C-7", "Alarms")
    everything = "\n".join(block.text for block in doc.blocks)
    for dropped in ("Products", "secret", "Copyright", "comment", "color"):
        assert dropped not in everything


def test_html_nested_table_rows_are_not_repeated(tmp_path: Path) -> None:
    page = (
        "<table><tr><td>Pump</td><td><table><tr><td>P-1</td><td>P-2</td></tr></table></td></tr>"
        "<tr><td>Fan</td><td>F-9</td></tr></table>"
    )
    doc = load_document(_write(tmp_path / "nested.html", page), LIMIT)

    assert [block.text for block in doc.blocks] == ["Pump | P-1 P-2\nFan | F-9"]


def test_html_without_tags_is_read_as_text(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "plain.html", "see manual.txt"), LIMIT)

    assert [block.text for block in doc.blocks] == ["see manual.txt"]


def test_html_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    page = "<html><body><h1>Chiller CH-1</h1><p>Keep the condenser clean.</p></body></html>"
    doc = load_document(_write(tmp_path / "chiller.htm", page), LIMIT)

    assert doc.title == "Chiller CH-1"


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_with_semicolons_renders_self_contained_rows(tmp_path: Path) -> None:
    rows = ["tag;description;limit"] + [f"P-{n};Pump {n};{n},5 bar" for n in range(100, 112)]
    doc = load_document(_write(tmp_path / "pump_limits.csv", "\n".join(rows) + "\n"), LIMIT)

    assert doc.title == "pump limits"
    assert len(doc.blocks) == 2
    first = doc.blocks[0].text.splitlines()
    assert len(first) == 10
    assert first[0] == "tag: P-100; description: Pump 100; limit: 100,5 bar"
    assert (
        doc.blocks[1].text.splitlines()[-1] == "tag: P-111; description: Pump 111; limit: 111,5 bar"
    )
    assert {block.heading_path for block in doc.blocks} == {("pump limits",)}


def test_csv_with_commas_and_ragged_rows(tmp_path: Path) -> None:
    text = 'tag,unit\nTT-1,°C,"extra, quoted"\nPT-2\n,bar\n\n'
    doc = load_document(_write(tmp_path / "tags.csv", text), LIMIT)

    assert doc.blocks[0].text.splitlines() == [
        "tag: TT-1; unit: °C; column 3: extra, quoted",
        "tag: PT-2",
        "unit: bar",
    ]


def test_csv_with_only_a_header_is_empty(tmp_path: Path) -> None:
    assert _reason(_write(tmp_path / "header.csv", "tag,unit\n")) == "empty: no text to index"


# --- Refusals -----------------------------------------------------------------------------------


def test_unsupported_suffix_is_refused_with_the_supported_list(tmp_path: Path) -> None:
    reason = _reason(_write(tmp_path / "drawing.xyz", "text"))

    assert reason.startswith("unsupported file type '.xyz' (supported: ")
    assert all(suffix in reason for suffix in SUPPORTED_SUFFIXES)
    assert _reason(_write(tmp_path / "Makefile", "all:")).startswith(
        "unsupported file type (no file suffix)"
    )


def test_empty_and_blank_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")

    assert _reason(empty) == "empty: no text to index"
    assert _reason(_write(tmp_path / "blank.md", "  \n\n\t\n")) == "empty: no text to index"
    assert _reason(_write(tmp_path / "bare.html", "<html><body> </body></html>")) == (
        "empty: no text to index"
    )


def test_file_over_the_limit_is_refused_with_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 200 * 1024))

    assert _reason(path, max_bytes=2 * 1024 * 1024) == "too large: 3.2 MB, limit is 2.0 MB"


def test_binary_content_in_a_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "firmware.txt"
    path.write_bytes(b"ELF\x00\x01\x02" + bytes(range(256)))

    assert _reason(path) == "binary content, not text"


def test_control_characters_without_nul_are_refused_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "blob.log"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 20)

    assert _reason(path) == "binary content, not text"


def test_undecodable_text_is_refused(tmp_path: Path) -> None:
    surrogate = tmp_path / "broken_utf16.txt"
    surrogate.write_bytes(b"\xff\xfe\x00\xd8\x41\x00")
    noise = tmp_path / "noise.md"
    noise.write_bytes(b"Pump \x81\x8d\x8f\x90\x9d data")
    mojibake = tmp_path / "latin.txt"
    mojibake.write_bytes(bytes(range(0xC0, 0xFF)) * 3)

    assert _reason(surrogate).startswith("cannot decode as UTF-8 text")
    assert _reason(noise) == "cannot decode as UTF-8 text"
    assert _reason(mojibake) == "cannot decode as UTF-8 text"


def test_unreadable_path_is_refused_with_the_os_reason(tmp_path: Path) -> None:
    assert _reason(tmp_path / "missing.md") == "cannot read file: No such file or directory"
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert _reason(folder) == "cannot read file: Is a directory"


# --- OSHA 29 CFR 1910.147 -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def osha() -> LoadedDocument:
    assert OSHA.is_file(), f"the shared OSHA document is missing: {OSHA}"
    return load_document(OSHA, 50 * 1024 * 1024)


def test_osha_title_is_the_first_line(osha: LoadedDocument) -> None:
    assert osha.title == "§ 1910.147 The control of hazardous energy (lockout/tagout)"
    assert all("§ 1910.147 The control" not in block.text for block in osha.blocks)


def test_osha_legal_numbering_becomes_heading_paths(osha: LoadedDocument) -> None:
    paths = _paths(osha)
    tops = {path[0] for path in paths if path}
    assert {
        "(a) Scope, application, and purpose",
        "(b) Definitions applicable to this section",
        "(c) General",
        "(d) Application of control",
        "(e) Release from lockout or tagout",
        "(f) Additional requirements",
        "Appendix A to § 1910.147—Typical Minimal Lockout Procedure",
    } <= tops
    assert ("(a) Scope, application, and purpose", "(1) Scope") in paths
    assert ("(c) General", "(6) Periodic inspection") in paths
    assert (
        "(c) General",
        "(5) Protective materials and hardware",
        "(C) Substantial",
        "(1) Lockout devices",
    ) in paths


def test_osha_paragraphs_keep_their_numbers_and_sit_under_the_right_heading(
    osha: LoadedDocument,
) -> None:
    annual = _block_with(osha, "at least annually")
    heading_line, paragraph = annual.text.split("\n")
    assert heading_line == "(6) Periodic inspection."
    assert paragraph.startswith("(i) The employer shall conduct a periodic inspection")
    assert annual.heading_path == ("(c) General", "(6) Periodic inspection")
    removal = _block_with(osha, "by the employee who applied the device")
    assert removal.heading_path == (
        "(e) Release from lockout or tagout",
        "(3) Lockout or tagout devices removal",
    )
    # a sibling paragraph closes the deeper heading (D) Identifiable above it
    warn = _block_with(osha, "Tagout devices shall warn against hazardous conditions")
    assert warn.heading_path == ("(c) General", "(5) Protective materials and hardware")
    # a short numbered line with nothing under it stays text, not an empty heading
    oil = _block_with(osha, "Oil and gas well drilling")
    assert oil.heading_path == ("(a) Scope, application, and purpose", "(1) Scope")
    note = _block_with(osha, "Minor tool changes")
    assert note.text.startswith("Note: Exception to paragraph (a)(2)(ii)")


def test_osha_keeps_every_line_of_the_source(osha: LoadedDocument) -> None:
    text = " ".join(" ".join(block.text.split()) for block in osha.blocks)
    for line in OSHA.read_text(encoding="utf-8").splitlines()[1:]:
        assert " ".join(line.split()) in text


# Document bombs: refused from the container's tables, before any content is parsed


def _refusal(path: Path, limits: DocumentLimits | None = None) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        check_document(path, 50 << 20, limits)
    with pytest.raises(DocumentError) as loading:
        load_document(path, 50 << 20, limits)
    assert (loading.value.code, loading.value.reason) == (caught.value.code, caught.value.reason)
    return caught.value


def test_a_docx_bomb_is_refused_by_its_packing_ratio(tmp_path: Path) -> None:
    bomb = write_docx_bomb(tmp_path / "bomb.docx", unpacked_mb=20)
    assert bomb.stat().st_size < 200_000  # 20 MB of XML in well under 1 %
    refused = _refusal(bomb)
    assert refused.code == "zip_bomb"
    assert "word/document.xml" in refused.reason
    assert "knowledge.max_compression_ratio" in refused.reason


def test_a_docx_that_unpacks_too_large_is_refused(tmp_path: Path) -> None:
    bomb = write_docx_bomb(tmp_path / "bomb.docx", unpacked_mb=20)
    refused = _refusal(bomb, DocumentLimits(max_unpacked_bytes=10 << 20, max_ratio=1e6))
    assert refused.code == "too_large_unpacked"
    assert "10.0 MB" in refused.reason and "knowledge.max_uncompressed_mb" in refused.reason


def test_an_ordinary_docx_passes_the_bomb_checks(tmp_path: Path) -> None:
    path = tmp_path / "manual.docx"
    document = docx.Document()
    for n in range(2000):  # about 1.5 MB of repetitive XML: packs well, but not like a bomb
        document.add_paragraph(f"Step {n}: check the seal of pump P-{n % 9} for leaks.")
    document.save(str(path))
    check_document(path, LIMIT * 10)
    loaded = load_document(path, LIMIT * 10)
    assert "Step 1999" in loaded.blocks[-1].text


def test_a_pdf_over_the_page_limit_is_refused_from_its_page_tree(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "ten-thousand.pdf", 10_000)
    refused = _refusal(pdf)
    assert refused.code == "too_many_pages"
    assert refused.reason == "refused: 10000 pages, limit is 2000 (knowledge.max_pages)"
    check_document(pdf, 50 << 20, DocumentLimits(max_pages=10_000))


def test_a_pdf_that_under_declares_its_pages_is_counted(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "liar.pdf", 3000, declared=1)
    assert _refusal(pdf).reason.startswith("refused: 3000 pages")


def test_a_pdf_within_the_page_limit_loads_every_page(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "short.pdf", 5)
    loaded = load_document(pdf, LIMIT, DocumentLimits(max_pages=5))
    assert [b.page for b in loaded.blocks] == [1, 2, 3, 4, 5]
    assert "Page 5: check pump P-5." in loaded.blocks[-1].text
