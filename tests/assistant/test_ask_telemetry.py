"""Telemetry in answers: assets resolved, live lines rendered by code and cited as [T#]."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from assistant.chat.assets import AssetResolver
from assistant.chat.citations import numbers_in
from assistant.cli.knowledge import answer_json
from assistant.domain import Reading
from assistant.plant import load_plant
from assistant.services import Services
from tests.conftest import SAMPLE_PLANT, ServicesFactory

PLANT_FILE = SAMPLE_PLANT / "plant.toml"


@pytest.fixture
def live_services(make_services: ServicesFactory, plant_template: Path, tmp_path: Path) -> Services:
    shutil.copytree(plant_template, tmp_path / "live")
    return make_services("live", plant={"file": PLANT_FILE})


def _falling_pressure(services: Services, end_value: float) -> None:
    store = services.live.store  # type: ignore[union-attr]
    now = time.time()
    for i in range(61):
        value = 4.2 + (end_value - 4.2) * i / 60
        store.add(Reading("P-101", "discharge_pressure", round(value, 3), now - 60 + i, "bar"))
        store.add(Reading("P-101", "flow", 300.0 - i, now - 60 + i, "m3/h"))
        store.add(Reading("P-101", "motor_current", 92.0, now - 60 + i, "A"))


def test_resolver_finds_ids_document_tags_names_and_unique_types() -> None:
    resolver = AssetResolver(load_plant(PLANT_FILE))
    assert resolver.resolve("Why is p101 noisy and what about P-102?") == ["P-101", "P-102"]
    assert resolver.resolve("Is motor M-101 overloaded?") == ["P-101"]
    assert resolver.resolve("the compressor keeps tripping") == ["C-3"]
    assert resolver.resolve("the pump is noisy") == []  # two pumps: ambiguous
    assert resolver.resolve_conversation("and its flow?", ["What about ST-101?"]) == ["ST-101"]


def test_ask_about_an_asset_in_alarm_cites_the_live_values(live_services: Services) -> None:
    _falling_pressure(live_services, 3.0)
    store = live_services.live.store  # type: ignore[union-attr]
    status = store.status("P-101", "discharge_pressure")
    assert status.state == "lo"

    answer = live_services.chat.ask("Why is the discharge pressure of P-101 low?")
    line = next(t for t in answer.telemetry if t.tag == "discharge_pressure")
    assert (line.value, line.state, line.ts) == (status.value, "lo", status.ts)
    assert line.trend == "falling"
    assert f"[{line.id}]" in answer.text
    assert "3 bar, below its lo alarm limit of 3.2 bar" in answer.text
    flow = next(t for t in answer.telemetry if t.tag == "flow")
    assert flow.value == store.status("P-101", "flow").value
    assert store.running("P-101") is True
    silent = [t for t in answer.telemetry if t.state == "no data"]
    assert silent and all(f"[{t.id}]" in answer.text for t in silent)
    # Figures the model invented were withheld: none of them is in what is shown.
    assert not set(answer.unsupported_numbers) & numbers_in(answer.text)

    shaped = json.loads(json.dumps(answer_json(answer)))
    assert {"id", "asset", "tag", "value", "unit", "ts", "state", "trend"} <= set(
        shaped["telemetry"][0]
    )
    turn = live_services.journal.turns(answer.conversation_id)[0]
    assert [t["id"] for t in turn.telemetry] == [t.id for t in answer.telemetry]
    assert "Live telemetry (read at" in turn.prompt_user


def test_follow_up_numbers_telemetry_labels_after_the_earlier_ones(
    live_services: Services,
) -> None:
    _falling_pressure(live_services, 4.1)
    first = live_services.chat.ask("What is the flow of P-101 now?")
    flow = next(t for t in first.telemetry if t.tag == "flow")
    assert f"P-101 flow is {flow.value:.3g} m3/h (" in first.text
    assert "normal range 260-340 m3/h; trend" in first.text
    follow = live_services.chat.ask("And its discharge pressure?", first.conversation_id)
    first_numbers = {int(t.id[1:]) for t in first.telemetry}
    assert follow.telemetry, "the follow-up inherits the asset from the conversation"
    assert min(int(t.id[1:]) for t in follow.telemetry) > max(first_numbers)


def test_stale_data_is_said_plainly(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "stale")
    clock = [time.time()]
    services = make_services("stale", plant={"file": PLANT_FILE})
    store = services.live.store  # type: ignore[union-attr]
    store._clock = lambda: clock[0]
    store.add(Reading("C-3", "discharge_temp", 88.0, clock[0], "°C"))
    clock[0] += 60
    store.check_stale()
    answer = services.chat.ask("What is the discharge temperature of compressor C-3?")
    line = next(t for t in answer.telemetry if t.tag == "discharge_temp")
    assert line.state == "stale"
    assert "STALE" in line.text
    assert "is stale: the last value, 88 °C" in answer.text


def test_why_is_it_alarming_gives_the_live_value_then_the_documents_rule(
    live_services: Services,
) -> None:
    live_services.chat  # noqa: B018 - load the models before the readings, so none goes stale
    store = live_services.live.store  # type: ignore[union-attr]
    now = time.time()
    for i in range(61):
        value = round(0.2 + 0.17 * i / 60, 3)
        store.add(Reading("ST-101", "differential_pressure", value, now - 60 + i, "bar"))

    answer = live_services.chat.ask("Why is ST-101 alarming and what should I do?")
    first_line, *rest = answer.text.splitlines()
    assert first_line.startswith(
        "ST-101 differential pressure is 0.37 bar, above its hi alarm limit of 0.35 bar [T"
    )
    body = "\n".join(rest)
    assert "Clean the strainer when its `differential_pressure` reaches 0.35 bar" in body
    assert "Do not let a strainer run above 0.50 bar; change over to the other pump first" in body
    rule = next(
        c for c in answer.citations if c.section.endswith("7.2 Differential-pressure trigger")
    )
    assert rule.text[rule.start : rule.end] == rule.quote
