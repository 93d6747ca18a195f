"""The counted redaction suite: every planted case caught exactly, every clean plant text kept.

The cases are in ``tests/sync/redaction_cases.py``; ``python -m tests.sync.redaction_cases``
prints the same score line as ``test_score_line`` (run pytest with ``-s`` to see it here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from assistant.settings import SyncSettings
from assistant.sync.redact import KINDS, RedactionReport, Redactor
from tests.sync.redaction_cases import CLEAN, PLANTED, ROSTER, redactor, score

MIN_PLANTED = 60
MIN_CLEAN = 40


@pytest.fixture(scope="module")
def subject() -> Redactor:
    return redactor()


def test_the_suite_is_big_enough_and_covers_every_kind() -> None:
    planted = Counter(kind for kind, _, _ in PLANTED)
    print(f"\nplanted cases: {len(PLANTED)} {dict(planted)}")
    print(f"clean cases: {len(CLEAN)} {dict(Counter(c for c, _ in CLEAN))}")
    assert len(PLANTED) >= MIN_PLANTED
    assert len(CLEAN) >= MIN_CLEAN
    assert set(planted) == set(KINDS)
    assert all(n >= 2 for n in planted.values()), planted
    assert len({text for _, text, _ in PLANTED}) == len(PLANTED), "a planted case is repeated"


@pytest.mark.parametrize(("kind", "text", "expected"), PLANTED, ids=[t for _, t, _ in PLANTED])
def test_planted_case_is_caught(subject: Redactor, kind: str, text: str, expected: str) -> None:
    report = RedactionReport()
    assert subject.text(text, report) == expected
    assert report.counts[kind] == expected.count(f"[{kind.upper()}]")
    assert report.total == report.counts[kind]


@pytest.mark.parametrize(("category", "text"), CLEAN, ids=[t for _, t in CLEAN])
def test_clean_plant_text_is_untouched(subject: Redactor, category: str, text: str) -> None:
    report = RedactionReport()
    assert subject.text(text, report) == text, category
    assert report.total == 0


def test_score_line(subject: Redactor, record_property: Callable[[str, object], None]) -> None:
    result = score(subject)
    print()
    for kind, (hit, total) in result.by_kind.items():
        print(f"planted {kind:12} {hit:3} of {total:3} caught")
    for category, (hit, total) in result.by_category.items():
        print(f"clean   {category:12} {hit:3} of {total:3} touched")
    print(result.line())
    record_property("redaction_score", result.line())
    assert result.misses == []
    assert (result.caught, result.touched) == (len(PLANTED), 0)
    assert (
        result.line()
        == f"{len(PLANTED)} of {len(PLANTED)} planted caught, 0 of {len(CLEAN)} clean touched"
    )


def test_the_score_notices_a_missing_detector() -> None:
    without_roster = score(Redactor.from_settings(SyncSettings()))
    names = sum(1 for kind, _, _ in PLANTED if kind == "name")
    assert without_roster.caught == len(PLANTED) - names
    assert without_roster.by_kind["name"] == (0, names)
    without_ids = score(
        Redactor.from_settings(SyncSettings(roster=ROSTER, national_id_patterns=()))
    )
    assert without_ids.by_kind["national_id"][0] < without_ids.by_kind["national_id"][1]
