"""What code reads from documents for a draft: troubleshooting rows, procedures and their
stated time, isolation steps, evidence listed once. Chunks are built from document text the
way ingestion stores them (a table's header repeated in each of its chunks)."""

from __future__ import annotations

import pytest

from assistant.domain import Chunk, TelemetryEvent
from assistant.plant import AssetSpec, load_plant
from assistant.workorders.evidence import unique_documents, with_cause
from assistant.workorders.model import DocumentEvidence
from assistant.workorders.procedure import find_procedure, stated_duration
from assistant.workorders.safety import is_isolation_step
from assistant.workorders.troubleshooting import (
    Symptom,
    document_rows,
    draft_title,
    match_row,
    troubleshooting_rows,
)
from tests.assistant.workorders.helpers import PLANT_FILE

PLANT = load_plant(PLANT_FILE)
TITLE = "Booster Pumps P-101 / P-102 Manual"


def asset(asset_id: str) -> AssetSpec:
    spec = PLANT.asset(asset_id)
    assert spec is not None
    return spec


def symptom(asset_id: str, tag: str, level: str, value: float | None = None) -> Symptom:
    spec = asset(asset_id).tag(tag)
    assert spec is not None
    return Symptom(asset(asset_id), spec, level, value)


def chunk(text: str, section: str = f"{TITLE} > 9. Faults", n: int = 0) -> Chunk:
    return Chunk(f"doc:{n}", "manual.md", TITLE, section, None, text)


MARKDOWN = chunk(
    "The table applies to both pumps.\n\n"
    "| Symptom | Likely causes | Checks |\n"
    "|---|---|---|\n"
    "| High bearing temperature (`bearing_temp` above 85 °C alarm) | Over-greasing; "
    "lack of grease | Time since last regrease |\n"
    "| Low flow (`flow` below 110 m3/h) | Discharge valve closed | Valve positions |\n"
    "| Low flow with clogged strainer (`flow` below 200 m3/h and strainer "
    "`differential_pressure` above 0.35 bar) | Debris load | Strainer `differential_pressure` |\n"
    "| Vibration on the other pump (`P-102.vibration` above 4.5 mm/s) | Misalignment | - |"
)


def test_a_row_matches_the_alarm_tag_its_direction_and_its_threshold() -> None:
    rows = troubleshooting_rows(MARKDOWN)
    assert [r.cause for r in rows] == [
        "Over-greasing; lack of grease",
        "Discharge valve closed",
        "Debris load",
        "Misalignment",
    ]
    hot = match_row(symptom("P-101", "bearing_temp", "hi", 86.0), rows)
    assert hot is not None and hot.cause == "Over-greasing; lack of grease"
    assert match_row(symptom("P-101", "bearing_temp", "lo", 30.0), rows) is None  # "above"
    # 150 m3/h is below 200 but not below 110: the strainer row, not the closed valve
    low = match_row(symptom("P-101", "flow", "lo", 150.0), rows)
    assert low is not None and low.cause == "Debris load"
    closed = match_row(symptom("P-101", "flow", "lolo", 100.0), rows)
    assert closed is not None and closed.cause == "Discharge valve closed"
    strainer = match_row(symptom("ST-101", "differential_pressure", "hi", 0.36), rows)
    assert strainer is not None and strainer.cause == "Debris load"
    # a tag named with another asset's prefix is that asset's
    assert match_row(symptom("P-101", "vibration", "hi", 5.0), rows) is None
    other = match_row(symptom("P-102", "vibration", "hi", 5.0), rows)
    assert other is not None and other.cause == "Misalignment"
    # the checks column names the strainer tag too, but only the symptom cell counts
    assert match_row(symptom("ST-101", "differential_pressure", "lo", 0.01), rows) is None


def test_tables_in_words_and_without_pipes_at_the_edges_are_found() -> None:
    docx = chunk(
        "Problem | Possible reason | Remedy\n"
        "Bearing temperature high | Wrong grease | Regrease\n"
        "Motor current too low | Dry running | Stop"
    )
    rows = troubleshooting_rows(docx)
    assert [(r.symptom, r.cause) for r in rows] == [
        ("Bearing temperature high", "Wrong grease"),
        ("Motor current too low", "Dry running"),
    ]
    row = match_row(symptom("P-101", "bearing_temp", "hi", 90.0), rows)
    assert row is not None and row.cause == "Wrong grease"
    no_cause = chunk("| Condition | Tag | Alarm |\n|---|---|---|\n| High temp | `oil_temp` | 70 |")
    assert troubleshooting_rows(no_cause) == []


def test_rows_count_only_in_documents_about_the_asset() -> None:
    pumps = [chunk("Applies to pumps P-101 and P-102 and strainer ST-101.", TITLE), MARKDOWN]
    assert document_rows(pumps, asset("ST-101"))
    assert document_rows(pumps, asset("C-3")) == []


