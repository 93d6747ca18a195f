"""Redaction: every kind of personal data is replaced and counted; plant data is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.settings import SyncSettings
from assistant.sync.redact import RedactionReport, Redactor


@pytest.fixture
def redactor() -> Redactor:
    return Redactor.from_settings(SyncSettings(roster=("Dana Reyes", "Lee Okafor")))


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("ask Dana Reyes", "ask [NAME]", "name"),
        ("DANA REYES said so", "[NAME] said so", "name"),
        ("tell Okafor", "tell [NAME]", "name"),
        ("Lee  Okafor", "[NAME]", "name"),
        ("mail dana.reyes@riverbend.example now", "mail [EMAIL] now", "email"),
        ("call +1 (555) 010-2040.", "call [PHONE].", "phone"),
        ("call 555-0142 67", "call [PHONE]", "phone"),
        ("call 0151 2345678", "call [PHONE]", "phone"),
        ("call +4915123456789", "call [PHONE]", "phone"),
        ("badge 40217 on shift", "[BADGE] on shift", "badge"),
        ("Employee ID: 88213", "[BADGE]", "badge"),
        ("id EMP-88213", "id [BADGE]", "badge"),
        ("from 10.20.3.44", "from [IP]", "ip"),
        ("from fe80::1:2:3 and 2001:db8:0:0:0:0:2:1", "from [IP] and [IP]", "ip"),
    ],
)
def test_each_kind_is_replaced_and_counted(
    redactor: Redactor, text: str, expected: str, kind: str
) -> None:
    report = RedactionReport()
    assert redactor.text(text, report) == expected
    assert report.counts[kind] == expected.count(f"[{kind.upper()}]")
    assert report.total == report.counts[kind]


@pytest.mark.parametrize(
    "text",
    [
        "P-101 flow 4.12 m3/h at 14:59:05 UTC on 2026-11-23, limit 0.35 bar",
        "range 0.05-0.2 bar; 12.35 14.20 bar; 1,200 rpm; 3600 samples; ts 1732370000.5",
        "breaker 4B in cubicle 12, valve V-101A, work order WO-20261123-0001",
        "Leeway and Danaher are not names on the roster",
    ],
)
def test_plant_data_is_left_alone(redactor: Redactor, text: str) -> None:
    report = RedactionReport()
    assert redactor.text(text, report) == text
    assert report.total == 0


def test_records_are_redacted_in_every_nested_string(redactor: Redactor) -> None:
    report = RedactionReport()
    record = {
        "question": "Dana Reyes asks",
        "citations": [{"text": "call 555-0142 67", "page": 3}],
        "telemetry": ({"value": 0.364, "text": "seen from 10.20.3.44"},),
        "ok": True,
    }
    clean = redactor.record(record, report)
    assert clean == {
        "question": "[NAME] asks",
        "citations": [{"text": "call [PHONE]", "page": 3}],
        "telemetry": [{"value": 0.364, "text": "seen from [IP]"}],
        "ok": True,
    }
    assert report.as_dict() == {
        "email": 0,
        "badge": 0,
        "national_id": 0,
        "iban": 0,
        "ip": 1,
        "phone": 1,
        "digits": 0,
        "address": 0,
        "name": 1,
    }


def test_roster_file_and_custom_badge_pattern(tmp_path: Path) -> None:
    roster = tmp_path / "roster.txt"
    roster.write_text("Jo Baptiste\n\n  Kim Sorensen  \n", encoding="utf-8")
    settings = SyncSettings(roster_file=roster, badge_patterns=(r"\bRB\d{5}\b",))
    redactor = Redactor.from_settings(settings)
    assert redactor.text("Kim Sorensen (RB12345) and Baptiste") == "[NAME] ([BADGE]) and [NAME]"


def test_unreadable_roster_file_is_a_config_error(tmp_path: Path) -> None:
    settings = SyncSettings(roster_file=tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match=r"sync\.roster_file"):
        Redactor.from_settings(settings)
