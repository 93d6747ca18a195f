"""The redaction rules one by one: IBAN checksum, accent folding, settings and their errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from assistant.chat.prompt import SYSTEM_PROMPT
from assistant.errors import ConfigError
from assistant.settings import SyncSettings, load_settings
from assistant.sync.records import SUMMARY_SYSTEM
from assistant.sync.redact import (
    EMPTY_ROSTER_WARNING,
    RedactionReport,
    Redactor,
    fold,
    iban_valid,
)


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89370400440532013000", True),
        ("GB29NWBK60161331926819", True),
        ("de89370400440532013000", True),
        ("DE89370400440532013001", False),  # checksum
        ("DE8937040044053201300", False),  # one character short for DE
        ("XY89370400440532013000", False),  # no such country
        ("NL12ABCD0123456789", False),
    ],
)
def test_iban_checksum_and_length(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_an_iban_glued_to_more_characters_is_not_taken_for_one() -> None:
    text = "ref DE89370400440532013000X1"
    assert Redactor().text(text) == text


def test_fold_strips_accents_and_maps_back_to_the_original() -> None:
    folded, where = fold("Núñez Sørensen Jose\u0301")
    assert folded == "Nunez Sorensen Jose"
    assert len(where) == len(folded)
    assert where[-1] == len("Núñez Sørensen Jose") - 1  # the combining mark follows it


def test_names_are_replaced_in_the_original_text_with_offsets_kept() -> None:
    redactor = Redactor(["José Núñez"])
    text = "Çà et là: Jose\u0301 Nu\u0301n\u0303ez, ß Straßen-Nunez-Text; NÚÑEZ."
    assert redactor.text(text) == "Çà et là: [NAME], ß Straßen-[NAME]-Text; [NAME]."


def test_short_names_are_whole_words_as_written() -> None:
    redactor = Redactor(["Lee Okafor", "Kim"])
    report = RedactionReport()
    out = redactor.text("Lee and Kim; lee side, kimono, Leeds, KIM", report)
    assert out == "[NAME] and [NAME]; lee side, kimono, Leeds, KIM"
    assert report.counts["name"] == 2
    assert redactor.roster_size == 2


def test_digit_run_threshold_is_a_setting() -> None:
    text = "call 01512345 now"
    assert Redactor.from_settings(SyncSettings()).text(text) == text
    assert Redactor.from_settings(SyncSettings(digit_run_min=8)).text(text) == "call [DIGITS] now"


def test_national_id_patterns_are_configurable() -> None:
    settings = SyncSettings(national_id_patterns=(r"\bCPR \d{6}-\d{4}\b",))
    assert Redactor.from_settings(settings).text("id CPR 010190-1234") == "id [NATIONAL_ID]"


def test_a_bad_national_id_pattern_is_a_config_error_naming_it(tmp_path: Path) -> None:
    bad = {"national_id_patterns": [r"\b\d{3}-\d{2}", r"(unclosed"]}
    with pytest.raises(ConfigError, match=r"sync\.national_id_patterns.*\(unclosed"):
        load_settings(None, {"data_dir": tmp_path, "sync": bad})


def test_digit_run_min_out_of_range_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sync\.digit_run_min"):
        load_settings(None, {"data_dir": tmp_path, "sync": {"digit_run_min": 3}})


def test_machine_ids_are_kept_under_their_own_keys_only() -> None:
    redactor = Redactor(["Dana Reyes"])
    record = {
        "conversation_id": "123456789012",
        "model_sha256": ["1" * 64],
        "comment": "call 123456789012",
        "feedback": {"conversation_id": "Dana Reyes 123456789"},
    }
    assert redactor.record(record) == {
        "conversation_id": "123456789012",
        "model_sha256": ["1" * 64],
        "comment": "call [DIGITS]",
        "feedback": {"conversation_id": "[NAME] [DIGITS]"},
    }


def test_empty_roster_is_warned_about(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    blank = tmp_path / "roster.txt"
    blank.write_text("\n   \n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="assistant.sync.redact"):
        empty = Redactor.from_settings(SyncSettings(roster_file=blank, roster=("  ",)))
        named = Redactor.from_settings(SyncSettings(roster=("Dana Reyes",)))
    assert (empty.roster_size, named.roster_size) == (0, 1)
    assert [r.getMessage() for r in caplog.records] == [EMPTY_ROSTER_WARNING]


def test_our_own_prompts_come_through_unchanged() -> None:
    redactor = Redactor.from_settings(SyncSettings(roster=("Dana Reyes", "Lee Okafor")))
    for prompt in (SYSTEM_PROMPT, SUMMARY_SYSTEM):
        report = RedactionReport()
        assert redactor.text(prompt, report) == prompt
        assert report.total == 0
