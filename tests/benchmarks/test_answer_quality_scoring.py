"""The scoring helpers of benchmarks/answer_quality.py, and the question sets they score."""

from __future__ import annotations

import pytest

from benchmarks.answer_quality import SET_FILES, load_set
from benchmarks.quality_scoring import (
    figures,
    missing_facts,
    normalise,
    says_not_covered,
    states,
    strip_labels,
    unsupported_figures,
)

ANSWER = (
    "Grease the pump-end bearing with 17 g and the coupling-end pair with 35 g "
    "(17.5 g per bearing) every 2,000 running hours [D1]. Isolate at MCC-1 cubicle 4B and "
    "lock V-101B [D2, D3].\n"
    "1. Close V-101A fully.\n"
    "2. Read the gauge: 0.30 bar."
)


def test_normalise_folds_case_space_dashes_quotes_and_markup() -> None:
    assert normalise("  3\u20134 Minutes\n\u201cDANGER\u201d  `P-101.flow` **now** ") == (
        '3-4 minutes "danger" p-101.flow now'
    )


def test_strip_labels_removes_single_and_grouped_citations() -> None:
    assert strip_labels("17 g [D1] and 35 g [D2, T3].").split() == [
        "17",
        "g",
        "and",
        "35",
        "g",
        ".",
    ]


def test_a_fact_is_stated_by_any_alternative_after_normalising() -> None:
    assert states("Drains in 3\u20134 minutes [D1].", ["3 to 4 minutes", "3-4 minutes"])
    assert states("Torque to 180 N\u00b7m.", ["180 Nm", "180 N\u00b7m"])
    assert not states("Torque to 180 N\u00b7m.", ["180 Nm"])


def test_a_fact_matches_on_number_and_word_boundaries() -> None:
    assert not states("Use 117 g.", ["17 g"])
    assert not states("Alarm at 0.5 bar.", ["5 bar"])
    assert not states("About 1,500 h.", ["500 h"])
    assert not states("Use 17 gal.", ["17 g"])
    assert not states("It was required.", ["red"])
    assert states("Use 17 g, then 35 g.", ["17 g"])


def test_missing_facts_lists_the_groups_not_stated() -> None:
    required = [["17 g"], ["35 g"], ["4,000 h", "4000 h"], ["0.3 bar", "0.30 bar"]]
    assert missing_facts(ANSWER, required) == [["4,000 h", "4000 h"]]
    assert missing_facts(ANSWER, []) == []


def test_figures_reads_numbers_and_ids_but_not_labels_or_list_markers() -> None:
    assert figures(ANSWER) == [
        "MCC-1",
        "4B",
        "V-101B",
        "V-101A",
        "17",
        "35",
        "17.5",
        "2000",
        "0.3",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.8\u20134.6 bar", ["3.8", "4.6"]),
        ("at 06:00 on Monday", ["6", "0"]),
        ("17,5 g", ["17.5"]),
        ("ISO 10816-3 zone C", ["10816", "3"]),
        ("6311-C3 bearing, WO26-0047, RWW-LOTO-P101", ["6311-C3", "WO26-0047", "RWW-LOTO-P101"]),
        ("flow in m3/h and 1x running speed", ["1"]),
        ("The limit is 6. Then stop.", ["6"]),
        ("no figures here", []),
    ],
)
def test_figures_edge_cases(text: str, expected: list[str]) -> None:
    assert figures(text) == expected


def test_unsupported_figures_checks_quotes_question_and_telemetry() -> None:
    quotes = ["Pump-end 6311-C3 | 17 g | Every 2,000 running hours", "cubicle 4B, V-101B, MCC-1"]
    unsupported = unsupported_figures(ANSWER, quotes, ignore=["Lock V-101A?", "[T1] 0.30 bar"])
    assert unsupported == ["35", "17.5"]
    assert unsupported_figures("Use 2000 h and 0.3 bar.", ["2,000 h at 0.30 bar"]) == []
    assert unsupported_figures("Lock P-101.", ["P-102 only"]) == ["P-101"]
    assert unsupported_figures("The documents do not cover this.", []) == []


def test_says_not_covered_recognises_common_refusals() -> None:
    assert says_not_covered("The passages do not mention a boiler.")
    assert says_not_covered("I can\u2019t find that in the documents.")
    assert says_not_covered("There is no information about feedwater pH.")
    assert not says_not_covered("Grease with 17 g every 2,000 running hours.")
    assert not says_not_covered("Use 17 g. The passages do not mention the motor bearings.")


@pytest.mark.parametrize("name", sorted(SET_FILES))
def test_question_sets_are_checkable_against_their_sources(name: str) -> None:
    qs = load_set(SET_FILES[name])
    answerable = [q for q in qs.questions if not q.expect_not_covered]
    not_covered = [q for q in qs.questions if q.expect_not_covered]
    assert len(qs.questions) >= {"plant": 45, "osha": 22}[name]
    assert len(not_covered) >= 5
    assert sum(q.kind == "procedure" for q in answerable) >= 3
    assert all(p.exists() for p in qs.ingest)
    for q in answerable:
        source = qs.folder / q.source
        assert source.is_file(), f"{q.id}: no source {source}"
        text = source.read_text(encoding="utf-8")
        for alternatives in q.required:
            assert states(text, alternatives), f"{q.id}: {alternatives} not in {q.source}"
            assert not states(q.question, alternatives), f"{q.id}: the question gives it away"
        assert q.section.strip(), f"{q.id}: no section"
