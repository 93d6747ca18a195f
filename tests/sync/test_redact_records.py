"""What leaves the site goes through the redactor: feedback prompts and passages included, and
an empty roster is warned about at start-up and in ``sync status``."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.journal import PassageRef
from assistant.services import Services, build_services
from assistant.settings import load_settings
from assistant.sync.redact import EMPTY_ROSTER_WARNING
from tests.cloud.receiver import clean_env, shiftmate

ROSTER = ("José Núñez", "Kim Sørensen")
PASSAGE = (
    "[D1] 7.3 Cleaning procedure: permit holder Jose Nunez (tel 0151234567, "
    "j.nunez(at)riverbend, IBAN DE89 3704 0044 0532 0130 00, Hauptstraße 12) isolates ST-101 "
    "and tightens the cover to 85 N·m."
)
NEEDLES = ("Nunez", "Núñez", "0151234567", "j.nunez", "3704 0044", "Hauptstraße", "Sørensen")


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Any]:
    built: list[Services] = []

    def factory(name: str, roster: tuple[str, ...]) -> Services:
        settings = load_settings(
            None, {"data_dir": tmp_path / name, "sync": {"roster": list(roster), "idle_s": 3600}}
        )
        services = build_services(settings)
        built.append(services)
        return services

    yield factory
    for services in built:
        services.close()


def _rated_turn(site: Services) -> tuple[str, int]:
    cid = site.journal.new_conversation("ST-101 cleaning")
    question = "Kim Sorensen here: how do I clean ST-101?"
    tid = site.journal.add_turn(
        cid,
        question=question,
        answer="Isolate ST-101, then tighten the cover to 85 N·m [D1].",
        raw_answer="Isolate ST-101 [D1].",
        prompt_user=f"Passages:\n{PASSAGE}\n\nQuestion: {question}",
        passages=[PassageRef("D1", "pump-manual:0a1b2c3d4e5f:3", True)],
        citations=[
            {
                "id": "D1",
                "chunk_id": "pump-manual:0a1b2c3d4e5f:3",
                "source": "pump-manual.md",
                "section": "7.3 Cleaning procedure",
                "page": None,
                "text": PASSAGE,
            }
        ],
        telemetry=[
            {
                "id": "T1",
                "asset": "ST-101",
                "tag": "dp",
                "value": 0.364,
                "unit": "bar",
                "ts": "2026-11-23T14:59:05+00:00",
                "state": "hi",
                "text": "[T1] ST-101 Differential pressure: 0.364 bar at 14:59:05, HI ALARM",
            }
        ],
        timings={"total_ms": 900.0},
        checks={"covered": True},
        prompt_version="ask-v1",
        model_sha256="ab" * 32,
    )
    site.feedback.add(
        tid,
        "not_helpful",
        reason="incomplete",
        comment="ask Sørensen, 07700900123",
        corrected_answer="Jose Nunez signs the permit first [D1].",
    )
    return cid, tid


def test_feedback_prompt_and_passages_are_redacted_before_queueing(make_site: Any) -> None:
    site = make_site("site", ROSTER)
    cid, _ = _rated_turn(site)
    collected = site.sync.collect()
    assert collected.feedback == 1
    [queued] = site.outbox.batch(10, 1_000_000)
    for needle in NEEDLES:
        assert needle not in queued.body, needle
    body = json.loads(queued.body)
    assert body["prompt"] == (
        "Passages:\n[D1] 7.3 Cleaning procedure: permit holder [NAME] (tel [DIGITS], [EMAIL], "
        "IBAN [IBAN], [ADDRESS]) isolates ST-101 and tightens the cover to 85 N·m.\n\n"
        "Question: [NAME] here: how do I clean ST-101?"
    )
    assert body["question"] == "[NAME] here: how do I clean ST-101?"
    assert body["comment"] == "ask [NAME], [DIGITS]"
    assert body["corrected_answer"] == "[NAME] signs the permit first [D1]."
    assert body["passage_ids"] == ["pump-manual:0a1b2c3d4e5f:3"]
    assert body["telemetry"][0]["text"].endswith("0.364 bar at 14:59:05, HI ALARM")
    assert body["telemetry"][0]["ts"] == "2026-11-23T14:59:05+00:00"
    assert (body["conversation_id"], body["model_sha256"]) == (cid, "ab" * 32)
    assert body["redactions"] == {
        "email": 1,
        "badge": 0,
        "national_id": 0,
        "iban": 1,
        "ip": 0,
        "phone": 0,
        "digits": 2,
        "address": 1,
        "name": 5,
    }
    assert site.outbox.status().redacted["iban"] == 1


def test_start_up_warns_when_the_roster_is_empty(
    make_site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_site("named", ROSTER).start(sync=True)
        assert EMPTY_ROSTER_WARNING not in caplog.messages
        make_site("empty", ()).start(sync=True)
    assert caplog.messages.count(EMPTY_ROSTER_WARNING) == 1


@pytest.mark.parametrize(("roster", "names"), [((), 0), (ROSTER, 2)])
def test_sync_status_shows_the_roster_and_warns_when_empty(
    tmp_path: Path, roster: tuple[str, ...], names: int
) -> None:
    config = tmp_path / "shiftmate.toml"
    listed = ", ".join(json.dumps(n) for n in roster)
    config.write_text(f"[sync]\nroster = [{listed}]\n", encoding="utf-8")
    data_dir = tmp_path / "data"

    def status(*extra: str) -> str:
        done = subprocess.run(
            shiftmate(config, data_dir, "sync", "status", *extra),
            capture_output=True, text=True, env=clean_env(), timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert json.loads(status("--json"))["roster_names"] == names
    warned = f"warning:      {EMPTY_ROSTER_WARNING}" in status().splitlines()
    assert warned is (names == 0)