def test_the_title_names_the_asset_and_the_symptom_never_a_reading() -> None:
    rows = troubleshooting_rows(MARKDOWN)
    event = TelemetryEvent(
        "e1", "ST-101", "differential_pressure", "limit", "hi", "raised", 1.0e9, 0.3514,
        "ST-101 differential_pressure 0.3514 bar above hi limit 0.35 bar",
    )  # fmt: skip
    strainer = symptom("ST-101", "differential_pressure", "hi", 0.3514)
    row = match_row(strainer, rows)
    title = draft_title(asset("ST-101"), event, strainer, row, None)
    assert title == "ST-101: Low flow with clogged strainer (differential pressure high)"
    assert draft_title(asset("ST-101"), event, strainer, None, None) == (
        "ST-101: Differential pressure high alarm"
    )
    hot = symptom("P-101", "bearing_temp", "hihi", 96.0)
    hot_row = match_row(hot, rows)
    assert draft_title(asset("P-101"), None, hot, hot_row, None) == (
        "P-101: High bearing temperature (high-high alarm)"
    )
    assert draft_title(asset("C-3"), None, None, None, "Change the C-3 oil") == (
        "C-3: Change the C-3 oil"
    )


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("Up to 5 drops a minute is fine. Estimated time: 6\u20138 hours for two technicians.", 8),
        ("Time required: 45 min, one technician", 0.75),
        ("Estimated duration 1.5 h", 1.5),
        ("Duration: about 2 to 3 hours", 3),
        ("Keep the valve open for the duration of the test (2 hours).", None),
        ("The basket weighs 22 kg and holds about 12 litres of debris.", None),
    ],
)
def test_a_stated_duration_is_read_never_guessed(text: str, hours: float | None) -> None:
    assert stated_duration(text) == hours


def test_a_procedure_is_its_section_whole_with_the_time_its_parent_states() -> None:
    seal = f"{TITLE} > 6. Seal Replacement"
    document = [
        chunk(
            "Replace the seal when it leaks. Estimated time: 6\u20138 hours.", f"{seal} > 6.1", 0
        ),
        chunk("1. Change over.\n2. Lock out the pump.\n3. Drain it.", f"{seal} > 6.2 Prepare", 1),
        chunk("4. Remove the guard.\n5. Fit the seal.", f"{seal} > 6.3 Fitting", 2),
        chunk("1. Close V-1.\n2. Open V-2.\n3. Vent.", f"{TITLE} > 7. Strainer > 7.1 Steps", 3),
    ]
    procedure = find_procedure([document[1]], lambda source: document)
    assert procedure is not None and procedure.section == seal
    assert procedure.steps == (
        "Change over.",
        "Lock out the pump.",
        "Drain it.",
        "Remove the guard.",
        "Fit the seal.",
    )
    assert procedure.duration_h == 8
    strainer = find_procedure([document[3]], lambda source: document)
    assert strainer is not None and strainer.steps == ("Close V-1.", "Open V-2.", "Vent.")
    assert strainer.duration_h is None


def test_isolation_steps_are_told_from_steps_that_release_or_assume_a_lock() -> None:
    assert is_isolation_step(
        "Isolate the pump: close and lock the suction valve (V-101A / V-102A) and the discharge "
        "valve (V-101B / V-102B), and lock out the motor at MCC-1 (cubicle 4B for M-101)."
    )
    assert is_isolation_step("Lock out the pump according to RWW-LOTO-P101 (P-101).")
    assert is_isolation_step("Stop C-3 with the STOP key and lock out MCC-1 cubicle 2C.")
    assert not is_isolation_step("Release the lockout, return the pump to standby.")
    assert not is_isolation_step("Confirm no lockout is in place on the pump.")
    assert not is_isolation_step("Turn the shaft by hand (only with the motor locked out).")
    assert not is_isolation_step("Remove the 8 x M16 cover bolts.")


def _line(chunk_id: str, excerpt: str, source: str = "manual.md") -> DocumentEvidence:
    return DocumentEvidence(
        source=source, section="9. Faults", page=None, chunk_id=chunk_id, excerpt=excerpt
    )


def test_evidence_lines_are_listed_once_and_the_cause_row_is_kept() -> None:
    lines = [
        _line("a", "Clean the strainer."),
        _line("a", "Clean the strainer."),
        _line("b", "Clean  the strainer."),  # the same text, ingested twice
        _line("c", "Vent the casing."),
    ]
    assert [d.chunk_id for d in unique_documents(lines)] == ["a", "c"]
    cause = _line("c", "Low flow: Likely causes debris load")
    assert [d.excerpt for d in with_cause(lines, cause, 0, 5)] == [
        "Low flow: Likely causes debris load",
        "Clean the strainer.",
    ]
    kept = with_cause([_line(str(n), f"passage {n}") for n in range(5)], _line("x", "row"), 5, 3)
    assert [d.chunk_id for d in kept] == ["0", "1", "x"]
