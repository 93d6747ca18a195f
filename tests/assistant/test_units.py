"""Answer units: sentences, list items and steps, table rows, from real loaded documents."""

from __future__ import annotations

import re
from pathlib import Path

import docx
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from assistant.domain import Chunk
from assistant.knowledge.chunking import chunk_document
from assistant.knowledge.sentences import split_sentences
from assistant.knowledge.units import chunk_units, render_row
from assistant.settings import DEFAULT_ASSET_PATTERN
from connectors.documents import load_document
from tests.conftest import SAMPLE_PLANT

MANUAL = SAMPLE_PLANT / "pump-p101-p102-om-manual.md"
LIMIT = 50 * 1024 * 1024
PATTERN = re.compile(DEFAULT_ASSET_PATTERN)


def _chunks(path: Path, chars: int = 900) -> list[Chunk]:
    return chunk_document(load_document(path, LIMIT), "k", "0" * 64, chars, PATTERN)


def _section(chunks: list[Chunk], heading: str) -> list[Chunk]:
    return [c for c in chunks if c.section.endswith(heading)]


def test_one_splitter_keeps_abbreviations_decimals_and_list_numbers() -> None:
    text = "Set approx. 3 bar at the inlet, e.g. with V-1. Then wait 2.5 min. Check it. 8. Close."
    assert split_sentences(text) == [
        "Set approx. 3 bar at the inlet, e.g. with V-1.",
        "Then wait 2.5 min. Check it.",
        "8. Close.",
    ]


def test_every_unit_span_is_exact_text_of_its_chunk() -> None:
    for chunk in _chunks(MANUAL):
        for unit in chunk_units(chunk):
            assert 0 <= unit.start < unit.end <= len(chunk.text)
            span = chunk.text[unit.start : unit.end]
            if unit.kind == "sentence":
                assert span == unit.text
            elif unit.kind in ("step", "item"):
                assert " ".join(span.split()).endswith(unit.text)


def test_markdown_numbered_list_gives_steps_in_order_even_across_chunks() -> None:
    chunks = _section(_chunks(MANUAL), "7.3 Cleaning steps")
    steps = [u for c in chunks for u in chunk_units(c) if u.kind == "step"]
    assert [u.marker for u in steps] == [f"{n}." for n in range(1, 11)]
    assert steps[6].text == (
        "Refit the basket so it seats fully in its locating ring, refit the cover and torque "
        "the bolts to 120 N·m in a crossing pattern."
    )
    assert len(chunks) >= 1


def test_bullets_keep_the_lists_lead_in() -> None:
    chunk = _section(_chunks(MANUAL), "4.1 Daily (operator rounds)")[0]
    items = [u for u in chunk_units(chunk) if u.kind == "item"]
    assert len(items) == 5
    assert items[1].text.startswith("Record ST-101 and ST-102 `differential_pressure`.")
    assert items[0].lead == (
        "Daily checks on P-101 and P-102 are part of the operator rounds of the pump hall."
    )


def test_markdown_table_rows_are_rendered_with_their_header() -> None:
    chunk = _section(_chunks(MANUAL), "5.2 Pump bearing grease quantities and interval")[0]
    rows = [u for u in chunk_units(chunk) if u.kind == "row"]
    assert [r.text for r in rows] == [
        "Pump-end 6311-C3: Quantity per regrease 17 g; Interval every 2,000 running hours or "
        "3 months",
        "Coupling-end pair 7311 BECBM: Quantity per regrease 35 g (17.5 g per bearing); "
        "Interval every 2,000 running hours or 3 months",
    ]
    assert chunk.text[rows[0].start : rows[0].end].startswith("| Pump-end 6311-C3 | 17 g |")
    assert rows[0].lead == "Bearing | Quantity per regrease | Interval"


def test_a_long_table_split_by_chunking_repeats_its_header() -> None:
    chunks = _section(_chunks(MANUAL, chars=400), "9.1 Troubleshooting table")
    tables = [c for c in chunks if "|" in c.text]
    assert len(tables) >= 3
    for chunk in tables:
        rows = [u for u in chunk_units(chunk) if u.kind == "row"]
        assert rows and all("Likely causes" in r.text for r in rows), chunk.text[:80]


def test_empty_cells_are_left_out_of_a_rendered_row() -> None:
    header = ["Tag", "Normal", "Low", "High"]
    assert render_row(header, ["flow", "260 m3/h", "—", "400 m3/h"]) == (
        "flow: Normal 260 m3/h; High 400 m3/h"
    )


def test_docx_table_rows_and_paragraphs(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Boiler B-2", level=0)
    document.add_heading("Limits", level=1)
    document.add_paragraph("The limits below apply at full load. Do not exceed them.")
    table = document.add_table(rows=3, cols=3)
    cells = [("Tag", "Alarm", "Trip"), ("PT-201", "12 bar", "14 bar"), ("TT-202", "180 °C", "")]
    for row, values in zip(table.rows, cells, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    path = tmp_path / "boiler.docx"
    document.save(str(path))

    units = [u for c in _chunks(path) for u in chunk_units(c)]
    assert [u.text for u in units if u.kind == "sentence"] == [
        "The limits below apply at full load.",
        "Do not exceed them.",
    ]
    assert [u.text for u in units if u.kind == "row"] == [
        "PT-201: Alarm 12 bar; Trip 14 bar",
        "TT-202: Alarm 180 °C",
    ]


def test_pdf_inline_numbered_steps_become_steps(tmp_path: Path) -> None:
    path = tmp_path / "sop.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    lines = [
        "Valve XV-7 isolation",
        "To isolate the line follow these steps. 1. Close valve XV-7 fully. 2. Fit the",
        "chain lock to XV-7. 3. Open drain DV-7 and confirm 0 bar on PG-7.",
        "The line is then safe to open.",
    ]
    y = 800
    for line in lines:
        pdf.drawString(60, y, line)
        y -= 16
    pdf.save()

    units = [u for c in _chunks(path) for u in chunk_units(c)]
    steps = [u for u in units if u.kind == "step"]
    assert [s.marker for s in steps] == ["1.", "2.", "3."]
    assert steps[0].text == "Close valve XV-7 fully."
    assert steps[1].text == "Fit the chain lock to XV-7."
    assert steps[2].text.startswith("Open drain DV-7 and confirm 0 bar on PG-7.")
    assert steps[0].lead.endswith("To isolate the line follow these steps.")
